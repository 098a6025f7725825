/* The command-line contract: --help, --version, and exit code 2 for bad usage. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
