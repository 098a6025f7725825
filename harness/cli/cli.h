/* The subcommands of the lrpe binary; each takes argv with argv[0] = its name and returns the
 * exit code (0 ok, 1 a run failed, 2 bad usage). */
#ifndef LRPE_CLI_H
#define LRPE_CLI_H

int cmd_run(int argc, char **argv);
int cmd_encodings(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_data(int argc, char **argv);

/* "lrpe CMD: msg arg (see lrpe CMD --help)" on stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *msg, const char *arg);
/* A word of `lrpe CMD` that none of its options took: an unknown option (refused), a key=value
 * override (appended to overrides[*n]: room for argc words), the spec file, or a second spec file
 * (refused). 0, or 2 after saying why. */
int cli_spec_word(const char *cmd, char *word, const char **spec_path, char **overrides, int *n);

#endif
