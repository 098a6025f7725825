/* Files: whole-file reads that never return part of a file, and folder creation. */
#ifndef LRPE_FS_H
#define LRPE_FS_H

#include <stddef.h>

/* Reads the whole regular file at path into a malloc'd buffer (NUL-terminated, *n bytes). Refuses,
 * before reading or allocating anything, a path that is not a regular file (a folder, a FIFO, a
 * device) and a file larger than max_bytes (its real size in the message); a read that ends short
 * of the size, a file that grows while read and a failed allocation are errors, never a shorter
 * buffer. Returns 0, or -1 with "<path>: <reason>" (one line) in err. */
int fs_read_file(const char *path, size_t max_bytes, char **buf, size_t *n, char *err, size_t errlen);
/* "3.0 GiB (3221225472 bytes)", "812 bytes": a size for messages, into buf. */
const char *fs_size_text(unsigned long long bytes, char *buf, size_t len);

/* Creates dir and every missing folder above it (mkdir -p). Returns 0, or -1 with "cannot create
 * folder <dir>: <why>" in err (naming the part that failed) and errno set to the cause (EACCES,
 * EROFS, ENOTDIR, ...). */
int fs_mkdirs(const char *dir, char *err, size_t errlen);
/* Removes path and, when it is a folder, everything below it (rm -rf; links are removed, not
 * followed). 0 when it is gone (or was never there), or -1 with "cannot remove <path>: <why>". */
int fs_remove_tree(const char *path, char *err, size_t errlen);

/* fsyncs the folder dir so a rename in it is durable (a folder that cannot be synced counts as
 * synced). 0, or -1 with errno set. */
int fs_sync_dir(const char *dir);

#endif
