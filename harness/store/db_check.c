/* Before lrpe changes anything in a database file (or merges one in): is it lrpe's (or empty), and
 * is it intact? A foreign SQLite file is refused untouched, naming what it holds; a damaged one is
 * refused with the way to recover it. */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "db_internal.h"

/* The tables and columns every lrpe results database has (members from schema version 2 on). */
static const struct {
    const char *table, *columns;
    int since;
} TABLES[] = {
    {"runs", "run_id, experiment, variant, seed, status, config_json, created_at, started_at, ended_at,"
             " heartbeat_at, step, pid, host, attempts, error", 1},
    {"metrics", "run_id, step, key, value", 1},
    {"summary", "run_id, key, value", 1},
    {"provenance", "run_id, key, value", 1},
    {"members", "experiment, run_id, variant", 2},
};

/* A single integer from sql into *v; a SQLite result code. */
static int int_query(db *d, const char *sql, long long *v) {
    sqlite3_stmt *st;
    int s = sqlite3_prepare_v2(d->h, sql, -1, &st, NULL);
    if (s == SQLITE_OK && (s = sqlite3_step(st)) == SQLITE_ROW) *v = sqlite3_column_int64(st, 0), s = SQLITE_OK;
    sqlite3_finalize(st);
    return s;
}

/* Up to three of the schema's table names, comma-joined, into buf. */
static const char *some_tables(db *d, const char *schema, char *buf, size_t len) {
    char sql[160];
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "SELECT name FROM \"%s\".sqlite_master WHERE type = 'table' ORDER BY name LIMIT 4", schema);
    buf[0] = 0;
    if (sqlite3_prepare_v2(d->h, sql, -1, &st, NULL) != SQLITE_OK) return buf;
    size_t k = 0;
    for (int i = 0; sqlite3_step(st) == SQLITE_ROW && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", i == 3 ? "..." : (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

int db_check_file(db *d, const char *schema, const char *path, const char *op, int *empty, char *err, size_t errlen) {
    const char *sep = op ? ": " : "";
    op = op ? op : "";
    char sql[512], names[160];
    long long tables = 0, version = 0;
    *empty = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\".sqlite_master WHERE type = 'table'", schema);
    int s = int_query(d, sql, &tables);
    if ((s & 0xff) == SQLITE_NOTADB)
        return db_fail(d, DB_ERR, err, errlen, "%s%snot an SQLite database (nor empty): lrpe leaves it unchanged; name another file",
                       op, sep);
    if (s != SQLITE_OK) return db_sql_fail(d, s, err, errlen, "%s%sread its schema", op, sep);
    if (tables == 0) {
        *empty = 1;
        return 0;
    }
    snprintf(sql, sizeof sql, "PRAGMA \"%s\".user_version", schema);
    if ((s = int_query(d, sql, &version)) != SQLITE_OK) return db_sql_fail(d, s, err, errlen, "%s%sread its schema", op, sep);
    for (size_t i = 0; i < sizeof TABLES / sizeof TABLES[0]; i++) {
        if (version > 0 && version < TABLES[i].since) continue;
        snprintf(sql, sizeof sql, "SELECT %s FROM \"%s\".\"%s\" LIMIT 0", TABLES[i].columns, schema, TABLES[i].table);
        sqlite3_stmt *st;
        s = sqlite3_prepare_v2(d->h, sql, -1, &st, NULL);
        sqlite3_finalize(st);
        if ((s & 0xff) == SQLITE_CORRUPT) break; /* quick_check below says what is damaged */
        if (s != SQLITE_OK)
            return db_fail(d, DB_ERR, err, errlen,
                           "%s%snot an lrpe results database (it holds tables %s, without lrpe's '%s' table and columns): "
                           "lrpe leaves it unchanged; name another file",
                           op, sep, some_tables(d, schema, names, sizeof names), TABLES[i].table);
    }
    snprintf(sql, sizeof sql, "PRAGMA \"%s\".quick_check(1)", schema);
    sqlite3_stmt *st;
    char problem[256] = "";
    s = sqlite3_prepare_v2(d->h, sql, -1, &st, NULL);
    if (s == SQLITE_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(problem, sizeof problem, "%s", (const char *)sqlite3_column_text(st, 0));
        s = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (s != SQLITE_OK) snprintf(problem, sizeof problem, "%s", sqlite3_errstr(s));
    if (strcmp(problem, "ok") != 0)
        return db_fail(d, DB_ERR, err, errlen,
                       "%s%sdamaged (SQLite's quick_check: %s): lrpe leaves it unchanged; restore it from a copy, or "
                       "save what is readable with: sqlite3 %s .recover | sqlite3 recovered.db",
                       op, sep, problem, path);
    return 0;
}
