#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[512];

/* Removes the temporary folder and the files in it (the targets create no subfolders). */
static void remove_tmpdir(void) {
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(tmp_dir);
}

/* Creates the folder on first use (see fuzz_util.h). */
const char *fuzz_tmpdir(void) {
    if (tmp_dir[0]) return tmp_dir;
    const char *env = getenv("TMPDIR"), *bases[3] = {env && *env ? env : "/dev/shm", "/dev/shm", "/tmp"};
    for (int i = 0; i < 3; i++) {
        snprintf(tmp_dir, sizeof tmp_dir, "%s/lrpe-fuzz-XXXXXX", bases[i]);
        if (mkdtemp(tmp_dir)) {
            atexit(remove_tmpdir);
            return tmp_dir;
        }
    }
    fprintf(stderr, "fuzz: cannot create a temporary folder (tried $TMPDIR, /dev/shm, /tmp)\n");
    abort();
}

/* A path inside the temporary folder. */
const char *fuzz_tmp_path(int slot, const char *name) {
    static char paths[4][1024];
    char *p = paths[slot & 3];
    snprintf(p, sizeof paths[0], "%s/%s", fuzz_tmpdir(), name);
    return p;
}

/* Writes the whole buffer or aborts. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
}
