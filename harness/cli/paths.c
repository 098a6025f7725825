#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int paths_absolute(const char *path, char *out, size_t len) {
    char rel[PATH_MAX], real[PATH_MAX];
    if (snprintf(rel, sizeof rel, "%s", path) >= (int)sizeof rel) return -1;
    if (realpath(rel, real)) return snprintf(out, len, "%s", real) < (int)len ? 0 : -1;
    char *slash = strrchr(rel, '/');
    const char *name = slash ? slash + 1 : rel;
    if (slash) *slash = 0;
    /* the parent, itself made absolute (folders that do not exist yet are kept as named) */
    if (paths_absolute(slash ? (rel[0] ? rel : "/") : ".", real, sizeof real)) return -1;
    return snprintf(out, len, "%s%s%s", real, strcmp(real, "/") ? "/" : "", name) < (int)len ? 0 : -1;
}

int paths_beside_db(const char *db_path, const char *suffix, const char *given, char *out, size_t len) {
    if (given) return paths_absolute(given, out, len);
    char rel[PATH_MAX];
    const char *base = strrchr(db_path, '/') ? strrchr(db_path, '/') + 1 : db_path, *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - db_path) : strlen(db_path);
    if (snprintf(rel, sizeof rel, "%.*s%s", (int)stem, db_path, suffix) >= (int)sizeof rel) return -1;
    return paths_absolute(rel, out, len);
}
