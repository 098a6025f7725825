/* make install / make uninstall into a temporary prefix (and a DESTDIR stage): the installed lrpe
 * finds its share folder beside it, `lrpe data` prepares a dataset there, a real task trains from
 * another working folder, the man page and completion are in place, and uninstall leaves no file. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

/* Runs cmd (stderr joined) into out; 1 when it exited 0, else records the failure with the output. */
static int ran(const char *what, const char *cmd, char *out, size_t cap) {
    int rc = test_capture(cmd, out, cap);
    if (rc == 0) return 1;
    test_fail(__FILE__, __LINE__, "%s: exit %d: %s\n%s", what, rc, cmd, out);
    return 0;
}

/* The files under dir (find -type f), into out; their number. */
static int files_under(const char *dir, char *out, size_t cap) {
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "find '%s' -type f", dir);
    test_capture(cmd, out, cap);
    int n = 0;
    for (const char *p = out; *p; p++) n += *p == '\n';
    return n;
}

/* The make command line that installs (or uninstalls: verb) the binary under test into prefix. */
static void make_line(char *cmd, size_t n, const char *verb, const char *prefix, const char *destdir) {
    char bin[PATH_MAX] = "";
    if (!realpath(test_lrpe_bin(), bin)) snprintf(bin, sizeof bin, "%s", test_lrpe_bin());
    snprintf(cmd, n, "make --no-print-directory %s PREFIX='%s' DESTDIR='%s' INSTALL_BIN='%s'", verb, prefix, destdir, bin);
}

TEST(install_into_a_prefix_runs_from_anywhere_uninstall_leaves_nothing) {
    char dir[256], prefix[300], work[300], cmd[4 * PATH_MAX], out[16384];
    if (test_tmpdir(dir, sizeof dir, "install")) return test_fail(__FILE__, __LINE__, "mkdtemp");
    snprintf(prefix, sizeof prefix, "%s/prefix", dir);
    snprintf(work, sizeof work, "%s/elsewhere", dir);
    make_line(cmd, sizeof cmd, "install", prefix, "");
    if (!ran("make install", cmd, out, sizeof out)) return test_rmtree(dir);
    static const char *const INSTALLED[] = {"bin/lrpe", "share/man/man1/lrpe.1", "share/bash-completion/completions/lrpe",
                                            "share/lrpe/scripts/prepare-data.sh", "share/lrpe/scripts/data.sha256",
                                            "share/lrpe/experiments/paper/lm-kjv.yaml"};
    for (size_t i = 0; i < sizeof INSTALLED / sizeof INSTALLED[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", prefix, INSTALLED[i]);
        CHECK(access(path, R_OK) == 0, "make install did not install %s", INSTALLED[i]);
    }
    /* the installed lrpe looks for its data in the installation, says so, and refuses to train
     * before `lrpe data` with the path and the fix */
    const char *spec = "name: installed\n"
                       "task: {kind: textcls, dataset: wordnet, seq_len: 32}\n"
                       "model: {layers: 1, d_model: 16, heads: 2}\n"
                       "train: {steps: 3, warmup: 1, batch: 4, eval_every: 0, eval_batches: 1, test_batches: 1, checkpoint_every: 0}\n";
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && printf '%%s' '%s' > '%s/spec.yaml'", work, spec, work);
    ran("write the spec", cmd, out, sizeof out);
    char data[400], want[500];
    snprintf(data, sizeof data, "%s/share/lrpe/data", prefix);
    snprintf(cmd, sizeof cmd, "cd '%s' && env -u LRPE_DATA '%s/bin/lrpe' version", work, prefix);
    snprintf(want, sizeof want, "data: %s (from the installation)", data);
    if (ran("lrpe version", cmd, out, sizeof out)) CHECK(strstr(out, want), "want '%s' in: %s", want, out);
    snprintf(cmd, sizeof cmd, "cd '%s' && env -u LRPE_DATA '%s/bin/lrpe' run spec.yaml --db r.db", work, prefix);
    snprintf(want, sizeof want, "%s/wordnet/data.noun", data);
    CHECK(test_capture(cmd, out, sizeof out) != 0 && strstr(out, want) && strstr(out, "lrpe data"),
          "training before `lrpe data` should fail naming %s and `lrpe data`: %s", want, out);
    snprintf(cmd, sizeof cmd, "cd '%s' && env -u LRPE_DATA '%s/bin/lrpe' data wordnet", work, prefix);
    if (ran("lrpe data wordnet", cmd, out, sizeof out)) CHECK(strstr(out, data), "lrpe data names %s: %s", data, out);
    snprintf(cmd, sizeof cmd, "cd '%s' && rm -f r.db && env -u LRPE_DATA '%s/bin/lrpe' run spec.yaml --db r.db", work, prefix);
    if (ran("an installed lrpe trains from another folder", cmd, out, sizeof out))
        CHECK(strstr(out, "installed: 1 trained now"), "one run trained: %s", out);
    make_line(cmd, sizeof cmd, "uninstall", prefix, "");
    if (ran("make uninstall", cmd, out, sizeof out))
        CHECK(files_under(prefix, out, sizeof out) == 0, "make uninstall left files behind:\n%s", out);

    /* a DESTDIR stage holds the same tree under DESTDIR/PREFIX, and uninstalls the same way */
    char stage[300], staged[700];
    snprintf(stage, sizeof stage, "%s/stage", dir);
    make_line(cmd, sizeof cmd, "install", "/usr/local", stage);
    if (ran("make install DESTDIR", cmd, out, sizeof out)) {
        snprintf(staged, sizeof staged, "%s/usr/local/bin/lrpe", stage);
        CHECK(access(staged, X_OK) == 0 && files_under(stage, out, sizeof out) > 5, "staged install: %s", out);
        make_line(cmd, sizeof cmd, "uninstall", "/usr/local", stage);
        if (ran("make uninstall DESTDIR", cmd, out, sizeof out))
            CHECK(files_under(stage, out, sizeof out) == 0, "staged uninstall left files:\n%s", out);
    }
    test_rmtree(dir);
}
