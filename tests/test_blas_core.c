/* OpenBLAS core selection (harness/run/blas_core.h): the mapping from reported core and CPU features, the
 * sgemm self-check, and the binary's behaviour with a user's OPENBLAS_CORETYPE and on the restart
 * path (forced on any machine with LRPE_BLAS_ASSUME_REPORTED). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "blas_core.h"
#include "test.h"

/* The mapping on a table of reported cores and CPUs. */
TEST(blas_core_mapping_table) {
    const blas_cpu none = {0};
    const blas_cpu avx = {.avx = true, .intel = true};
    const blas_cpu avx2_intel = {.avx = true, .avx2 = true, .fma = true, .intel = true};
    const blas_cpu avx2_amd = {.avx = true, .avx2 = true, .fma = true, .amd = true};
    const blas_cpu avx2_nofma = {.avx = true, .avx2 = true, .intel = true};
    const blas_cpu skx = {.avx = true, .avx2 = true, .fma = true, .avx512f = true, .avx512bw = true,
                          .avx512vl = true, .avx512dq = true, .intel = true};
    const blas_cpu f_only = {.avx = true, .avx2 = true, .fma = true, .avx512f = true, .intel = true};
    blas_cpu cpx = skx, zen4 = skx;
    cpx.avx512_bf16 = true;
    zen4.avx512_bf16 = true, zen4.intel = false, zen4.amd = true;
    static const struct {
        const char *reported;
        int cpu, cooperlake_ok;
        const char *want;
    } cases[] = {
        {"Prescott", 5, 0, "SkylakeX"},   {"Prescott", 2, 0, "Haswell"},   {"Prescott", 3, 0, "Zen"},
        {"Prescott", 1, 0, "Sandybridge"}, {"Prescott", 0, 0, NULL},       {"Haswell", 5, 0, NULL},
        {"Zen", 3, 0, NULL},              {"SkylakeX", 5, 0, NULL},       {"Sandybridge", 2, 0, NULL},
        {"Nehalem", 2, 0, "Haswell"},     {"Core2", 5, 0, "SkylakeX"},    {"Katmai", 1, 0, "Sandybridge"},
        {"Barcelona", 3, 0, "Zen"},       {"prescott", 2, 0, "Haswell"},  {"Prescott", 6, 0, "SkylakeX"},
        {"Prescott", 6, 1, "Cooperlake"}, {"Prescott", 7, 1, "Cooperlake"}, {"Prescott", 8, 0, "Haswell"},
        {"Prescott", 4, 0, "Sandybridge"}, {"Bulldozer", 2, 0, NULL},     {"Unknown", 3, 0, "Zen"},
        {NULL, 5, 0, NULL},
    };
    const blas_cpu *cpus[] = {&none, &avx, &avx2_intel, &avx2_amd, &avx2_nofma, &skx, &cpx, &zen4, &f_only};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = blas_core_better(cases[i].reported, cpus[cases[i].cpu], cases[i].cooperlake_ok);
        int ok = got && cases[i].want ? strcmp(got, cases[i].want) == 0 : got == cases[i].want;
        CHECK(ok, "case %zu: %s on cpu %d -> %s, want %s", i, cases[i].reported ? cases[i].reported : "(null)",
              cases[i].cpu, got ? got : "NULL", cases[i].want ? cases[i].want : "NULL");
    }
    CHECK(!blas_core_cooperlake_ok("OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH"), "0.3.21 lacks Cooperlake");
    CHECK(blas_core_cooperlake_ok("OpenBLAS 0.3.22 DYNAMIC_ARCH"), "0.3.22 has Cooperlake");
    CHECK(blas_core_cooperlake_ok("OpenBLAS 0.4.0"), "0.4.0");
    CHECK(!blas_core_cooperlake_ok("something else") && !blas_core_cooperlake_ok(NULL), "unparsable");
}

/* The CPU detection agrees with itself: AVX-512 implies AVX2 implies AVX on real hardware. */
TEST(blas_core_cpu_detect_consistent) {
    blas_cpu c = blas_cpu_detect();
    CHECK(!c.avx2 || c.avx, "avx2 without avx");
    CHECK(!c.avx512f || c.avx2, "avx512f without avx2");
    CHECK(!(c.intel && c.amd), "both vendors");
}

/* cblas_sgemm with one element of C off by 1% (plus 0.01). */
static void sgemm_off_by_a_bit(enum CBLAS_ORDER o, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, blasint m,
                               blasint n, blasint k, float alpha, const float *a, blasint lda, const float *b,
                               blasint ldb, float beta, float *c, blasint ldc) {
    cblas_sgemm(o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    c[ldc + 1] += 0.01f * (1.0f + fabsf(c[ldc + 1]));
}

/* cblas_sgemm that ignores the transposes (wrong unless both are NoTrans). */
static void sgemm_ignores_trans(enum CBLAS_ORDER o, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, blasint m,
                                blasint n, blasint k, float alpha, const float *a, blasint lda, const float *b,
                                blasint ldb, float beta, float *c, blasint ldc) {
    (void)ta, (void)tb;
    if (o == CblasRowMajor && lda >= k && ldb >= n)
        cblas_sgemm(o, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* The core in use computes correctly; wrong products are caught and named. */
TEST(blas_core_selfcheck_passes_and_can_fail) {
    char msg[200];
    CHECK(blas_core_selfcheck(cblas_sgemm, msg, sizeof msg) == 0, "core %s fails: %s", blas_core_name(), msg);
    CHECK(blas_core_selfcheck(sgemm_off_by_a_bit, msg, sizeof msg) == -1, "a wrong element is caught");
    CHECK(strstr(msg, "37x53x29") && strstr(msg, "relative error"), "message names the case: %s", msg);
    CHECK(blas_core_selfcheck(sgemm_ignores_trans, msg, sizeof msg) == -1, "ignored transposes are caught");
    CHECK(strstr(msg, "row-major TN") != NULL, "the first transposed case fails: %s", msg);
}

/* Runs `env -u ... <env> lrpe version`, capturing both streams; the exit code. */
static int run_version(const char *env, char *out, size_t cap) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "env -u OPENBLAS_CORETYPE -u LRPE_BLAS_REEXEC -u LRPE_BLAS_ASSUME_REPORTED %s %s version",
             env, test_lrpe_bin());
    return test_capture(cmd, out, cap);
}

/* Number of occurrences of s in text. */
static int count(const char *text, const char *s) {
    int n = 0;
    for (const char *p = strstr(text, s); p; p = strstr(p + 1, s)) n++;
    return n;
}

/* A user's OPENBLAS_CORETYPE is kept, reported as source "user", with no restart. */
TEST(blas_core_user_value_kept) {
    blas_cpu c = blas_cpu_detect();
    if (!c.avx) return test_skip("this CPU has no AVX: there is no better core to choose, so no user choice to keep");
    const char *core = c.avx2 && c.fma ? "Haswell" : "Sandybridge";
    char env[96], out[4096], want[96];
    snprintf(env, sizeof env, "OPENBLAS_CORETYPE=%s LRPE_BLAS_ASSUME_REPORTED=Prescott", core);
    CHECK(run_version(env, out, sizeof out) == 0, "exit code: %s", out);
    snprintf(want, sizeof want, "blas core: %s, source: user\n", core);
    CHECK(strstr(out, want) != NULL, "want '%s' in: %s", want, out);
    CHECK(!strstr(out, "restarting"), "no restart: %s", out);
}

/* With OpenBLAS's core treated as Prescott, lrpe restarts exactly once, silently, with the core this
 * CPU should get, the self-check passes, and provenance says lrpe chose it. */
TEST(blas_core_restart_path) {
    blas_cpu c = blas_cpu_detect();
    const char *want_core = blas_core_better("Prescott", &c, blas_core_cooperlake_ok(openblas_get_config()));
    char out[4096], want[160];
    CHECK(run_version("LRPE_BLAS_ASSUME_REPORTED=Prescott", out, sizeof out) == 0, "exit code: %s", out);
    if (!want_core) { /* a CPU without AVX: nothing to restart for */
        CHECK(!strstr(out, "restarting") && strstr(out, "source: openblas"), "no restart: %s", out);
        return;
    }
    CHECK(strncmp(out, "lrpe ", 5) == 0 && count(out, "\nlrpe ") == 0, "the version alone, printed once: %s", out);
    snprintf(want, sizeof want, "blas core: %s, source: lrpe (OpenBLAS reported Prescott)\n", want_core);
    CHECK(strstr(out, want) != NULL, "want '%s' in: %s", want, out);
    CHECK(!strstr(out, "self-check"), "self-check passed: %s", out);
    /* the reported core is kept when it is a specific one */
    CHECK(run_version("LRPE_BLAS_ASSUME_REPORTED=Haswell", out, sizeof out) == 0 && !strstr(out, "restarting") &&
              strstr(out, "source: openblas\n"),
          "specific core kept: %s", out);
}

/* A restarted process whose self-check fails (made to, on any CPU) says so once, restarts once with
 * the core OpenBLAS reported and runs, recording the fallback. */
TEST(blas_core_selfcheck_failure_falls_back) {
    char out[4096];
    CHECK(run_version("OPENBLAS_CORETYPE=Haswell LRPE_BLAS_REEXEC=selected:Haswell:Prescott LRPE_BLAS_SELFCHECK_FAIL=1",
                      out, sizeof out) == 0,
          "exit code: %s", out);
    CHECK(count(out, "failed lrpe's sgemm self-check (made to fail by LRPE_BLAS_SELFCHECK_FAIL)") == 1 &&
              strstr(out, "restarting with OPENBLAS_CORETYPE=Prescott\n"),
          "one fallback message: %s", out);
    CHECK(strstr(out, "blas core: Prescott, source: openblas (lrpe's choice Haswell failed its sgemm self-check)\n"),
          "fallback recorded: %s", out);
}

/* On a CPU without AVX-512, a restart that selected SkylakeX really crashes in the self-check
 * (illegal instruction): lrpe says so once, restarts once with the reported core and runs. */
TEST(blas_core_failed_selfcheck_falls_back_once) {
    blas_cpu c = blas_cpu_detect();
    if (c.avx512f)
        return test_skip("this CPU has AVX-512, so SkylakeX passes its self-check: the fallback cannot be provoked here");
    char out[4096];
    CHECK(run_version("OPENBLAS_CORETYPE=SkylakeX LRPE_BLAS_REEXEC=selected:SkylakeX:Prescott", out, sizeof out) == 0,
          "exit code: %s", out);
    CHECK(count(out, "failed lrpe's sgemm self-check") == 1 && strstr(out, "restarting with OPENBLAS_CORETYPE=Prescott\n"),
          "one fallback message: %s", out);
    CHECK(strstr(out, "blas core: Prescott, source: openblas (lrpe's choice SkylakeX failed its sgemm self-check)\n"),
          "fallback recorded: %s", out);
}
