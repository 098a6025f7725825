/* The results store's queries: status counts, run lists, metric curves, summaries and provenance.
 * Each result is packed into one malloc'd block (the structs, then their strings) so the caller
 * frees it with one free(). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_internal.h"

/* A result being collected: items of item_size bytes whose string fields hold, until pack_finish,
 * an offset + 1 into str (0 for NULL). */
typedef struct pack {
    unsigned char *items;
    size_t n, cap, item_size;
    char *str;
    size_t slen, scap;
    int oom;
} pack;

/* buf (holding *cap bytes) grown to at least need bytes, or NULL (buf untouched) when out of
 * memory. */
static void *grow(void *buf, size_t *cap, size_t need) {
    if (need <= *cap) return buf;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(buf, c);
    if (q) *cap = c;
    return q;
}

/* A new zeroed item, or NULL when out of memory. */
static void *pack_item(pack *p) {
    unsigned char *items = p->oom ? NULL : grow(p->items, &p->cap, (p->n + 1) * p->item_size);
    if (!items) {
        p->oom = 1;
        return NULL;
    }
    p->items = items;
    void *it = p->items + p->n++ * p->item_size;
    memset(it, 0, p->item_size);
    return it;
}

/* Stores a copy of s (may be NULL) for field *f of the current item. */
static void pack_str(pack *p, const char **f, const unsigned char *s) {
    if (!s || p->oom) return;
    size_t len = strlen((const char *)s) + 1;
    char *str = grow(p->str, &p->scap, p->slen + len);
    if (!str) {
        p->oom = 1;
        return;
    }
    p->str = str;
    memcpy(p->str + p->slen, s, len);
    *f = (const char *)(uintptr_t)(p->slen + 1);
    p->slen += len;
}

/* One block with the items then the strings, string fields (at offsets fields[nf]) turned into
 * pointers; frees the collection. NULL when out of memory (or no items). */
static void *pack_finish(pack *p, const size_t *fields, int nf) {
    void *out = NULL;
    size_t isz = p->n * p->item_size;
    if (!p->oom && p->n && (out = malloc(isz + p->slen))) {
        memcpy(out, p->items, isz);
        char *strs = (char *)out + isz;
        if (p->slen) memcpy(strs, p->str, p->slen);
        for (size_t i = 0; i < p->n; i++)
            for (int k = 0; k < nf; k++) {
                const char **f = (const char **)((char *)out + i * p->item_size + fields[k]);
                uintptr_t off = (uintptr_t)*f;
                *f = off ? strs + off - 1 : NULL;
            }
    } else if (p->n) {
        p->oom = 1;
    }
    free(p->items);
    free(p->str);
    return out;
}

/* Steps st to the end, calling row(p, st) for each row; packs the result into *out / *n. */
static int collect(db *d, sqlite3_stmt *st, size_t item_size, void (*row)(pack *, sqlite3_stmt *),
                   const size_t *fields, int nf, void **out, int *n, const char *op, char *err, size_t errlen) {
    pack p = {.item_size = item_size};
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) row(&p, st);
    sqlite3_finalize(st);
    int count = (int)p.n;
    void *res = pack_finish(&p, fields, nf);
    if (s != SQLITE_DONE) {
        free(res);
        return db_sql_fail(d, s, err, errlen, "%s", op);
    }
    if (p.oom) return db_fail(d, DB_ERR, err, errlen, "%s: out of memory", op);
    *out = res;
    *n = count;
    return 0;
}

/* ---------------------------------------------------------------- status counts */

/* Adds one (experiment, status, count) row, merging into the previous item of the same
 * experiment (rows come sorted by experiment). */
static void count_row(pack *p, sqlite3_stmt *st) {
    const unsigned char *exp = sqlite3_column_text(st, 0);
    db_status s = db_status_parse((const char *)sqlite3_column_text(st, 1));
    db_status_count *last = p->n ? (db_status_count *)(p->items + (p->n - 1) * p->item_size) : NULL;
    const char *last_name = last && last->experiment ? p->str + (uintptr_t)last->experiment - 1 : NULL;
    if (!last || !exp || !last_name || strcmp(last_name, (const char *)exp) != 0) {
        if (!(last = pack_item(p))) return;
        pack_str(p, &last->experiment, exp);
    }
    if (s >= 0) last->count[s] += sqlite3_column_int(st, 2);
}

/* Runs per experiment and (effective) state. */
int db_status_counts(db *d, double stale_s, db_status_count **out, int *n, char *err, size_t errlen) {
    const char *op = "count runs by status";
    *out = NULL;
    *n = 0;
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(d,
                         "SELECT members.experiment, CASE WHEN " DB_DEAD_SQL("?1") " THEN 'interrupted' ELSE status END AS st,"
                         " count(*) FROM members JOIN runs USING(run_id) GROUP BY members.experiment, st ORDER BY members.experiment",
                         &st, op, err, errlen)))
        return db_leave(d, rc);
    char cutoff[32];
    db_stale_cutoff(cutoff, stale_s);
    sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_TRANSIENT);
    static const size_t fields[] = {offsetof(db_status_count, experiment)};
    return db_leave(d, collect(d, st, sizeof(db_status_count), count_row, fields, 1, (void **)out, n, op, err, errlen));
}

/* ---------------------------------------------------------------- runs */

/* The columns run_row reads, with the experiment and variant columns named by the query. */
#define RUN_COLUMNS_WITH(experiment, variant)                                                         \
    "run_id, " experiment ", " variant ", config_json, created_at, started_at, ended_at, heartbeat_at, host," \
    " error, seed, coalesce(step, -1), coalesce(pid, 0), attempts, status"
#define RUN_COLUMNS RUN_COLUMNS_WITH("experiment", "variant")
#define MEMBER_COLUMNS RUN_COLUMNS_WITH("m.experiment", "m.variant") /* runs joined to members m */

/* One row of runs (columns RUN_COLUMNS or MEMBER_COLUMNS, then the dead flag). */
static void run_row(pack *p, sqlite3_stmt *st) {
    db_run *r = pack_item(p);
    if (!r) return;
    const char **strs[] = {&r->run_id,     &r->experiment,   &r->variant, &r->config_json, &r->created_at,
                           &r->started_at, &r->ended_at, &r->heartbeat_at, &r->host,        &r->error};
    for (int i = 0; i < 10; i++) pack_str(p, strs[i], sqlite3_column_text(st, i));
    r->seed = sqlite3_column_int64(st, 10);
    r->step = sqlite3_column_int64(st, 11);
    r->pid = sqlite3_column_int(st, 12);
    r->attempts = sqlite3_column_int(st, 13);
    r->status = db_status_parse((const char *)sqlite3_column_text(st, 14));
    r->dead = sqlite3_column_int(st, 15);
}

/* The string fields of db_run, in run_row's order. */
static const size_t run_fields[] = {
    offsetof(db_run, run_id),      offsetof(db_run, experiment), offsetof(db_run, variant),
    offsetof(db_run, config_json), offsetof(db_run, created_at), offsetof(db_run, started_at),
    offsetof(db_run, ended_at),    offsetof(db_run, heartbeat_at), offsetof(db_run, host),
    offsetof(db_run, error)};

/* Runs of one experiment (or all), in registration order. */
int db_runs_list(db *d, const char *experiment, double stale_s, db_run **out, int *n, char *err, size_t errlen) {
    const char *op = "list runs";
    *out = NULL;
    *n = 0;
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *st;
    /* with an experiment: its members, under the names it registered them with */
    if ((rc = db_prepare(d,
                         experiment ? "SELECT " MEMBER_COLUMNS ", " DB_DEAD_SQL("?2") " FROM members m JOIN runs r"
                                      " USING(run_id) WHERE m.experiment = ?1 ORDER BY m.rowid"
                                    : "SELECT " RUN_COLUMNS ", " DB_DEAD_SQL("?2") " FROM runs ORDER BY rowid",
                         &st, op, err, errlen)))
        return db_leave(d, rc);
    char cutoff[32];
    db_stale_cutoff(cutoff, stale_s);
    if (experiment) sqlite3_bind_text(st, 1, experiment, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, cutoff, -1, SQLITE_TRANSIENT);
    return db_leave(d, collect(d, st, sizeof(db_run), run_row, run_fields, 10, (void **)out, n, op, err, errlen));
}

/* Runs of the database at in_path that db_merge would take into d. */
int db_runs_newer(db *d, const char *in_path, db_run **out, int *n, char *err, size_t errlen) {
    const char *op = "compare with a shard";
    *out = NULL;
    *n = 0;
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(d, "ATTACH DATABASE ?1 AS lrpe_src", &st, op, err, errlen))) return db_leave(d, rc);
    sqlite3_bind_text(st, 1, in_path, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) return db_leave(d, db_sql_fail(d, s, err, errlen, "%s %s: cannot open it", op, in_path));
    int empty;
    rc = db_check_file(d, "lrpe_src", in_path, op, &empty, err, errlen);
    if (!rc && !empty)
        rc = db_prepare(d,
                        "SELECT " RUN_COLUMNS ", 0 FROM lrpe_src.runs WHERE run_id IN (SELECT s.run_id FROM lrpe_src.runs s"
                        " LEFT JOIN main.runs m ON m.run_id = s.run_id WHERE " DB_WINS_SQL ") ORDER BY rowid",
                        &st, op, err, errlen);
    if (!rc && !empty) {
        rc = collect(d, st, sizeof(db_run), run_row, run_fields, 10, (void **)out, n, op, err, errlen);
    }
    sqlite3_exec(d->h, "DETACH DATABASE lrpe_src", NULL, NULL, NULL);
    return db_leave(d, rc);
}

/* ---------------------------------------------------------------- per-run key/value reads */

/* A REAL column, NULL read as NaN. */
static double column_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* (step, value) row. */
static void point_row(pack *p, sqlite3_stmt *st) {
    db_point *pt = pack_item(p);
    if (!pt) return;
    pt->step = sqlite3_column_int64(st, 0);
    pt->value = column_real(st, 1);
}

/* (key, REAL value) row. */
static void value_row(pack *p, sqlite3_stmt *st) {
    db_value *v = pack_item(p);
    if (!v) return;
    pack_str(p, &v->key, sqlite3_column_text(st, 0));
    v->value = column_real(st, 1);
}

/* (key, TEXT value) row. */
static void text_row(pack *p, sqlite3_stmt *st) {
    db_text *t = pack_item(p);
    if (!t) return;
    pack_str(p, &t->key, sqlite3_column_text(st, 0));
    pack_str(p, &t->value, sqlite3_column_text(st, 1));
}

/* Runs query sql with ?1 = a and ?2 = b (either may be NULL) and packs its rows. */
static int query2(db *d, const char *sql, const char *a, const char *b, size_t item_size,
                  void (*row)(pack *, sqlite3_stmt *), const size_t *fields, int nf, void **out, int *n,
                  const char *op, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(d, sql, &st, op, err, errlen))) return db_leave(d, rc);
    if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    return db_leave(d, collect(d, st, item_size, row, fields, nf, out, n, op, err, errlen));
}

/* Curve of one metric. */
int db_metric_curve(db *d, const char *run_id, const char *key, db_point **out, int *n, char *err, size_t errlen) {
    return query2(d, "SELECT step, value FROM metrics WHERE run_id = ?1 AND key = ?2 ORDER BY step", run_id, key,
                  sizeof(db_point), point_row, NULL, 0, (void **)out, n, "read metric curve", err, errlen);
}

/* Summary of one run. */
int db_summary_get(db *d, const char *run_id, db_value **out, int *n, char *err, size_t errlen) {
    static const size_t fields[] = {offsetof(db_value, key)};
    return query2(d, "SELECT key, value FROM summary WHERE run_id = ?1 ORDER BY key", run_id, NULL,
                  sizeof(db_value), value_row, fields, 1, (void **)out, n, "read summary", err, errlen);
}

/* Provenance of one run. */
int db_provenance_get(db *d, const char *run_id, db_text **out, int *n, char *err, size_t errlen) {
    static const size_t fields[] = {offsetof(db_text, key), offsetof(db_text, value)};
    return query2(d, "SELECT key, value FROM provenance WHERE run_id = ?1 ORDER BY key", run_id, NULL,
                  sizeof(db_text), text_row, fields, 2, (void **)out, n, "read provenance", err, errlen);
}

/* Distinct values of one provenance key, with their run counts. */
int db_provenance_tally(db *d, const char *key, db_value **out, int *n, char *err, size_t errlen) {
    static const size_t fields[] = {offsetof(db_value, key)};
    return query2(d, "SELECT value, count(*) FROM provenance WHERE key = ?1 AND value IS NOT NULL GROUP BY value ORDER BY value",
                  key, NULL, sizeof(db_value), value_row, fields, 1, (void **)out, n, "read provenance", err, errlen);
}

/* ---------------------------------------------------------------- configs */

/* The leaves of one run's config_json with their dotted keys: json_tree lists every node with its
 * parent's id; the recursion walks down from the root's children through objects only (so an
 * array is one leaf and what is inside it is not), joining the keys with dots. Strings are the
 * decoded atom; a number is the JSON text at its path (`doc -> fullkey`: as written, where the
 * atom would print a REAL SQLite's way, 1e-08 as 1.0e-08), unless json_extract at that path finds
 * another value (a repeated key: the path names the first); arrays are their JSON text; true,
 * false and null are named by their type. The json_valid guard keeps a broken config from
 * failing the statement (db_config_leaves checks it first anyway). */
#define CONFIG_LEAVES_SQL                                                                                         \
    "WITH RECURSIVE"                                                                                              \
    " node AS MATERIALIZED (SELECT t.id, t.parent, t.key, t.type, t.atom, t.value, t.fullkey, r.config_json AS doc" \
    "  FROM runs r, json_tree(CASE WHEN json_valid(r.config_json) THEN r.config_json END) t"                     \
    "  WHERE r.run_id = ?1),"                                                                                     \
    " leaf(id, dotted, type) AS ("                                                                                \
    "  SELECT id, key, type FROM node WHERE parent = (SELECT id FROM node WHERE parent IS NULL)"                  \
    "  UNION ALL"                                                                                                 \
    "  SELECT node.id, leaf.dotted || '.' || node.key, node.type FROM leaf JOIN node ON node.parent = leaf.id"   \
    "  WHERE leaf.type = 'object')"                                                                               \
    " SELECT leaf.dotted, CASE node.type"                                                                         \
    "  WHEN 'text' THEN node.atom"                                                                                \
    "  WHEN 'array' THEN node.value"                                                                              \
    "  WHEN 'integer' THEN iif(json_extract(node.doc, node.fullkey) IS node.atom, node.doc -> node.fullkey, node.atom)" \
    "  WHEN 'real' THEN iif(json_extract(node.doc, node.fullkey) IS node.atom, node.doc -> node.fullkey, node.atom)"    \
    "  ELSE node.type END"                                                                                        \
    " FROM leaf JOIN node USING(id) WHERE leaf.type <> 'object' ORDER BY leaf.id"

/* The leaves of a run's config, or what is wrong with it. */
int db_config_leaves(db *d, const char *run_id, db_text **out, int *n, const char **problem, char *err,
                     size_t errlen) {
    const char *op = "read config";
    *out = NULL;
    *n = 0;
    *problem = NULL;
    int rc = db_enter(d, op, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(d,
                         "SELECT config_json IS NULL, json_valid(config_json),"
                         " json_type(CASE WHEN json_valid(config_json) THEN config_json END) FROM runs WHERE run_id = ?1",
                         &st, op, err, errlen)))
        return db_leave(d, rc);
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const unsigned char *type = sqlite3_column_text(st, 2);
        if (sqlite3_column_int(st, 0)) *problem = "no config recorded (config_json is NULL)";
        else if (!sqlite3_column_int(st, 1)) *problem = "config_json is not valid JSON";
        else if (!type || strcmp((const char *)type, "object") != 0) *problem = "config_json is JSON but not an object";
    }
    sqlite3_finalize(st);
    if (s == SQLITE_DONE) return db_leave(d, db_fail(d, DB_ERR, err, errlen, "%s: no run %s", op, run_id));
    if (s != SQLITE_ROW) return db_leave(d, db_sql_fail(d, s, err, errlen, "%s", op));
    if (*problem) return db_leave(d, 0);
    if ((rc = db_prepare(d, CONFIG_LEAVES_SQL, &st, op, err, errlen))) return db_leave(d, rc);
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    static const size_t fields[] = {offsetof(db_text, key), offsetof(db_text, value)};
    return db_leave(d, collect(d, st, sizeof(db_text), text_row, fields, 2, (void **)out, n, op, err, errlen));
}
