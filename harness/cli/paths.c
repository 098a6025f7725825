#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef LRPE_SOURCE_DIR /* the checkout lrpe was built in (the Makefile sets it) */
#define LRPE_SOURCE_DIR ""
#endif

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

/* 1 when folder/scripts/prepare-data.sh exists: a folder of lrpe's shared files. */
static int has_scripts(const char *folder) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/scripts/prepare-data.sh", folder);
    return access(path, R_OK) == 0;
}

int paths_share(char *out, size_t len, int *installed) {
    char exe[PATH_MAX], share[PATH_MAX + 32];
    if (realpath("/proc/self/exe", exe)) {
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0; /* <prefix>/bin */
        snprintf(share, sizeof share, "%s/../share/lrpe", exe);
        if (has_scripts(share) && !paths_absolute(share, out, len)) return *installed = 1, 0;
    }
    *installed = 0;
    if (LRPE_SOURCE_DIR[0] && has_scripts(LRPE_SOURCE_DIR)) return snprintf(out, len, "%s", LRPE_SOURCE_DIR) < (int)len ? 0 : -1;
    return -1;
}

int paths_data_dir(const char *given, char *out, size_t len, const char **how) {
    const char *env = getenv("LRPE_DATA");
    char share[PATH_MAX], data[PATH_MAX + 8];
    int installed;
    if (given && *given) *how = "--data-dir";
    else if (env && *env) given = env, *how = "LRPE_DATA";
    else if (!paths_share(share, sizeof share, &installed)) {
        snprintf(data, sizeof data, "%s/data", share);
        given = data, *how = installed ? "the installation" : "the source tree lrpe was built in";
    } else given = "data", *how = "the working folder";
    return paths_absolute(given, out, len);
}
