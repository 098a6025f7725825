/* The command-line contract: --help, --version, and exit code 2 for bad usage. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
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
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "missing value after --device"), "no value: %s", out);
    snprintf(cmd, sizeof cmd, "%s bench --device cpu --device cuda --no-db", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "--device is given twice"), "twice: %s", out);
}
