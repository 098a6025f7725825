/* lrpe: the command-line entry point, dispatching to the commands of cli.h (the list: help.c).
 * Exit codes: 0 success, 1 some run failed, 2 bad usage or bad spec. */
#include <stdio.h>
#include <string.h>

#include "blas_core.h"
#include "cli.h"
#include "threads.h"

int main(int argc, char **argv) {
    const cli_command *c = argc > 1 ? cli_find_command(argv[1]) : NULL;
    /* may restart lrpe once: a better OpenBLAS core, passive OpenMP waiting for the commands that compute */
    blas_core_select(argc, argv, c && (c->flags & CLI_COMPUTES));
    if (argc < 2) {
        cli_usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        cli_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) return cli_version.run(1, argv + 1);
    if (!c) {
        fprintf(stderr, "lrpe: unknown command '%s' (see lrpe --help)\n", name);
        return 2;
    }
    threads_setup();
    return c->run(argc - 1, argv + 1);
}
