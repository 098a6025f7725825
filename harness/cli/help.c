/* `lrpe help`: the list of commands, one command's help, and what is generated from the commands'
 * option tables and the spec's key table (schema.h) so that it says what --help and --dry-run say:
 * the manual page (`lrpe help --man`) and the bash completion script (`lrpe help --bash-completion`). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "schema.h"
#include "version.h"

static int cmd_help(int argc, char **argv);

static const cli_option help_options[] = {
    {"man", 0, 0, NULL, "print the manual page (roff; man -l <(lrpe help --man) shows it)"},
    {"bash-completion", 0, 0, NULL, "print the bash completion script (commands, options, spec files and keys)"},
    {NULL, 0, 0, NULL, NULL},
};

const cli_command cli_help = {"help", "[CMD]", "usage of lrpe or of one command; the manual page; the bash completion",
                              help_options, cmd_help, 0, NULL};

/* Every command, in the order lrpe --help lists them. */
static const cli_command *const COMMANDS[] = {&cli_help,      &cli_run,    &cli_submit, &cli_version, &cli_encodings,
                                              &cli_status,    &cli_merge,  &cli_bench,  &cli_data,    &cli_report};
#define NCOMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

int cli_command_count(void) { return NCOMMANDS; }
const cli_command *cli_command_at(int i) { return i >= 0 && i < NCOMMANDS ? COMMANDS[i] : NULL; }

const cli_command *cli_find_command(const char *name) {
    for (int i = 0; name && i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i]->name, name) == 0) return COMMANDS[i];
    return NULL;
}

void cli_usage(FILE *f) {
    fprintf(f,
            "lrpe %s: a reproducible harness for positional encodings in transformers (LRPE).\n\n"
            "usage: lrpe [--help | --version] <command> [args]\n\ncommands:\n",
            lrpe_version());
    for (int i = 0; i < NCOMMANDS; i++) { /* the usage, then what the command does, indented */
        fputs("  ", f);
        cli_synopsis(f, COMMANDS[i]);
        fprintf(f, "\n      %s\n", COMMANDS[i]->summary);
    }
    fprintf(f, "\n'lrpe CMD --help' describes one command; options take --name=VALUE or --name VALUE.\n"
               "Exit codes: 0 ok, 1 a run failed, 2 bad usage.\n");
}

/* What lrpe help was asked for. */
typedef struct help_args {
    int man, completion;
    const char *topic;
} help_args;

/* An option or the command's name into the help_args ctx (cli_each); 0 or 2. */
static int help_option(void *ctx, const cli_option *o, char *word) {
    help_args *a = ctx;
    if (cli_is(o, "man")) a->man = 1;
    else if (cli_is(o, "bash-completion")) a->completion = 1;
    else if (!a->topic) a->topic = word;
    else return cli_usage_error("help", "one command at a time, not also", word);
    return 0;
}

static int cmd_help(int argc, char **argv) {
    help_args a = {0, 0, NULL};
    int rc = cli_parse(&cli_help, argc, argv, help_option, &a);
    if (rc) return rc;
    if (a.man + a.completion + (a.topic != NULL) > 1)
        return cli_usage_error("help", "give one of CMD, --man and --bash-completion", NULL);
    if (a.man) cli_man_page(stdout);
    else if (a.completion) cli_bash_completion(stdout);
    else if (!a.topic) cli_usage(stdout);
    else if (cli_find_command(a.topic)) cli_print_help(stdout, cli_find_command(a.topic));
    else {
        fprintf(stderr, "lrpe help: unknown command '%s' (see lrpe --help)\n", a.topic);
        return 2;
    }
    return ferror(stdout) ? 1 : 0;
}

/* ---- the manual page ---- */

/* s as roff text: backslashes and dashes escaped (\- is what a shell reads back as '-'), a line
 * starting with '.' or '\'' made literal. */
static void roff(FILE *f, const char *s) {
    for (int start = 1; *s; s++) {
        if (start && (*s == '.' || *s == '\'')) fputs("\\&", f);
        start = *s == '\n';
        if (*s == '\\') fputs("\\e", f);
        else if (*s == '-') fputs("\\-", f);
        else fputc(*s, f);
    }
}

/* roff(f, text) in a font: "B" bold, "I" italic. */
static void font(FILE *f, const char *which, const char *text) {
    fprintf(f, "\\f%s", which);
    roff(f, text);
    fputs("\\fR", f);
}

/* The synopsis of c as roff: the command in bold, the rest plain. */
static void roff_synopsis(FILE *f, const cli_command *c) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return;
    cli_synopsis(m, c);
    fclose(m);
    size_t head = strlen("lrpe ") + strlen(c->name);
    fputs("\\fBlrpe ", f);
    roff(f, c->name);
    fputs("\\fR", f);
    roff(f, text + (len >= head ? head : len));
    fputc('\n', f);
    free(text);
}

/* What lrpe reads from the environment (grep getenv), for ENVIRONMENT. */
static const struct {
    const char *name, *text;
} ENVIRONMENT[] = {
    {"LRPE_DATA", "the data folder when --data-dir is not given (else data/ of the installation or of the source "
                  "tree lrpe was built in, else ./data)"},
    {"LRPE_THREADS", "threads per process (OpenMP and OpenBLAS); default OMP_NUM_THREADS, else every online CPU "
                     "(lrpe run -j N divides them among its N processes)"},
    {"OMP_NUM_THREADS", "threads, when LRPE_THREADS is not set"},
    {"OMP_WAIT_POLICY", "how idle OpenMP threads wait. lrpe run and lrpe bench set it to passive when it is not set "
                        "(busy-waiting threads make small models several times slower on a shared machine), by "
                        "restarting themselves once at start-up; a value you set is kept. Provenance records it "
                        "(omp_wait_policy)"},
    {"OPENBLAS_CORETYPE", "the OpenBLAS kernels to use. When it is not set and OpenBLAS falls back to a generic core "
                          "on a CPU it does not know, lrpe restarts itself once with the better core (checked against "
                          "a naive product first); a value you set is kept. lrpe version shows the core and who chose it"},
    {"LRPE_GNUPLOT", "the gnuplot program lrpe report runs (default: gnuplot on PATH)"},
    {"LRPE_BLAS_REEXEC", "set by lrpe on its start-up restart, so that it restarts at most once; not for users"},
};

/* "default lm", "default []", "derived: train.steps / 10, at most 100" for key i. */
static void key_default(FILE *f, int i) {
    const schema_key *k = schema_at(i);
    if (!k->def) {
        fputs("default derived: ", f);
        roff(f, schema_derived(i) ? schema_derived(i) : "from other keys");
        return;
    }
    fputs("default ", f);
    if (k->type == SK_INTS && !k->def[0]) font(f, "I", "[]");
    else if (!k->def[0]) font(f, "I", "\"\"");
    else font(f, "I", k->def);
}

void cli_man_page(FILE *f) {
    fprintf(f, ".\\\" lrpe(1): generated by `lrpe help --man` from lrpe's option and spec-key tables; do not edit\n");
    fprintf(f, ".TH LRPE 1 \"\" \"lrpe %s\" \"User Commands\"\n", lrpe_version());
    fputs(".SH NAME\nlrpe \\- a reproducible experiment harness for positional encodings in transformers\n", f);
    fputs(".SH SYNOPSIS\n\\fBlrpe\\fR [\\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR] \\fIcommand\\fR [\\fIargs\\fR]\n", f);
    for (int i = 0; i < NCOMMANDS; i++) fputs(".br\n", f), roff_synopsis(f, COMMANDS[i]);
    fputs(".SH DESCRIPTION\n", f);
    roff(f, "lrpe trains small transformers on the CPU (or a GPU) with the positional encodings of \"Linearized "
            "Relative Positional Encoding\" (LRPE) and its baselines, from experiment specs: YAML files that name "
            "only what differs from the defaults (see SPEC KEYS). Every run has an id computed from its fully "
            "resolved config and seed; its metrics, final results and provenance go into an SQLite database, its "
            "checkpoints beside it, so an interrupted run resumes where it stopped and a completed one is not "
            "trained again. lrpe report turns a database into tables and plots.\n");
    fputs(".PP\n", f);
    roff(f, "Options take their value as --name=VALUE or --name VALUE (a short option as -j N or -jN), before, "
            "between or after the other words; long names are spelled out in full, -- ends the options, and every "
            "command takes -h and --help. lrpe help --bash-completion prints a bash completion script.\n");
    fputs(".SH COMMANDS\n", f);
    for (int i = 0; i < NCOMMANDS; i++) {
        const cli_command *c = COMMANDS[i];
        fputs(".SS ", f), roff(f, "lrpe "), roff(f, c->name), fputc('\n', f);
        roff_synopsis(f, c);
        fputs(".PP\n", f), roff(f, c->summary), fputs(".\n", f);
        if (c->flags & CLI_SPEC) fputs(".PP\n", f), roff(f, "key=value words override spec keys (see SPEC KEYS).\n");
        static const cli_option help = {"help", 'h', 0, NULL, "this command's usage and options"};
        for (int k = 0;; k++) {
            const cli_option *o = c->options && c->options[k].name ? &c->options[k] : &help;
            fputs(".TP\n", f);
            if (o->short_letter) fprintf(f, "\\fB\\-%c\\fR, ", o->short_letter);
            fputs("\\fB\\-\\-", f), roff(f, o->name), fputs("\\fR", f);
            if (o->has_arg) fputc(' ', f), font(f, "I", o->metavar);
            fputc('\n', f), roff(f, o->help), fputc('\n', f);
            if (o == &help) break;
        }
    }
    fputs(".SH SPEC KEYS\n", f);
    roff(f, "A spec has the top-level keys name (default: the file's stem), task, model, train and eval (maps of "
            "the keys below, nested or dotted), seeds (default [1]), variants (a list of maps, each a name and "
            "overrides) and sweep (key: list of values, cartesian axes). On the command line, key=value sets a key, "
            "key=a,b,c adds a sweep axis, seed=1,2,3 sets the seeds and name=X the experiment name. Every key has a "
            "default; a derived default is computed from other keys of the same config, and lrpe run --dry-run says "
            "which values were derived.\n");
    for (int i = 0; i < schema_count(); i++) {
        const schema_key *k = schema_at(i);
        char choices[512], desc[512];
        fputs(".TP\n", f), font(f, "B", k->key), fputs(" (", f), roff(f, schema_type_word(k->type)), fputs("; ", f);
        key_default(f, i);
        fputs(")\n", f), roff(f, schema_describe(i, desc, sizeof desc));
        if (schema_choices(i, choices, sizeof choices)[0]) fputs(". Valid: ", f), roff(f, choices);
        fputs(".\n", f);
    }
    fputs(".TP\n", f), font(f, "B", "seeds"), fputs(" (list; default ", f), font(f, "I", "[1]"), fputs(")\n", f);
    roff(f, "run seeds (seed=1,2,3 on the command line).\n");
    fputs(".SH ENVIRONMENT\n", f);
    for (size_t i = 0; i < sizeof ENVIRONMENT / sizeof ENVIRONMENT[0]; i++) {
        fputs(".TP\n", f), font(f, "B", ENVIRONMENT[i].name), fputc('\n', f);
        roff(f, ENVIRONMENT[i].text), fputs(".\n", f);
    }
    fputs(".SH FILES\n.TP\n", f), font(f, "I", DB_DEFAULT_PATH), fputc('\n', f);
    roff(f, "the results database when --db is not given (relative to the working folder). Beside a database "
            "DB.db: DB-runs/ (checkpoints, one folder per run id), DB-shards/ (the databases Slurm array tasks "
            "publish) and DB-slurm/ (what lrpe submit submitted).\n");
    fputs(".TP\n", f), font(f, "I", "results/report/"), fputc('\n', f);
    roff(f, "where lrpe report writes when --out is not given.\n");
    fputs(".TP\n", f), font(f, "I", "data/"), fputc('\n', f);
    roff(f, "the prepared datasets: --data-dir, else $LRPE_DATA, else share/lrpe/data of the installation "
            "(<prefix>/share/lrpe beside <prefix>/bin/lrpe), else data/ of the source tree lrpe was built in, else "
            "./data. lrpe data prepares them there and lrpe version shows where it is.\n");
    fputs(".SH EXIT STATUS\n.TP\n.B 0\nsuccess (every run completed).\n.TP\n.B 1\n", f);
    roff(f, "some run failed (the others still ran), or something could not be read or written.\n");
    fputs(".TP\n.B 2\n", f);
    roff(f, "bad usage or a bad spec: refused before anything runs or is written.\n");
    fputs(".TP\n.B 130\n", f);
    roff(f, "lrpe run stopped by Ctrl-C or SIGTERM (checkpoints saved; the same command resumes).\n");
    fputs(".SH SEE ALSO\n", f);
    roff(f, "lrpe encodings (the positional encodings and their options), lrpe help CMD, README.md of the source.\n");
}

/* ---- the bash completion script ---- */

/* 1 when s can stand in a single-quoted shell word and as a completion word. */
static int shell_safe(const char *s) {
    return s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-/,@%:") == strlen(s);
}

/* The words of "a | b | c", space-separated (unsafe ones left out); the number written. */
static int choice_words(FILE *f, const char *list) {
    char word[128];
    int n = 0;
    for (const char *p = list; *p;) {
        p += strspn(p, " |");
        size_t len = strcspn(p, "|");
        while (len && p[len - 1] == ' ') len--;
        snprintf(word, sizeof word, "%.*s", (int)(len < sizeof word ? len : sizeof word - 1), p);
        p += strcspn(p, "|");
        if (shell_safe(word)) fprintf(f, "%s%s", n++ ? " " : "", word);
    }
    return n;
}

/* 1 when key i takes one of a list of words (completion offers them after "key="). */
static int enumerated(int i) {
    const schema_key *k = schema_at(i);
    return k->type == SK_ENUM || k->type == SK_ABSOLUTE || k->type == SK_ENCODING || k->type == SK_TASK ||
           k->type == SK_DATASET || k->type == SK_PEOPT || (k->type == SK_INT && k->values);
}

/* The case arms of _lrpe_option for the options whose metavar is `kind` ("FILE", "DIR", or NULL:
 * any other value), then what the arm does. */
static void option_arms(FILE *f, const char *kind, const char *action) {
    int n = 0;
    for (int i = 0; i < NCOMMANDS; i++)
        for (const cli_option *o = COMMANDS[i]->options; o && o->name; o++) {
            if (!o->has_arg) continue;
            int is = kind ? strcmp(o->metavar, kind) == 0 : strcmp(o->metavar, "FILE") && strcmp(o->metavar, "DIR") &&
                                                               !strchr(o->metavar, '|');
            if (!is) continue;
            fprintf(f, "%s'%s --%s'", n++ ? "|" : "    ", COMMANDS[i]->name, o->name);
            if (o->short_letter) fprintf(f, "|'%s -%c'", COMMANDS[i]->name, o->short_letter);
        }
    if (n) fprintf(f, ") %s ;;\n", action);
}

void cli_bash_completion(FILE *f) {
    fputs("# bash completion for lrpe: commands, their options and values, spec files (*.yaml) and spec keys\n"
          "# (key=, and the values of enumerated keys). Generated by `lrpe help --bash-completion` from lrpe's\n"
          "# option and spec-key tables. Install as /usr/share/bash-completion/completions/lrpe, or source it.\n",
          f);
    fputs("_lrpe_keys='", f);
    for (int i = 0; i < schema_count(); i++) fprintf(f, "%s ", schema_at(i)->key);
    fputs("seed name'\n\n# the values of an enumerated spec key into _lrpe_w; 1 for any other key\n"
          "_lrpe_values() {\n    case $1 in\n", f);
    for (int i = 0; i < schema_count(); i++) {
        char choices[1024];
        if (!enumerated(i)) continue;
        fprintf(f, "    %s) _lrpe_w='", schema_at(i)->key);
        choice_words(f, schema_choices(i, choices, sizeof choices));
        fputs("' ;;\n", f);
    }
    fputs("    *) return 1 ;;\n    esac\n}\n\n"
          "# \"command --option\": 0 when the option takes a value, with how to complete it in _lrpe_how\n"
          "# (words: those in _lrpe_w; file; dir; none)\n_lrpe_option() {\n    case $1 in\n", f);
    for (int i = 0; i < NCOMMANDS; i++)
        for (const cli_option *o = COMMANDS[i]->options; o && o->name; o++) {
            if (!o->has_arg || !strchr(o->metavar, '|')) continue;
            fprintf(f, "    '%s --%s'", COMMANDS[i]->name, o->name);
            if (o->short_letter) fprintf(f, "|'%s -%c'", COMMANDS[i]->name, o->short_letter);
            fputs(") _lrpe_how=words _lrpe_w='", f), choice_words(f, o->metavar), fputs("' ;;\n", f);
        }
    option_arms(f, "FILE", "_lrpe_how=file");
    option_arms(f, "DIR", "_lrpe_how=dir");
    option_arms(f, NULL, "_lrpe_how=none");
    fputs("    *) return 1 ;;\n    esac\n}\n\n", f);
    fputs("_lrpe() {\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev= cmd=${COMP_WORDS[1]} key= pre= opts= words= kind= _lrpe_w= _lrpe_how=\n"
          "    [ \"$COMP_CWORD\" -ge 1 ] && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
          "    COMPREPLY=()\n"
          "    if [ \"$COMP_CWORD\" -le 1 ]; then\n"
          "        COMPREPLY=($(compgen -W '",
          f);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "%s ", COMMANDS[i]->name);
    fputs("--help --version' -- \"$cur\"))\n        return 0\n    fi\n"
          "    # key=value and --option=value (bash splits them at '=' when COMP_WORDBREAKS has it), --option value\n"
          "    if [ \"$cur\" = = ]; then key=$prev cur=\n"
          "    elif [ \"$prev\" = = ] && [ \"$COMP_CWORD\" -ge 3 ]; then key=${COMP_WORDS[COMP_CWORD-2]}\n"
          "    elif [[ $cur == *=* ]]; then key=${cur%%=*} pre=${cur%%=*}= cur=${cur#*=}\n"
          "    elif [[ $prev == -* ]] && _lrpe_option \"$cmd $prev\"; then key=$prev\n"
          "    fi\n"
          "    if [[ $key == -* ]]; then\n"
          "        _lrpe_option \"$cmd $key\" || return 0\n"
          "        case $_lrpe_how in\n"
          "        words) COMPREPLY=($(compgen -P \"$pre\" -W \"$_lrpe_w\" -- \"$cur\")) ;;\n"
          "        file) COMPREPLY=($(compgen -P \"$pre\" -f -- \"$cur\")) ;;\n"
          "        dir) COMPREPLY=($(compgen -P \"$pre\" -d -- \"$cur\")) ;;\n"
          "        esac\n"
          "        return 0\n"
          "    fi\n"
          "    case $cmd in\n",
          f);
    for (int i = 0; i < NCOMMANDS; i++) {
        const cli_command *c = COMMANDS[i];
        fprintf(f, "    %s) opts='", c->name);
        for (const cli_option *o = c->options; o && o->name; o++) {
            if (o->short_letter) fprintf(f, "-%c ", o->short_letter);
            fprintf(f, "--%s ", o->name);
        }
        fputs("-h --help'", f);
        if (c->flags & CLI_SPEC) fputs(" kind=spec", f);
        else if (c == &cli_merge) fputs(" kind=db", f);
        if (c == &cli_help) {
            fputs(" words='", f);
            for (int k = 0; k < NCOMMANDS; k++) fprintf(f, "%s%s", k ? " " : "", COMMANDS[k]->name);
            fputs("'", f);
        }
        for (int k = 0; c->choices && c->choices[k]; k++) fprintf(f, "%s%s", k ? " " : " words='", c->choices[k]);
        if (c->choices && c->choices[0]) fputs("'", f);
        fputs(" ;;\n", f);
    }
    fputs("    *) return 0 ;;\n    esac\n"
          "    if [ -n \"$key\" ]; then # key=VALUE: the values of an enumerated spec key\n"
          "        [ \"$kind\" = spec ] && _lrpe_values \"$key\" && COMPREPLY=($(compgen -P \"$pre\" -W \"$_lrpe_w\" -- \"$cur\"))\n"
          "        return 0\n"
          "    fi\n"
          "    if [[ $cur == -* ]]; then\n"
          "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
          "    elif [ \"$kind\" = spec ]; then\n"
          "        COMPREPLY=($(compgen -W \"$_lrpe_keys\" -S = -- \"$cur\") $(compgen -f -X '!*.yaml' -- \"$cur\") $(compgen -d -S / -- \"$cur\"))\n"
          "    elif [ \"$kind\" = db ]; then\n"
          "        COMPREPLY=($(compgen -f -X '!*.db' -- \"$cur\") $(compgen -d -S / -- \"$cur\"))\n"
          "    elif [ -n \"$words\" ]; then\n"
          "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "    fi\n"
          "    # a key= or a folder/ goes on being typed: no space after it\n"
          "    [[ ${COMPREPLY[*]} == *[=/] || ${COMPREPLY[*]} == *[=/]\\ * ]] && compopt -o nospace 2>/dev/null\n"
          "    return 0\n"
          "}\n"
          "complete -F _lrpe lrpe\n",
          f);
}
