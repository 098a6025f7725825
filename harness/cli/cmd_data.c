/* lrpe data: prepares the datasets (scripts/prepare-data.sh of the installation or of the source
 * tree) into the data folder lrpe run reads (paths_data_dir), and says where that is. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "paths.h"

int cmd_data(int argc, char **argv) {
    const char *given = NULL;
    char only[256] = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data-dir") == 0) {
            if (i + 1 >= argc || !argv[i + 1][0]) return cli_usage_error("data", "missing value after", argv[i]);
            given = argv[++i];
        } else if (strcmp(argv[i], "kjv") == 0 || strcmp(argv[i], "sotu") == 0 || strcmp(argv[i], "wordnet") == 0 ||
                   strcmp(argv[i], "spam") == 0) {
            size_t at = strlen(only);
            snprintf(only + at, sizeof only - at, "%s%s", at ? " " : "", argv[i]);
        } else {
            return cli_usage_error("data", "unknown dataset or option (datasets: kjv sotu wordnet spam):", argv[i]);
        }
    }
    char share[PATH_MAX], dir[PATH_MAX], script[PATH_MAX + 32];
    const char *how;
    int installed;
    if (paths_share(share, sizeof share, &installed)) {
        fprintf(stderr, "lrpe data: scripts/prepare-data.sh not found: this lrpe is neither installed (make install) nor "
                        "beside the source tree it was built in\n");
        return 2;
    }
    if (paths_data_dir(given, dir, sizeof dir, &how))
        return cli_usage_error("data", "the data folder's path is too long:", given ? given : getenv("LRPE_DATA"));
    printf("lrpe data: preparing %s in %s (the data folder of %s)\n", *only ? only : "every dataset", dir, how);
    fflush(stdout);
    snprintf(script, sizeof script, "%s/scripts/prepare-data.sh", share);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LRPE_DATA_DIR", dir, 1);
        setenv("LRPE_DATA_FIX", "lrpe data", 1);
        if (*only) setenv("LRPE_DATA_ONLY", only, 1);
        execl("/bin/bash", "bash", script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "lrpe data: %s failed (its reason is above)\n", script);
        return 1;
    }
    printf("lrpe data: ready in %s\n", dir);
    return 0;
}
