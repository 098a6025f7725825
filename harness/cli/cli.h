/* The commands of the lrpe binary, one descriptor each (opts.h: name, words, summary, the table of
 * its options, its entry point), defined in the command's file. An entry point takes argv with
 * argv[0] = its name and returns the exit code (0 ok, 1 a run failed, 2 bad usage). */
#ifndef LRPE_CLI_H
#define LRPE_CLI_H

#include <stdio.h>

#include "opts.h"

extern const cli_command cli_help, cli_run, cli_submit, cli_version, cli_encodings, cli_status, cli_merge, cli_bench,
    cli_data, cli_report;

/* What `lrpe --help` prints: every command's usage and summary. */
void cli_usage(FILE *f);
/* The manual page (roff, section 1) and the bash completion script, generated from the commands'
 * option tables and the spec's key table (`lrpe help --man`, `lrpe help --bash-completion`). */
void cli_man_page(FILE *f);
void cli_bash_completion(FILE *f);

#endif
