/* Publishing a snapshot of a results database (lrpe run --publish): a consistent copy made with
 * VACUUM INTO, its running runs marked interrupted, synced and renamed into place. A Slurm array
 * task publishes its node-local shard into the shared results folder this way. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "db_internal.h"
#include "fs.h"

/* In the copy at path: journal mode DELETE (one file) and running runs marked interrupted. */
static int mark_snapshot(db *d, const char *path, char *err, size_t errlen) {
    sqlite3 *h;
    int s = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL);
    if (s == SQLITE_OK)
        s = sqlite3_exec(h,
                         "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;"
                         "UPDATE runs SET status = 'interrupted', error = 'still running when this copy was published'"
                         " WHERE status = 'running'",
                         NULL, NULL, NULL);
    sqlite3_close(h);
    return s == SQLITE_OK ? 0 : db_sql_fail(d, s, err, errlen, "publish %s: cannot mark the copy", path);
}

/* fsyncs the file at path; 0 or -1 (errno). */
static int sync_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd), e = errno;
    close(fd);
    errno = e;
    return rc;
}

int db_publish(db *d, const char *dest, char *err, size_t errlen) {
    int rc = db_enter(d, "publish", err, errlen);
    if (rc) return rc;
    char tmp[4200], dir[4200];
    if (!dest || snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dest, (long)getpid()) >= (int)sizeof tmp)
        return db_leave(d, db_fail(d, DB_ERR, err, errlen, "publish: no destination or a path too long"));
    snprintf(dir, sizeof dir, "%s", dest);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (slash && dir[0] && fs_mkdirs(dir, err, errlen)) return db_leave(d, DB_EREADONLY);
    unlink(tmp); /* a leftover of an earlier process with this pid */
    sqlite3_stmt *st;
    if ((rc = db_prepare(d, "VACUUM INTO ?1", &st, "publish", err, errlen))) return db_leave(d, rc);
    sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) rc = db_sql_fail(d, s, err, errlen, "publish to %s", dest);
    if (!rc) rc = mark_snapshot(d, tmp, err, errlen);
    if (!rc && (sync_file(tmp) || rename(tmp, dest) || fs_sync_dir(slash ? (dir[0] ? dir : "/") : ".")))
        rc = db_fail(d, errno == ENOSPC || errno == EIO ? DB_EIO : DB_ERR, err, errlen, "publish to %s: %s", dest,
                     strerror(errno));
    if (rc) unlink(tmp);
    return db_leave(d, rc);
}
