/* The options of every command, from one table per command: the parser (getopt_long, built from
 * the table), `lrpe CMD --help`, the usage lines, the man page and the bash completion script
 * (help.c) all read the same table, so they cannot disagree.
 *
 * Syntax, the same for every command: --name=VALUE or --name VALUE (a short letter: -j N or -jN),
 * options before, between or after the other words (a spec file, key=value overrides, file names),
 * long names spelled out in full (no abbreviations), `--` ends the options, -h / --help on each. */
#ifndef LRPE_OPTS_H
#define LRPE_OPTS_H

#include <stdio.h>

/* One option of a command. */
typedef struct cli_option {
    const char *name;    /* the long name, without "--" */
    int short_letter;    /* its one-letter form ('j' for -j), or 0 */
    int has_arg;         /* 1: takes a value */
    const char *metavar; /* the value as the usage shows it: "FILE", "DIR", "N", or the values "cpu | cuda" */
    const char *help;    /* what it does, one line */
} cli_option;

/* cli_command.flags */
enum {
    CLI_SPEC = 1u,     /* the words are a spec file and key=value overrides (completion offers both) */
    CLI_COMPUTES = 2u, /* trains or measures models: OpenMP threads wait passively unless the user chose */
};

/* The option table of a command that has none but --help. */
extern const cli_option cli_no_options[];

/* One command of lrpe. */
typedef struct cli_command {
    const char *name;
    const char *words;   /* the words besides the options as the usage shows them ("" when none) */
    const char *summary; /* one line */
    const cli_option *options; /* ends with {NULL}; -h / --help is every command's and not listed */
    int (*run)(int argc, char **argv); /* argv[0] = the command's name; returns the exit code */
    unsigned flags;
    const char *const *choices; /* the only words the command takes (datasets...), NULL-terminated; or NULL */
} cli_command;

/* What cli_parse calls for each option (value: its value, NULL for an option without one) and,
 * with o NULL, for each other word; 0 to go on, or the exit code to stop with. */
typedef int (*cli_each)(void *ctx, const cli_option *o, char *value);

/* Parses argv (argv[0] = the command's name) by the options of c, calling each(ctx, ...) for every
 * option and word in command-line order (each may be NULL for a command with no options and no
 * words). 0; each's nonzero return; or 2 after printing a one-line usage error: an unknown option,
 * an option without its value (an empty value included), a value for an option that takes none, a
 * word for a command that takes none. --help (-h) prints the command's help to stdout and exits 0. */
int cli_parse(const cli_command *c, int argc, char **argv, cli_each each, void *ctx);
/* 1 when o is the option named name. */
int cli_is(const cli_option *o, const char *name);

/* The option rows run and bench share. */
#define CLI_OPTION_DEVICE {"device", 0, 1, BACKEND_DEVICES, "where the models compute: the override model.device=..."}
#define CLI_OPTION_DATA_DIR                                                                                             \
    {"data-dir", 0, 1, "DIR", "the prepared datasets (default: $LRPE_DATA, else the data/ of the installation or the " \
                              "source tree)"}

/* The data folder (paths_data_dir: --data-dir `given`, else $LRPE_DATA, ...) into out[len], and
 * which source gave it into *how (may be NULL); 0, or 2 after a one-line usage error of cmd. */
int cli_data_dir(const char *cmd, const char *given, char *out, size_t len, const char **how);

/* "lrpe CMD: msg arg (see lrpe CMD --help)" on stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *msg, const char *arg);
/* A word of a CLI_SPEC command: a key=value override (appended to overrides[*n]: room for every
 * word), the spec file, or a second spec file (refused). 0, or 2 after saying why. */
int cli_spec_word(const char *cmd, char *word, const char **spec_path, char **overrides, int *n);

/* "lrpe run SPEC.yaml [key=value ...] [--device cpu | cuda] [-j N] ..." (no newline). */
void cli_synopsis(FILE *f, const cli_command *c);
/* What `lrpe CMD --help` prints: the usage, the summary, every option with its description. */
void cli_print_help(FILE *f, const cli_command *c);

/* Every command, in the order `lrpe --help` lists them (help.c). */
int cli_command_count(void);
const cli_command *cli_command_at(int i);
const cli_command *cli_find_command(const char *name);

#endif
