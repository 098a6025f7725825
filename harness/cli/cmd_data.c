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

static int cmd_data(int argc, char **argv);

static const cli_option data_options[] = {
    {"data-dir", 0, 1, "DIR", "prepare into DIR (default: $LRPE_DATA, else the data/ of the installation or the source tree)"},
    {NULL, 0, 0, NULL, NULL},
};

static const char *const DATASETS[] = {"kjv", "sotu", "wordnet", "spam", NULL};

const cli_command cli_data = {"data", "[kjv] [sotu] [wordnet] [spam]",
                              "prepare the datasets (all by default) in the data folder lrpe run reads, and say where it is",
                              data_options, cmd_data, 0, DATASETS};

/* What lrpe data was asked for: the folder (NULL: paths_data_dir's default) and the datasets. */
typedef struct data_args {
    const char *given;
    char only[256];
} data_args;

/* --data-dir DIR, or a dataset's name, into the data_args ctx (cli_each); 0 or 2. */
static int data_option(void *ctx, const cli_option *o, char *v) {
    data_args *a = ctx;
    if (cli_is(o, "data-dir")) {
        a->given = v;
        return 0;
    }
    int known = 0;
    for (int i = 0; DATASETS[i]; i++) known |= strcmp(v, DATASETS[i]) == 0;
    if (!known) return cli_usage_error("data", "unknown dataset (datasets: kjv sotu wordnet spam):", v);
    size_t at = strlen(a->only);
    snprintf(a->only + at, sizeof a->only - at, "%s%s", at ? " " : "", v);
    return 0;
}

static int cmd_data(int argc, char **argv) {
    data_args a = {NULL, ""};
    int rc = cli_parse(&cli_data, argc, argv, data_option, &a);
    if (rc) return rc;
    char share[PATH_MAX], dir[PATH_MAX], script[PATH_MAX + 32];
    const char *how;
    int installed;
    if (paths_share(share, sizeof share, &installed)) {
        fprintf(stderr, "lrpe data: scripts/prepare-data.sh not found: this lrpe is neither installed (make install) nor "
                        "beside the source tree it was built in\n");
        return 2;
    }
    if (cli_data_dir("data", a.given, dir, sizeof dir, &how)) return 2;
    printf("lrpe data: preparing %s in %s (from %s)\n", a.only[0] ? a.only : "every dataset", dir, how);
    fflush(stdout);
    snprintf(script, sizeof script, "%s/scripts/prepare-data.sh", share);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LRPE_DATA_DIR", dir, 1);
        setenv("LRPE_DATA_FIX", "lrpe data", 1);
        if (a.only[0]) setenv("LRPE_DATA_ONLY", a.only, 1);
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
