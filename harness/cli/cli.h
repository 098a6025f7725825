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

#endif
