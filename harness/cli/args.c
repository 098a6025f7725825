/* What the commands that take a spec (run, submit, bench) share when reading their arguments. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_usage_error(const char *cmd, const char *msg, const char *arg) {
    fprintf(stderr, "lrpe %s: %s%s%s (see lrpe %s --help)\n", cmd, msg, arg ? " " : "", arg ? arg : "", cmd);
    return 2;
}

int cli_spec_word(const char *cmd, char *word, const char **spec_path, char **overrides, int *n) {
    if (word[0] == '-') return cli_usage_error(cmd, "unknown option", word);
    if (strchr(word, '=')) overrides[(*n)++] = word;
    else if (!*spec_path) *spec_path = word;
    else return cli_usage_error(cmd, "a second spec file is not allowed:", word);
    return 0;
}
