/* The option parser of every command, its usage errors and help text, from the command's table
 * (opts.h). */
#include "opts.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "spec.h"

enum { OPT_HELP = 'h', OPT_LONG = 256 }; /* getopt_long's codes: the help, OPT_LONG + i for option i */
#define MAX_OPTIONS 24

/* The state of one parse: getopt_long's tables, built from the command's options. */
typedef struct cli_parser {
    const cli_command *cmd;
    int argc;
    char **argv;
    int rest; /* after the options ended: the next word, or -1 */
    struct option longopts[MAX_OPTIONS + 2];
    char shortopts[3 * MAX_OPTIONS + 8];
} cli_parser;

const cli_option cli_no_options[] = {{NULL, 0, 0, NULL, NULL}};

/* Starts parsing argv by the options of c. */
static void cli_begin(cli_parser *p, const cli_command *c, int argc, char **argv) {
    memset(p, 0, sizeof *p);
    p->cmd = c, p->argc = argc, p->argv = argv, p->rest = -1;
    size_t k = 0;
    p->shortopts[k++] = '-'; /* words come back in order, as code 1 (whatever POSIXLY_CORRECT says) */
    p->shortopts[k++] = ':'; /* a missing value is ':', and getopt prints nothing */
    int n = 0;
    for (const cli_option *o = c->options; o && o->name && n < MAX_OPTIONS; o++, n++) {
        p->longopts[n] = (struct option){o->name, o->has_arg ? required_argument : no_argument, NULL, OPT_LONG + n};
        if (o->short_letter) {
            p->shortopts[k++] = (char)o->short_letter;
            if (o->has_arg) p->shortopts[k++] = ':';
        }
    }
    p->longopts[n] = (struct option){"help", no_argument, NULL, OPT_HELP};
    p->shortopts[k++] = 'h';
    optind = 0; /* a fresh start for getopt_long */
    opterr = 0;
}

int cli_is(const cli_option *o, const char *name) { return o && strcmp(o->name, name) == 0; }

/* The option getopt_long's code stands for, or NULL. */
static const cli_option *option_of(const cli_parser *p, int code) {
    int n = 0;
    for (const cli_option *o = p->cmd->options; o && o->name; o++, n++)
        if (code == OPT_LONG + n || (o->short_letter && code == o->short_letter)) return o;
    return NULL;
}

/* "lrpe CMD: <what><word><after> (usage: lrpe CMD WORDS [options]; lrpe CMD --help lists them)",
 * an option's word without its "=value"; returns 2. */
static int parse_error(const cli_parser *p, const char *what, const char *word, const char *after) {
    const cli_command *c = p->cmd;
    fprintf(stderr, "lrpe %s: %s%.*s%s (usage: lrpe %s%s%s [options]; lrpe %s --help lists them)\n", c->name, what,
            (int)(word[0] == '-' ? strcspn(word, "=") : strlen(word)), word, after, c->name, c->words[0] ? " " : "",
            c->words, c->name);
    return 2;
}

/* An unknown word, named the way the command's usage reads: a command that takes words says
 * "unknown option --x", one that takes none "unexpected argument '--x'". */
static int unknown(const cli_parser *p, const char *word) {
    return p->cmd->words[0] ? parse_error(p, "unknown option ", word, "") : parse_error(p, "unexpected argument '", word, "'");
}

/* The next option or word, in command-line order: 1 with *opt and *value (an option's value, NULL
 * for an option without one), or with *opt NULL and *value the word; 0 when there is nothing left;
 * 2 after printing a one-line usage error. */
static int cli_next(cli_parser *p, const cli_option **opt, char **value) {
    *opt = NULL, *value = NULL;
    if (p->rest >= 0) { /* after "--": words only */
        if (p->rest >= p->argc) return 0;
        *value = p->argv[p->rest++];
        return p->cmd->words[0] ? 1 : unknown(p, *value);
    }
    int code = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, NULL);
    if (code == -1) {
        p->rest = optind;
        return cli_next(p, opt, value);
    }
    if (code == 1) {
        *value = optarg;
        return p->cmd->words[0] ? 1 : unknown(p, optarg);
    }
    /* the word the option was given as (getopt_long has stepped past it and past a separate value) */
    const char *word = optind > 0 && optind <= p->argc ? p->argv[optind - 1] : "?";
    if (code == '?') { /* optopt: the option given a value it does not take, an unknown letter, or 0 */
        char letter[3] = {'-', (char)optopt, 0};
        if (optopt && word[0] == '-' && word[1] == '-' && strchr(word, '='))
            return parse_error(p, "option ", word, " takes no value");
        return unknown(p, optopt > 0 && optopt < OPT_LONG ? letter : word);
    }
    if (code == ':') return parse_error(p, "option ", word, " needs a value");
    const cli_option *o = option_of(p, code);
    const int separate = optarg && optarg == word && optind >= 2; /* --db FILE: the option is the word before */
    if (separate) word = p->argv[optind - 2];
    if (word[0] == '-' && word[1] == '-') { /* a long name must be spelled out: no abbreviations */
        const char *name = code == OPT_HELP ? "help" : o ? o->name : "";
        size_t len = strcspn(word + 2, "=");
        if (len != strlen(name) || strncmp(word + 2, name, len)) return unknown(p, word);
    }
    if (code == OPT_HELP) {
        cli_print_help(stdout, p->cmd);
        exit(fflush(stdout) || ferror(stdout) ? 1 : 0);
    }
    if (!o) return unknown(p, word);
    if (o->has_arg && (!optarg || !optarg[0])) return parse_error(p, "option ", word, " needs a value");
    *opt = o, *value = o->has_arg ? optarg : NULL;
    return 1;
}

int cli_parse(const cli_command *c, int argc, char **argv, cli_each each, void *ctx) {
    cli_parser p;
    const cli_option *o;
    char *v;
    int rc;
    cli_begin(&p, c, argc, argv);
    while ((rc = cli_next(&p, &o, &v)) == 1)
        if ((rc = each ? each(ctx, o, v) : 0)) return rc;
    return rc;
}

int cli_data_dir(const char *cmd, const char *given, char *out, size_t len, const char **how) {
    const char *source;
    if (!paths_data_dir(given, out, len, &source)) {
        if (how) *how = source;
        return 0;
    }
    return cli_usage_error(cmd, "the data folder's path is too long:", given ? given : getenv("LRPE_DATA"));
}

int cli_usage_error(const char *cmd, const char *msg, const char *arg) {
    fprintf(stderr, "lrpe %s: %s%s%s (see lrpe %s --help)\n", cmd, msg, arg ? " " : "", arg ? arg : "", cmd);
    return 2;
}

int cli_spec_word(const char *cmd, char *word, const char **spec_path, char **overrides, int *n) {
    if (strchr(word, '=')) overrides[(*n)++] = word;
    else if (!*spec_path) *spec_path = word;
    else return cli_usage_error(cmd, "a second spec file is not allowed:", word);
    return 0;
}

void cli_synopsis(FILE *f, const cli_command *c) {
    fprintf(f, "lrpe %s%s%s", c->name, c->words[0] ? " " : "", c->words);
    for (const cli_option *o = c->options; o && o->name; o++) {
        if (o->short_letter) fprintf(f, " [-%c%s%s]", o->short_letter, o->has_arg ? " " : "", o->has_arg ? o->metavar : "");
        else fprintf(f, " [--%s%s%s]", o->name, o->has_arg ? " " : "", o->has_arg ? o->metavar : "");
    }
}

/* "-j, --jobs N" / "--db FILE" / "--dry-run" (no newline); the number of characters written. */
static int option_form(FILE *f, const cli_option *o) {
    int n = 0;
    if (o->short_letter) n += fprintf(f, "-%c, ", o->short_letter);
    return n + fprintf(f, "--%s%s%s", o->name, o->has_arg ? " " : "", o->has_arg ? o->metavar : "");
}

void cli_print_help(FILE *f, const cli_command *c) {
    fputs("usage: ", f);
    cli_synopsis(f, c);
    fprintf(f, "\n%s\n\noptions (--name=VALUE or --name VALUE, anywhere among the other words):\n", c->summary);
    static const cli_option help = {"help", 'h', 0, NULL, "this help"};
    for (int i = 0;; i++) {
        const cli_option *o = c->options && c->options[i].name ? &c->options[i] : &help;
        fputs("  ", f);
        int w = option_form(f, o);
        fprintf(f, "%*s%s\n", w < 26 ? 26 - w : 1, "", o->help);
        if (o == &help) break;
    }
    if (c->flags & CLI_SPEC) { /* the spec's keys, their defaults and valid values */
        fprintf(f, "\nspec keys (YAML sections task/model/train/eval, or dotted key=value overrides):\n");
        spec_print_keys(f);
    }
}
