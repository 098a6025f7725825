/* OpenBLAS kernel ("core") selection at start-up, and OpenMP's wait policy. OpenBLAS 0.3.21 does
 * not recognise some newer CPUs and falls back to a generic core (Prescott: SSE3 kernels, 4-6x
 * slower sgemm on AVX-512 machines). OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so
 * blas_core_select() re-executes lrpe with the variable set when the reported core is generic and
 * the CPU can run a better one; the restarted process checks sgemm against a naive product and
 * falls back when it disagrees. A user's OPENBLAS_CORETYPE (non-empty) is always kept.
 * libgomp likewise reads OMP_WAIT_POLICY when it loads; its default busy-waits, which makes small
 * models several times slower on a shared machine, so for the commands that compute the same
 * restart (one at most, for both reasons) sets OMP_WAIT_POLICY=passive when the user left it unset.
 *
 * Environment: OPENBLAS_CORETYPE (the user's choice, respected); OMP_WAIT_POLICY (the user's
 * choice, respected); LRPE_BLAS_REEXEC (set by lrpe on the restart: "selected:<core>:<reported>",
 * "fallback:<core>:<reported>" or "kept:-:-" (the core left as it was), with ":omp" appended when
 * lrpe set OMP_WAIT_POLICY; prevents any second selection); LRPE_BLAS_ASSUME_REPORTED=<core>
 * (testing aid only: treat the core OpenBLAS reports as this one, e.g. Prescott, so the restart
 * path runs on any machine); LRPE_BLAS_SELFCHECK_FAIL=1 (testing aid only: the restarted process's
 * self-check fails, so the fallback runs on any CPU). */
#ifndef LRPE_BLAS_CORE_H
#define LRPE_BLAS_CORE_H

#include <cblas.h>
#include <stdbool.h>
#include <stddef.h>

/* The CPU features that decide the core (usable ones: the OS saves the registers). */
typedef struct blas_cpu {
    bool avx, avx2, fma, avx512f, avx512bw, avx512vl, avx512dq, avx512_bf16;
    bool intel, amd;
} blas_cpu;

/* cblas_sgemm's type, so the self-check can be given a deliberately wrong product in tests. */
typedef void (*blas_sgemm_fn)(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                              blasint m, blasint n, blasint k, float alpha, const float *a, blasint lda,
                              const float *b, blasint ldb, float beta, float *c, blasint ldc);

/* This CPU's features from gcc's __builtin_cpu_supports / __builtin_cpu_is (gcc >= 7.4 reports AVX
 * and AVX-512 only when XCR0 says the OS saves their state, so no xgetbv of our own). */
blas_cpu blas_cpu_detect(void);

/* The OPENBLAS_CORETYPE to use instead of the reported core, or NULL when the reported core is fine
 * (only generic, pre-AVX cores are replaced): AVX-512 F+BW+VL+DQ -> SkylakeX (Cooperlake with
 * AVX512-BF16 when cooperlake_ok), else AVX2+FMA -> Haswell (Zen on AMD), else AVX -> Sandybridge. */
const char *blas_core_better(const char *reported, const blas_cpu *cpu, bool cooperlake_ok);

/* Whether the library described by config (openblas_get_config()) accepts
 * OPENBLAS_CORETYPE=Cooperlake: 0.3.22 and later (0.3.21 ships the kernels but not the name). */
bool blas_core_cooperlake_ok(const char *config);

/* Checks gemm against a naive double-precision product on a few shapes (37x53x29, 128x256x64; row-
 * and column-major, transposed operands, padded leading dimensions): 0 when every relative error
 * is below 1e-4, else -1 with the failing case in msg. */
int blas_core_selfcheck(blas_sgemm_fn gemm, char *msg, size_t len);

/* Called first thing in main(): may re-execute the program (/proc/self/exe with argv), once, with
 * OPENBLAS_CORETYPE set (a better core) and, when omp_passive and the user did not set it, with
 * OMP_WAIT_POLICY=passive; returns when no restart is needed or possible (then saying so on one
 * line of stderr). argv must be main's (NULL-terminated). */
void blas_core_select(int argc, char **argv, bool omp_passive);

/* OpenMP's wait policy as this process runs with it, for provenance: "passive (lrpe:
 * OMP_WAIT_POLICY was unset)", "<value> (user)" or "unset (OpenMP's default)". */
const char *blas_core_omp_wait(void);

/* The core OpenBLAS runs with (openblas_get_corename()). */
const char *blas_core_name(void);

/* How that core was chosen, for provenance: "openblas" (reported by OpenBLAS), "user"
 * (OPENBLAS_CORETYPE set by the user) or "lrpe (OpenBLAS reported <core>)"; a note in parentheses
 * when a restart or the self-check failed. */
const char *blas_core_source(void);

#endif
