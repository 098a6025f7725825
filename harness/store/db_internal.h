/* Shared by db.c, db_query.c and db_merge.c only: the handle and the helpers every call uses.
 * Every public function brackets its work with db_enter / db_leave (fork check + the handle's
 * mutex); the helpers below assume the mutex is held. */
#ifndef LRPE_DB_INTERNAL_H
#define LRPE_DB_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <sys/types.h>

#include "db.h"
#include "err.h"

struct db {
    sqlite3 *h;
    char *path;
    pid_t pid;      /* the process that opened it: handles do not survive fork() */
    char host[256]; /* this machine's host name, recorded as a run's owner */
    pthread_mutex_t mu;
};

/* SQL that is true when a row of runs is running but dead; binds ?NNN (the stale cutoff time) and
 * calls lrpe_pid_dead(host, pid), which db_open registers. */
#define DB_DEAD_SQL(cutoff) \
    "(status = 'running' AND (coalesce(heartbeat_at, started_at, '') < " cutoff " OR lrpe_pid_dead(host, pid)))"

/* How advanced a status is: of two rows of one run, the higher rank wins a merge. */
#define DB_RANK_SQL(col)                                                                                       \
    "CASE " col " WHEN 'completed' THEN 4 WHEN 'failed' THEN 3 WHEN 'interrupted' THEN 2 WHEN 'running' THEN 1" \
    " ELSE 0 END"
/* When a row last changed (ISO timestamps sort as text): the later of two rows of equal rank wins. */
#define DB_LAST_SQL(t) "coalesce(" t ".ended_at, " t ".heartbeat_at, " t ".started_at, '')"
/* True when the source row s (of an attached database) wins over main's row m (LEFT JOINed: m.run_id
 * NULL when main lacks the run): db_merge's rule. */
#define DB_WINS_SQL                                                                                    \
    "(m.run_id IS NULL OR " DB_RANK_SQL("s.status") " > " DB_RANK_SQL("m.status") " OR ("                  \
    DB_RANK_SQL("s.status") " = " DB_RANK_SQL("m.status") " AND " DB_LAST_SQL("s") " > " DB_LAST_SQL("m") "))"

/* Checks the handle belongs to this process and locks it; nonzero (with err) when not. */
int db_enter(db *d, const char *op, char *err, size_t errlen);
/* Unlocks the handle and returns rc. */
int db_leave(db *d, int rc);

/* Writes "path: message" to err and returns code. */
int db_fail(const db *d, int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Writes "path: <op>: <SQLite's message>[; what it means]" to err and returns the db_error that
 * SQLite result code rc maps to. */
int db_sql_fail(const db *d, int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Prepares sql into *st. */
int db_prepare(db *d, const char *sql, sqlite3_stmt **st, const char *op, char *err, size_t errlen);
/* Runs statements sql (no results). */
int db_exec(db *d, const char *sql, const char *op, char *err, size_t errlen);
/* BEGIN IMMEDIATE: takes the write lock now (waiting up to the busy timeout). */
int db_begin(db *d, const char *op, char *err, size_t errlen);
/* COMMIT; on failure the transaction is rolled back. */
int db_commit(db *d, const char *op, char *err, size_t errlen);
/* Rolls back the open transaction, if any. */
void db_rollback(db *d);

/* Checks the attached database `schema` ("main", or the name it was attached as; its file is path)
 * before anything is written to or read from it: *empty = 1 when it holds no table yet; else it
 * must hold lrpe's tables and columns and pass PRAGMA quick_check. 0, or DB_ERR with a one-line
 * reason ("<op>: " first when op is not NULL) and the fix; nothing is modified. */
int db_check_file(db *d, const char *schema, const char *path, const char *op, int *empty, char *err, size_t errlen);

/* The current UTC time minus offset_s seconds as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void db_time_iso(char out[32], double offset_s);
/* The cutoff for DB_DEAD_SQL: the time stale_s seconds ago, or "" (nothing is older) when
 * stale_s <= 0. */
void db_stale_cutoff(char out[32], double stale_s);

#endif
