/* lrpe: the command-line entry point, a table-driven subcommand dispatcher.
 * Exit codes: 0 success, 1 some run failed, 2 bad usage or bad spec. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "blas_core.h"
#include "cli.h"
#include "dist.h"
#include "paths.h"
#include "provenance.h"
#include "spec.h"
#include "threads.h"
#include "version.h"

typedef struct command {
    const char *name, *args, *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} command;

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

/* Every subcommand, in the order --help lists them. */
static const command commands[] = {
    {"help", "[CMD]", "usage of lrpe or of one command", cmd_help},
    {"run", "SPEC.yaml [key=value ...] [--device " BACKEND_DEVICES "] [-j N] [--db FILE] [--runs-dir DIR] [--only RUN_ID,...] [--publish FILE] [--dry-run] [--force]",
     "train the runs of an experiment spec (skips completed runs, resumes interrupted ones)", cmd_run},
    {"submit", "SPEC.yaml [key=value ...] [--db FILE] [--runs-dir DIR] [--max-parallel K] [--runs-per-task G] [--sbatch-args '...'] [--dry-run]",
     "train the runs of a spec on a Slurm cluster: a job array (shards on node-local disks) and a job that merges and reports", cmd_submit},
    {"version", "", "version, commit, BLAS build and the GPUs this lrpe can use", cmd_version},
    {"encodings", "", "every positional encoding: hooks, attentions, options, parameters", cmd_encodings},
    {"status", "[--db FILE]", "runs per experiment and state, and why failed runs failed", cmd_status},
    {"merge", "OUT.db IN...", "merge databases written by separate workers (idempotent)", cmd_merge},
    {"bench", "[SPEC.yaml] [key=value ...] [--device " BACKEND_DEVICES "] [--steps N] [--warmup N] [--seq-lens a,b,...] [--tsv] [--db FILE] [--no-db]",
     "training throughput: tokens/s, ms/step, GFLOP/s, % of the measured sgemm peak, peak memory", cmd_bench},
    {"data", "[kjv] [sotu] [wordnet] [spam] [--data-dir DIR]",
     "prepare the datasets (all by default) in the data folder lrpe run reads, and say where it is", cmd_data},
    {"report", "[--db FILE] [--out DIR] [--experiment NAME] [--baseline VARIANT]", "tables (md, csv, tex) and gnuplot plots per experiment, and report.md", cmd_report},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static const command *find_command(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f,
            "lrpe %s: a reproducible harness for positional encodings in transformers (LRPE).\n\n"
            "usage: lrpe [--help | --version] <command> [args]\n\ncommands:\n",
            lrpe_version());
    for (int i = 0; i < NCOMMANDS; i++) /* the arguments, then what the command does, indented */
        fprintf(f, "  %s%s%s\n      %s\n", commands[i].name, *commands[i].args ? " " : "", commands[i].args,
                commands[i].summary);
    fprintf(f, "\n'lrpe CMD --help' describes one command. Exit codes: 0 ok, 1 a run failed, 2 bad usage.\n");
}

static int cmd_help(int argc, char **argv) {
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const command *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "lrpe help: unknown command '%s' (see lrpe --help)\n", argv[1]);
        return 2;
    }
    printf("usage: lrpe %s %s\n%s\n", c->name, c->args, c->summary);
    if (c->run == cmd_run) { /* the spec's keys, their defaults and valid values */
        printf("\nspec keys (YAML sections task/model/train, or dotted key=value overrides):\n");
        spec_print_keys(stdout);
    }
    return 0;
}

/* Version, commit, BLAS build and core, and the GPUs this lrpe can use (or why none). */
static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("lrpe %s (commit %s)\n", lrpe_version(), lrpe_commit());
    printf("blas: %s\n", threads_blas_config());
    printf("blas core: %s, source: %s\n", blas_core_name(), blas_core_source());
    char data[PATH_MAX];
    const char *how;
    if (!paths_data_dir(NULL, data, sizeof data, &how)) printf("data: %s (the data folder of %s)\n", data, how);
    if (strcmp(dist_library(), "none")) printf("mpi: %s (under mpirun or srun, lrpe run trains each run over the ranks)\n", dist_library());
    else printf("mpi: none (make MPI=1 builds lrpe with Open MPI, to train one run over several processes)\n");
    backend_gpu gpus[16];
    char why[512], line[768];
    int n = backend_gpus(gpus, 16, why, sizeof why);
    if (!n) printf("GPUs: none (%s)\n", why);
    for (int i = 0; i < n; i++) printf("GPU %d: %s\n", i, provenance_gpu_line(&gpus[i], line, sizeof line));
    return 0;
}

int main(int argc, char **argv) {
    blas_core_select(argc, argv); /* may restart lrpe with a better OpenBLAS core (blas_core.h) */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) return cmd_help(1, argv + 1);
    if (strcmp(name, "--version") == 0) return cmd_version(1, argv + 1);
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "lrpe: unknown command '%s' (see lrpe --help)\n", name);
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            char *help_argv[] = {"help", (char *)c->name};
            return cmd_help(2, help_argv);
        }
    threads_setup();
    return c->run(argc - 1, argv + 1);
}
