/* Files: whole-file reads that never return part of a file, and folder creation. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

const char *fs_size_text(unsigned long long bytes, char *buf, size_t len) {
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu bytes", bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 5) v /= 1024.0, u++;
    snprintf(buf, len, "%.1f %s (%llu bytes)", v, unit[u], bytes);
    return buf;
}

/* What a non-regular file is, for messages. */
static const char *file_kind(mode_t m) {
    return S_ISDIR(m)                 ? "a folder"
           : S_ISFIFO(m)              ? "a FIFO"
           : S_ISSOCK(m)              ? "a socket"
           : S_ISCHR(m) || S_ISBLK(m) ? "a device"
                                      : "not a regular file";
}

int fs_read_file(const char *path, size_t max_bytes, char **buf, size_t *n, char *err, size_t errlen) {
    *buf = NULL, *n = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    char size[64], limit[64];
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return errf(err, errlen, "%s: cannot read: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return errf(err, errlen, "%s: is %s, not a file", path, file_kind(st.st_mode));
    }
    const size_t want = (size_t)st.st_size;
    if ((unsigned long long)st.st_size > max_bytes) {
        close(fd);
        return errf(err, errlen, "%s: is %s; at most %s can be read", path,
                        fs_size_text((unsigned long long)st.st_size, size, sizeof size),
                        fs_size_text(max_bytes, limit, sizeof limit));
    }
    char *b = malloc(want + 1);
    if (!b) {
        close(fd);
        return errf(err, errlen, "%s: out of memory for its %s", path, fs_size_text(want, size, sizeof size));
    }
    size_t got = 0;
    ssize_t r = 1;
    while (got < want && (r = read(fd, b + got, want - got)) != 0) {
        if (r > 0) got += (size_t)r;
        else if (errno != EINTR) break;
    }
    char extra;
    ssize_t more = got == want ? read(fd, &extra, 1) : 0; /* the end must be where the size said */
    int e = r < 0 || more < 0 ? errno : 0;
    close(fd);
    if (e || got < want || more > 0) {
        free(b);
        if (e) return errf(err, errlen, "%s: read error: %s", path, strerror(e));
        return errf(err, errlen, "%s: %s while it was read (%zu of %zu bytes): try again when nothing writes to it",
                        path, got < want ? "shrank" : "grew", got, want);
    }
    b[want] = '\0';
    *buf = b, *n = want;
    return 0;
}

int fs_mkdirs(const char *dir, char *err, size_t errlen) {
    char p[4096];
    struct stat sb;
    if (!dir || !*dir || snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return errf(err, errlen, "cannot create folder '%.200s': the path is empty or too long", dir ? dir : "");
    }
    for (char *s = p + 1;; s++) { /* each parent, then the folder itself */
        if (*s && *s != '/') continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            errf(err, errlen, "cannot create folder %s: %s%s%s%s", dir, strerror(e), c ? " (at " : "", c ? p : "",
                 c ? ")" : ""); /* c: p is a parent of dir */
            errno = e;
            return -1;
        }
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            errf(err, errlen, "cannot create folder %s: %s is not a folder (%s)", dir, p, strerror(ENOTDIR));
            errno = ENOTDIR;
            return -1;
        }
        if (!c) return 0;
        *s = c;
    }
}

/* nftw callback: removes one entry, remembering the first failure's errno. */
static int remove_failed;
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT && !remove_failed) remove_failed = errno;
    return 0;
}

int fs_remove_tree(const char *path, char *err, size_t errlen) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : errf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
    remove_failed = 0;
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && !remove_failed) remove_failed = errno;
    if (remove_failed) return errf(err, errlen, "cannot remove %s: %s", path, strerror(remove_failed));
    return 0;
}

int fs_sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e == EINVAL) rc = 0; /* folders that cannot be synced (some file systems) */
    errno = e;
    return rc;
}
