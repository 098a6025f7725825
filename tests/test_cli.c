/* The command-line contract: --help, --version, exit code 2 for bad usage; one option syntax for
 * every command (--opt=value or --opt value, from the command's option table); the man page and the
 * bash completion generated from the same tables; passive OpenMP waiting for run and bench. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "cli.h"
#include "cmd_fixture.h"
#include "schema.h"
#include "test.h"

TEST(cli_help_and_version) {
    char out[4096];
    CHECK(test_capture("./lrpe --help", out, sizeof out) == 0, "--help exit code");
    CHECK(strstr(out, "usage: lrpe") != NULL, "--help prints usage: %s", out);
    CHECK(test_capture("./lrpe --version", out, sizeof out) == 0, "--version exit code");
    CHECK(strncmp(out, "lrpe ", 5) == 0 && strstr(out, "OpenBLAS"), "--version output: %s", out);
    CHECK(test_capture("./lrpe version --help", out, sizeof out) == 0, "CMD --help exit code");
    CHECK(strstr(out, "usage: lrpe version") != NULL, "CMD --help output: %s", out);
}

TEST(cli_bad_usage_exits_2) {
    char out[4096];
    CHECK(test_capture("./lrpe no-such-command", out, sizeof out) == 2, "unknown command exit code");
    CHECK(strstr(out, "unknown command 'no-such-command'") != NULL, "unknown command message: %s", out);
    CHECK(strchr(out, '\n') == strrchr(out, '\n'), "one-line reason: %s", out);
    CHECK(test_capture("./lrpe", out, sizeof out) == 2, "no command exit code");
}

/* install-deps.sh: nothing to do when all is installed; a one-line reason and exit 2 when
 * something is missing and it cannot install (not root). */
TEST(install_deps_idempotent_and_refuses_without_root) {
    char out[4096];
    CHECK(test_capture("bash scripts/install-deps.sh make", out, sizeof out) == 0,
          "present package: %s", out);
    CHECK(out[0] == 0, "present package prints nothing: %s", out);
    const char *cmd = getuid() == 0
        ? "setpriv --reuid=65534 --regid=65534 --clear-groups bash scripts/install-deps.sh make lrpe-no-such-pkg"
        : "bash scripts/install-deps.sh make lrpe-no-such-pkg";
    CHECK(test_capture(cmd, out, sizeof out) == 2, "missing package, not root: exit code; output: %s", out);
    CHECK(strstr(out, "missing packages: lrpe-no-such-pkg;") && strstr(out, "make deps"),
          "message names the package and the fix: %s", out);
}

/* `lrpe encodings` lists every registered encoding with its hooks and attentions. */
TEST(cli_encodings_lists_every_encoding) {
    char out[16384];
    CHECK(test_capture("./lrpe encodings", out, sizeof out) == 0, "exit code: %s", out);
    static const char *const names[] = {"none", "sinusoidal", "learned", "rope", "lrpe-rotation", "lrpe-unitary",
                                        "lrpe-permutation", "permuteformer", "cosformer", "alibi"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n%s ", names[i]);
        CHECK(strstr(out, line) != NULL, "encoding %s missing from:\n%s", names[i], out);
    }
    CHECK(strstr(out, "alibi             score        softmax ") != NULL, "alibi row: %s", out);
    CHECK(strstr(out, "p=householder theta=fixed householder=fixed axes=sum") != NULL, "lrpe defaults: %s", out);
    CHECK(test_capture("./lrpe encodings extra", out, sizeof out) == 2, "an argument is bad usage");
}

/* `lrpe version` lists the GPUs this lrpe sees, or says on one line that there are none and why;
 * `run --help` and `bench --help` show --device, and run's key listing model.device and
 * model.precision with their values. */
TEST(cli_version_gpus_and_device_help) {
    char out[16384], cmd[1200], why[512] = "";
    backend_gpu g;
    int ngpus = backend_gpus(&g, 1, why, sizeof why);
    snprintf(cmd, sizeof cmd, "%s version", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 0, "version: %s", out);
    if (ngpus) {
        char line[256];
        snprintf(line, sizeof line, "\nGPU 0: %s, compute capability %d.%d", g.name, g.cc_major, g.cc_minor);
        CHECK(strstr(out, line) && strstr(out, "CUDA runtime") && strstr(out, "cuBLAS"), "GPU line: %s", out);
    } else {
        char line[600];
        snprintf(line, sizeof line, "\nGPUs: none (%s)\n", why);
        CHECK(strstr(out, line) != NULL, "no GPU, with the reason '%s': %s", why, out);
        if (strstr(why, "built without CUDA")) CHECK(strstr(out, "rebuild with `make CUDA=1`"), "the fix: %s", out);
    }
    snprintf(cmd, sizeof cmd, "%s run --help", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 0, "run --help: %s", out);
    CHECK(strstr(out, "[--device cpu | cuda]"), "run --help shows --device: %.300s", out);
    CHECK(strstr(out, "  model.device ") && strstr(out, "default cpu ") && strstr(out, "; cpu | cuda\n"),
          "model.device listed with its default and values: %s", out);
    CHECK(strstr(out, "  model.precision ") && strstr(out, "default fp32 ") && strstr(out, "; fp32 | tf32 | bf16\n"),
          "model.precision listed: %s", out);
    snprintf(cmd, sizeof cmd, "%s bench --help", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 0 && strstr(out, "[--device cpu | cuda]"), "bench --help: %s", out);
    snprintf(cmd, sizeof cmd, "%s run x.yaml --device", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "option --device needs a value"), "no value: %s", out);
    snprintf(cmd, sizeof cmd, "%s bench --device cpu --device cuda --no-db", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "--device is given twice"), "twice: %s", out);
}

#define BIG (1 << 18)

/* `<lrpe> <args>` from the repository root, both streams into out[BIG]; the exit code. */
static int lrpe(char *out, const char *fmt, const char *a, const char *b) {
    char cmd[1024], args[700];
    snprintf(args, sizeof args, fmt, a, b);
    snprintf(cmd, sizeof cmd, "%s %s", test_lrpe_bin(), args);
    return test_capture(cmd, out, BIG);
}

/* 1 when out is one line (a newline at its end only). */
static int one_line(const char *out) { return out[0] && strchr(out, '\n') == out + strlen(out) - 1; }

/* `lrpe CMD --help`, `lrpe CMD -h` and `lrpe help CMD`: the usage line first, the summary, every
 * option of the command's table with its description, and the same text all three ways. */
TEST(cli_every_command_help_lists_its_options) {
    char *out = malloc(BIG), *other = malloc(BIG), want[300];
    if (!out || !other) return test_fail(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < cli_command_count(); i++) {
        const cli_command *c = cli_command_at(i);
        CHECK(lrpe(out, "%s --help%s", c->name, "") == 0, "%s --help: %s", c->name, out);
        snprintf(want, sizeof want, "usage: lrpe %s%s%s", c->name, c->words[0] ? " " : "", c->words);
        CHECK(strncmp(out, want, strlen(want)) == 0 && strstr(out, c->summary), "%s --help: %.300s", c->name, out);
        for (const cli_option *o = c->options; o->name; o++) {
            if (o->short_letter) snprintf(want, sizeof want, "  -%c, --%s%s%s ", o->short_letter, o->name, o->has_arg ? " " : "",
                                          o->has_arg ? o->metavar : "");
            else snprintf(want, sizeof want, "  --%s%s%s ", o->name, o->has_arg ? " " : "", o->has_arg ? o->metavar : "");
            CHECK(strstr(out, want) && strstr(out, o->help), "%s --help lacks '%s' (%s): %s", c->name, want, o->help, out);
        }
        CHECK(strstr(out, "  -h, --help "), "%s --help lists --help", c->name);
        CHECK(lrpe(other, "help %s%s", c->name, "") == 0 && strcmp(out, other) == 0, "lrpe help %s differs", c->name);
        CHECK(lrpe(other, "%s -h%s", c->name, "") == 0 && strcmp(out, other) == 0, "lrpe %s -h differs", c->name);
        CHECK(lrpe(other, "--help%s%s", "", "") == 0 && strstr(other, "  lrpe ") && strstr(other, c->summary),
              "lrpe --help lists %s", c->name);
    }
    free(out);
    free(other);
}

/* Every option of every command parses as --opt=value and as --opt value, before or after the
 * other words, and the value arrives (each case checks an effect of the value). */
TEST(cli_options_take_equals_or_space) {
    harness_fx f;
    if (fx_open(&f)) return;
    char *a = malloc(BIG), *b = malloc(BIG), dir[PATH_MAX], want[PATH_MAX + 64];
    if (!a || !b || !realpath(f.dir, dir)) return free(a), free(b), fx_close(&f), test_fail(__FILE__, __LINE__, "setup");
    fx_write(&f, "s.yaml", "name: forms\ntask: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\n"
                           "model: {layers: 1, d_model: 16, heads: 2}\n"
                           "train: {steps: 2, batch: 2, eval_every: 0, eval_batches: 1, test_batches: 1, checkpoint_every: 0}\n");
    /* run: --db=FILE before the spec trains into FILE; the dry run reads it, either form, same output */
    CHECK(fx_lrpe(&f, "run --db=r.db s.yaml -j1", a, BIG) == 0, "run --db=r.db: %s", a);
    CHECK(fx_lrpe(&f, "run s.yaml --dry-run --db=r.db", a, BIG) == 0 && strstr(a, "completed"), "--db=: %s", a);
    CHECK(fx_lrpe(&f, "run s.yaml --db r.db --dry-run", b, BIG) == 0 && strcmp(a, b) == 0, "--db FILE differs:\n%s\n%s", a, b);
    CHECK(fx_lrpe(&f, "run --dry-run --jobs=2 s.yaml --force -j 2 --runs-dir=rd --only=", a, BIG) == 2 && one_line(a) &&
              strstr(a, "option --only needs a value"), "empty value refused: %s", a);
    CHECK(fx_lrpe(&f, "run --dry-run --jobs 2 s.yaml -j2 --runs-dir rd --data-dir=dd --publish p.db --device=cpu", a, BIG) == 0,
          "every run option: %s", a);
    CHECK(fx_lrpe(&f, "run --dry-run s.yaml -- --db", a, BIG) == 2 && strstr(a, "a second spec file is not allowed: --db"),
          "after --, words only: %s", a);
    /* status */
    CHECK(fx_lrpe(&f, "status --db=r.db", a, BIG) == 0 && strstr(a, "forms "), "status --db=: %s", a);
    CHECK(fx_lrpe(&f, "status --db r.db", b, BIG) == 0 && strcmp(a, b) == 0, "status --db FILE: %s", b);
    /* report: both forms write a report where --out says, from the database --db names */
    fx_lrpe(&f, "report --db=r.db --out=rep1 --experiment=forms --baseline=default", a, BIG);
    fx_lrpe(&f, "report --db r.db --out rep2 --experiment forms --baseline default", b, BIG);
    CHECK(access(fx_path(&f, "rep1/forms/table.md", want, sizeof want), F_OK) == 0, "report --out=rep1: %s", a);
    CHECK(access(fx_path(&f, "rep2/forms/table.md", want, sizeof want), F_OK) == 0, "report --out rep2: %s", b);
    /* merge: words only (and --help) */
    CHECK(fx_lrpe(&f, "merge m.db r.db", a, BIG) == 0 && strstr(a, "merged r.db: 1 new runs"), "merge: %s", a);
    /* bench: the counts arrive */
    CHECK(fx_lrpe(&f, "bench s.yaml --steps=2 --warmup=1 --no-db --tsv", a, BIG) == 0 && strstr(a, "1 warm-up + 2 timed steps") &&
              strstr(a, "variant\tattention"), "bench --steps=2: %s", a);
    CHECK(fx_lrpe(&f, "bench --steps 1 --warmup 0 --seq-lens 8,16 --device cpu --db b.db s.yaml", a, BIG) == 0 &&
              strstr(a, "0 warm-up + 1 timed steps") && strstr(a, "T=8") && strstr(a, "recorded as experiment forms-bench in b.db"),
          "bench --steps 1: %s", a);
    /* submit --dry-run: the database and the data folder, absolute, in the array task's command */
    for (int form = 0; form < 2; form++) {
        CHECK(fx_lrpe(&f, form ? "submit s.yaml --dry-run --db=sub.db --data-dir=dd --max-parallel=3 --runs-per-task=1 --sbatch-args=-t5"
                               : "submit --db sub.db --data-dir dd s.yaml --dry-run --max-parallel 3 --runs-per-task 1 --sbatch-args -t5",
                      a, BIG) == 0,
              "submit: %s", a);
        snprintf(want, sizeof want, "DATA='%s/dd'", dir);
        CHECK(strstr(a, want) && strstr(a, "--data-dir \"$DATA\"") && strstr(a, "%3\n") && strstr(a, "sbatch --parsable -t5 "),
              "submit (form %d) passes the data folder: %s", form, a);
        snprintf(want, sizeof want, "DB='%s/sub.db'", dir);
        CHECK(strstr(a, want) != NULL, "submit --db (form %d): %s", form, a);
    }
    /* data: the folder is the option's value, not a dataset (only the bogus name is refused; nothing is prepared) */
    CHECK(fx_lrpe(&f, "data --data-dir=dd bogus", a, BIG) == 2 && strstr(a, "unknown dataset") && strstr(a, ": bogus") &&
              !strstr(a, "dd"), "data --data-dir=dd: %s", a);
    CHECK(fx_lrpe(&f, "data --data-dir dd bogus", b, BIG) == 2 && strcmp(a, b) == 0, "data --data-dir dd: %s", b);
    /* help: its options */
    CHECK(fx_lrpe(&f, "help --man", a, BIG) == 0 && strstr(a, ".TH LRPE 1"), "help --man: %.200s", a);
    CHECK(fx_lrpe(&f, "help --bash-completion", a, BIG) == 0 && strstr(a, "complete -F _lrpe lrpe"), "completion: %.200s", a);
    CHECK(fx_lrpe(&f, "help --man run", a, BIG) == 2 && one_line(a), "help --man run: %s", a);
    free(a);
    free(b);
    fx_close(&f);
}

/* For every command: an unknown option, an option without its value, a value for an option that
 * takes none and an abbreviated name are one line and exit 2, naming the word and the usage. */
TEST(cli_usage_errors_one_line) {
    char *out = malloc(BIG), want[200];
    if (!out) return test_fail(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < cli_command_count(); i++) {
        const cli_command *c = cli_command_at(i);
        int rc = lrpe(out, "%s --no-such-option%s", c->name, "");
        if (c->words[0]) snprintf(want, sizeof want, "lrpe %s: unknown option --no-such-option (usage: lrpe %s ", c->name, c->name);
        else snprintf(want, sizeof want, "lrpe %s: unexpected argument '--no-such-option' (usage: lrpe %s ", c->name, c->name);
        CHECK(rc == 2 && one_line(out) && strncmp(out, want, strlen(want)) == 0, "%s: exit %d: %s", c->name, rc, out);
        CHECK(lrpe(out, "%s -Q%s", c->name, "") == 2 && one_line(out) && strstr(out, "-Q"), "%s -Q: %s", c->name, out);
        if (!c->words[0])
            CHECK(lrpe(out, "%s stray%s", c->name, "") == 2 && one_line(out) && strstr(out, "unexpected argument 'stray'"),
                  "%s stray: %s", c->name, out);
        for (const cli_option *o = c->options; o->name; o++) {
            snprintf(want, sizeof want, "lrpe %s: option --%s %s", c->name, o->name, o->has_arg ? "needs a value" : "takes no value");
            if (o->has_arg) {
                CHECK(lrpe(out, "%s --%s", c->name, o->name) == 2 && one_line(out) && strstr(out, want), "%s: %s", want, out);
                CHECK(lrpe(out, "%s --%s=", c->name, o->name) == 2 && one_line(out) && strstr(out, want), "%s=: %s", want, out);
            } else {
                CHECK(lrpe(out, "%s --%s=x", c->name, o->name) == 2 && one_line(out) && strstr(out, want), "%s: %s", want, out);
            }
        }
    }
    CHECK(lrpe(out, "run x.yaml --dry%s%s", "", "") == 2 && strstr(out, "unknown option --dry "), "abbreviation: %s", out);
    CHECK(lrpe(out, "run x.yaml -j%s%s", "", "") == 2 && strstr(out, "option -j needs a value"), "-j: %s", out);
    CHECK(lrpe(out, "run x.yaml -j 0%s%s", "", "") == 2 && strstr(out, "-j needs a number of processes in 1..256, got 0"),
          "-j 0: %s", out);
    CHECK(lrpe(out, "help no-such-command%s%s", "", "") == 2 && strstr(out, "unknown command 'no-such-command'"), "%s", out);
    free(out);
}

/* s as the man page writes it: dashes as \-, backslashes as \e. */
static const char *roffed(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; *s && k + 3 < n; s++) {
        if (*s == '-' || *s == '\\') buf[k++] = '\\', buf[k++] = *s == '-' ? '-' : 'e';
        else buf[k++] = *s;
    }
    buf[k] = 0;
    return buf;
}

/* `lrpe help --man`: every section, every command, every option of every command with its
 * description, every spec key with its type, and the environment lrpe reads. */
TEST(cli_man_page_lists_every_command_option_and_key) {
    char *man = malloc(BIG), want[1200], esc[1000];
    if (!man) return test_fail(__FILE__, __LINE__, "out of memory");
    CHECK(lrpe(man, "help --man%s%s", "", "") == 0 && strstr(man, "\n.TH LRPE 1 "), "man: %.300s", man);
    static const char *const sections[] = {"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "SPEC KEYS", "ENVIRONMENT",
                                           "FILES", "EXIT STATUS"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        snprintf(want, sizeof want, "\n.SH %s\n", sections[i]);
        CHECK(strstr(man, want) != NULL, "section %s", sections[i]);
    }
    for (int i = 0; i < cli_command_count(); i++) {
        const cli_command *c = cli_command_at(i);
        snprintf(want, sizeof want, "\n.SS lrpe %s\n", roffed(c->name, esc, sizeof esc));
        CHECK(strstr(man, want) != NULL, "command %s", c->name);
        for (const cli_option *o = c->options; o->name; o++) {
            snprintf(want, sizeof want, "\\fB\\-\\-%s\\fR", roffed(o->name, esc, sizeof esc));
            CHECK(strstr(man, want) != NULL, "%s --%s", c->name, o->name);
            snprintf(want, sizeof want, "\n%s\n", roffed(o->help, esc, sizeof esc));
            CHECK(strstr(man, want) != NULL, "%s --%s: its description", c->name, o->name);
        }
    }
    for (int i = 0; i < schema_count(); i++) {
        char desc[512];
        snprintf(want, sizeof want, "\n\\fB%s\\fR (%s; ", schema_at(i)->key, schema_type_word(schema_at(i)->type));
        CHECK(strstr(man, want) != NULL, "spec key %s", schema_at(i)->key);
        roffed(schema_describe(i, desc, sizeof desc), esc, sizeof esc);
        CHECK(strstr(man, esc) != NULL, "spec key %s: its description", schema_at(i)->key);
    }
    CHECK(strstr(man, "derived: train.steps / 10, at most 100"), "the derived warm-up");
    static const char *const env[] = {"LRPE_DATA", "LRPE_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
        snprintf(want, sizeof want, "\n\\fB%s\\fR\n", env[i]);
        CHECK(strstr(man, want) != NULL, "environment %s", env[i]);
    }
    CHECK(strstr(man, "\n.B 0\n") && strstr(man, "\n.B 1\n") && strstr(man, "\n.B 2\n"), "exit status");
    free(man);
}

/* The man page renders with no warning from groff (all of them enabled). */
TEST(cli_man_page_renders_without_warnings) {
    char out[8192], dir[256], cmd[4096];
    if (test_capture("command -v groff", out, sizeof out) != 0)
        return test_skip("groff is not installed (Debian: groff-base), so the man page cannot be rendered here");
    if (test_tmpdir(dir, sizeof dir, "man")) return;
    snprintf(cmd, sizeof cmd, "%s help --man > %s/lrpe.1 && groff -man -ww -z %s/lrpe.1 && "
             "groff -man -ww -Tutf8 %s/lrpe.1 > %s/lrpe.txt", test_lrpe_bin(), dir, dir, dir, dir);
    CHECK(test_capture(cmd, out, sizeof out) == 0 && out[0] == 0, "groff -ww: %s", out);
    snprintf(cmd, sizeof cmd, "grep -c -e 'SPEC KEYS' -e 'train.warmup' %s/lrpe.txt", dir);
    CHECK(test_capture(cmd, out, sizeof out) == 0 && atoi(out) >= 2, "rendered text: %s", out);
    test_rmtree(dir);
}

/* `lrpe help --bash-completion` is valid bash and, sourced, completes commands, each command's
 * options (all of them, from its table), spec files, spec keys as key= and an enumerated key's
 * values, with bash splitting at '=' or not. */
TEST(cli_bash_completion_completes) {
    char dir[256], cmd[4096], path[400];
    char *out = malloc(BIG);
    if (!out || test_tmpdir(dir, sizeof dir, "completion")) return free(out);
    snprintf(cmd, sizeof cmd, "%s help --bash-completion > %s/lrpe.bash && bash -n %s/lrpe.bash", test_lrpe_bin(), dir, dir);
    CHECK(test_capture(cmd, out, BIG) == 0 && out[0] == 0, "bash -n: %s", out);
    snprintf(path, sizeof path, "%s/t.sh", dir);
    FILE *f = fopen(path, "w");
    if (!f) return free(out), test_rmtree(dir), test_fail(__FILE__, __LINE__, "cannot write %s", path);
    fprintf(f, "cd %s && touch x.yaml other.yaml notes.txt && mkdir -p sub && source ./lrpe.bash\n"
               "t() { COMP_CWORD=$1; shift; COMP_WORDS=(\"$@\"); _lrpe; echo \"${COMP_WORDS[*]} -> ${COMPREPLY[*]}\"; }\n"
               "t 1 lrpe ru\nt 3 lrpe run x.yaml model.enc\nt 5 lrpe run x.yaml model.encoding = ro\n"
               "t 3 lrpe run x.yaml model.encoding=lrpe-u\nt 2 lrpe bench x.\nt 2 lrpe run --dev\n"
               "t 4 lrpe run --device = cu\nt 3 lrpe bench --device c\nt 3 lrpe report --out su\nt 2 lrpe data w\n"
               "t 2 lrpe help sta\nt 2 lrpe run train.warm\n",
            dir);
    for (int i = 0; i < cli_command_count(); i++) fprintf(f, "t 2 lrpe %s -\n", cli_command_at(i)->name);
    fclose(f);
    snprintf(cmd, sizeof cmd, "bash %s", path);
    CHECK(test_capture(cmd, out, BIG) == 0, "harness: %s", out);
    static const char *const want[] = {"lrpe ru -> run\n", "lrpe run x.yaml model.enc -> model.encoding=\n",
                                       "lrpe run x.yaml model.encoding = ro -> rope\n",
                                       "lrpe run x.yaml model.encoding=lrpe-u -> model.encoding=lrpe-unitary\n",
                                       "lrpe bench x. -> x.yaml\n", "lrpe run --dev -> --device\n",
                                       "lrpe run --device = cu -> cuda\n", "lrpe bench --device c -> cpu cuda\n",
                                       "lrpe report --out su -> sub\n", "lrpe data w -> wordnet\n", "lrpe help sta -> status\n",
                                       "lrpe run train.warm -> train.warmup=\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) CHECK(strstr(out, want[i]) != NULL, "want '%s' in:\n%s", want[i], out);
    for (int i = 0; i < cli_command_count(); i++) { /* every option of the table, and --help */
        const cli_command *c = cli_command_at(i);
        char line[4096] = "", word[80];
        snprintf(word, sizeof word, "\nlrpe %s - -> ", c->name);
        const char *at = strstr(out, word);
        if (at) snprintf(line, sizeof line, "%.*s ", (int)strcspn(at + strlen(word), "\n"), at + strlen(word));
        CHECK(strstr(line, "--help "), "%s: --help completed: %s", c->name, line);
        for (const cli_option *o = c->options; o->name; o++) {
            snprintf(word, sizeof word, "--%s ", o->name);
            CHECK(strstr(line, word) != NULL, "%s: %s not completed: %s", c->name, word, line);
        }
    }
    free(out);
    test_rmtree(dir);
}

/* The provenance value of key of the only run in <f>/<db_name>, into out ("" when none). */
static void only_provenance(const harness_fx *f, const char *db_name, const char *key, char *out, size_t len) {
    db *d = fx_db(f, db_name);
    db_run *runs = NULL;
    db_text *prov = NULL;
    int n = 0, k = 0;
    char err[512];
    out[0] = 0;
    if (d && !db_runs_list(d, NULL, 0, &runs, &n, err, sizeof err) && n == 1 &&
        !db_provenance_get(d, runs[0].run_id, &prov, &k, err, sizeof err))
        for (int i = 0; i < k; i++)
            if (strcmp(prov[i].key, key) == 0 && prov[i].value) snprintf(out, len, "%s", prov[i].value);
    free(prov);
    free(runs);
    db_close(d);
}

/* The value libgomp last displayed for GOMP_SPINCOUNT (OMP_DISPLAY_ENV=verbose: each load of the
 * program displays it, so the last is the restarted process's), or "" when it displayed none. */
static const char *last_spincount(const char *out, char *buf, size_t n) {
    const char *at = NULL;
    buf[0] = 0;
    for (const char *p = strstr(out, "GOMP_SPINCOUNT = '"); p; p = strstr(p + 1, "GOMP_SPINCOUNT = '")) at = p;
    if (at) snprintf(buf, n, "%.*s", (int)strcspn(at + 18, "'"), at + 18);
    return buf;
}

/* lrpe run and lrpe bench wait passively when OMP_WAIT_POLICY is unset (libgomp itself reports a
 * spin count of 0, and provenance records who chose), restarting at most once; a value the user set
 * is kept. */
TEST(cli_omp_wait_policy_passive_unless_user_set) {
    harness_fx f;
    if (fx_open(&f)) return;
    char *out = malloc(BIG), value[256], spin[64];
    if (!out) return fx_close(&f), test_fail(__FILE__, __LINE__, "out of memory");
    fx_write(&f, "s.yaml", "task: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\nmodel: {layers: 1, d_model: 16, heads: 2}\n"
                           "train: {steps: 2, batch: 2, eval_every: 0, eval_batches: 1, test_batches: 1, checkpoint_every: 0}\n");
    CHECK(fx_lrpe_env(&f, "env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose", "run s.yaml --db unset.db", out, BIG) == 0,
          "run: %s", out);
    only_provenance(&f, "unset.db", "omp_wait_policy", value, sizeof value);
    CHECK(strcmp(value, "passive (lrpe: OMP_WAIT_POLICY was unset)") == 0, "provenance: '%s'", value);
    last_spincount(out, spin, sizeof spin);
    CHECK(!spin[0] || strcmp(spin, "0") == 0, "libgomp spins %s times before sleeping:\n%s", spin, out);
    int loads = 0;
    for (const char *p = strstr(out, "OPENMP DISPLAY ENVIRONMENT BEGIN"); p; p = strstr(p + 1, "OPENMP DISPLAY ENVIRONMENT BEGIN")) loads++;
    CHECK(loads <= 2, "lrpe started %d times: one restart at most", loads);
    CHECK(fx_lrpe_env(&f, "OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose", "bench s.yaml --steps 1 --warmup 0 --db user.db", out,
                      BIG) == 0,
          "bench: %s", out);
    only_provenance(&f, "user.db", "omp_wait_policy", value, sizeof value);
    CHECK(strcmp(value, "active (user)") == 0, "provenance: '%s'", value);
    last_spincount(out, spin, sizeof spin);
    CHECK(!spin[0] || strcmp(spin, "0") != 0, "the user's active policy was replaced:\n%s", out);
    CHECK(fx_lrpe_env(&f, "env -u OMP_WAIT_POLICY", "bench s.yaml --steps 1 --warmup 0 --db unset.db", out, BIG) == 0, "%s", out);
    free(out);
    fx_close(&f);
}

/* A short spec loads with the warm-up derived from its steps, and the dry run says so. */
TEST(cli_dry_run_names_derived_values) {
    harness_fx f;
    if (fx_open(&f)) return;
    char out[65536];
    fx_write(&f, "s.yaml", "task: {kind: synthetic, dataset: copy}\ntrain: {steps: 40}\n");
    CHECK(fx_lrpe(&f, "run s.yaml --dry-run", out, sizeof out) == 0 &&
              strstr(out, "\nderived: train.warmup = 4 (train.steps / 10, at most 100)\n") && strstr(out, "  warmup: 4 "),
          "dry run: %s", out);
    CHECK(fx_lrpe(&f, "run s.yaml --dry-run train.warmup=40", out, sizeof out) == 2 &&
              strstr(out, "train.warmup (40) must be less than train.steps (40)") && one_line(out),
          "explicit warm-up of the whole run: %s", out);
    fx_close(&f);
}
