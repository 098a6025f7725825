/* The matrix products of core/gemm.h against a double-precision reference:
 *  - gemm_f32 (OpenBLAS, or lrpe's kernel where gemm_f32_own) at every op(A), op(B) and odd shapes;
 *  - gemm_small (attention's products) likewise, at shapes that cover its blocks of rows and
 *    columns, their tails and a B^T past its packing limit; threads calling it at once;
 *  - gemm_own (the linear layers' products where gemm_f32_own) likewise, at shapes over several
 *    panels of rows and chunks of k with their tails; the same bits at 1 and 2 threads; which
 *    library gemm_f32 runs;
 *  - gemm_bf16 against the reference of the bf16-rounded inputs: a product of two bf16 numbers is
 *    exact in float32, so only the float32 accumulation differs (rtol 1e-5 of the sum of |terms|;
 *    a wrong packing or a lost pair is off by O(1)); K past one block (256) and odd, M and N off
 *    the micro-tile, beta 0 over NaN, 1 and 0.5; the same bits at 1 and 2 threads;
 *  - bf16's rounding: to nearest, ties to even;
 *  - the bf16 CPU backend's linear layer against the reference of its rounded inputs.
 * gemm_bf16 is skipped with its reason where the CPU lacks AVX512-BF16. */
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cblas.h>

#include "backend.h"
#include "gemm.h"
#include "gemm_kernel.h"
#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "threads.h"

static rng R;

/* op(X)[r][c] of a row-major X with leading dimension ld */
static float op_at(const float *X, int ld, gemm_op t, int r, int c) {
    return t == GEMM_T ? X[(size_t)c * ld + r] : X[(size_t)r * ld + c];
}

/* Checks C (after gemm) against alpha op(A) op(B) + beta C0 in double, with the inputs rounded by
 * `round` (NULL: as they are); rtol of the sum of |terms|; the columns from N to ldc untouched. */
static void check_product(const char *what, gemm_op ta, gemm_op tb, int M, int N, int K, float alpha, const float *A,
                          int lda, const float *B, int ldb, float beta, const float *C0, const float *C, int ldc,
                          float (*round)(float), double rtol) {
    int bad = 0;
    for (int i = 0; i < M; i++)
        if (memcmp(C + (size_t)i * ldc + N, C0 + (size_t)i * ldc + N, sizeof *C * (size_t)(ldc - N)) && bad++ < 3)
            test_fail(__FILE__, __LINE__, "%s op %d%d %dx%dx%d: row %d written past column %d", what, ta, tb, M, N,
                      K, i, N);
    for (int i = 0; i < M && bad < 3; i++)
        for (int j = 0; j < N && bad < 3; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                float a = op_at(A, lda, ta, i, k), b = op_at(B, ldb, tb, k, j);
                if (round) a = round(a), b = round(b);
                s += (double)a * b, mag += fabs((double)a * b);
            }
            double c0 = beta != 0.0f ? C0[(size_t)i * ldc + j] : 0.0;
            double want = alpha * s + beta * c0, got = C[(size_t)i * ldc + j];
            if (!(fabs(got - want) <= rtol * (fabs(alpha) * mag + fabs(beta * c0)) + 1e-30)) {
                test_fail(__FILE__, __LINE__, "%s op %d%d %dx%dx%d beta %g: C[%d][%d] = %.9g, want %.9g", what, ta,
                          tb, M, N, K, beta, i, j, got, want);
                bad++;
            }
        }
}

/* One product of each op combination at M x N x K through `gemm`, checked as above; beta 0 runs
 * over a C full of NaN (it must not be read). */
static void product_case(const char *what, gemm_fn gemm, float (*round)(float), double rtol, int M, int N, int K,
                         float beta) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 5;
            float *A = trandn(&R, (size_t)(ta ? K : M) * lda + 1, 1.0f);
            float *B = trandn(&R, (size_t)(tb ? N : K) * ldb + 1, 1.0f);
            float *C0 = trandn(&R, (size_t)M * ldc, 1.0f);
            if (beta == 0.0f)
                for (size_t i = 0; i < (size_t)M * ldc; i++) C0[i] = NAN;
            float *C = tdup(C0, (size_t)M * ldc);
            gemm((gemm_op)ta, (gemm_op)tb, M, N, K, 0.75f, A, lda, B, ldb, beta, C, ldc);
            check_product(what, (gemm_op)ta, (gemm_op)tb, M, N, K, 0.75f, A, lda, B, ldb, beta, C0, C, ldc, round,
                          rtol);
            free(A), free(B), free(C0), free(C);
        }
}

/* product_case for each of n shapes {M, N, K}, at beta 0, 0.5 and 1. */
static void shape_cases(const char *what, gemm_fn gemm, float (*round)(float), const int (*shapes)[3], size_t n) {
    for (size_t s = 0; s < n; s++)
        for (int b = 0; b < 3; b++)
            product_case(what, gemm, round, 1e-5, shapes[s][0], shapes[s][1], shapes[s][2], 0.5f * b);
}

/* 1 when gemm gives the same bits at 1 and 2 threads for op(A) B at M x N x K (random operands);
 * the thread count is restored. */
static int same_bits_at_1_and_2_threads(gemm_fn gemm, gemm_op ta, int M, int N, int K) {
    float *A = trandn(&R, (size_t)M * K, 1.0f), *B = trandn(&R, (size_t)K * N, 1.0f);
    float *C1 = tcalloc((size_t)M * N), *C2 = tcalloc((size_t)M * N);
    const int threads = omp_get_max_threads(), lda = ta == GEMM_T ? M : K;
    threads_set(1);
    gemm(ta, GEMM_N, M, N, K, 1.0f, A, lda, B, N, 0.0f, C1, N);
    threads_set(2);
    gemm(ta, GEMM_N, M, N, K, 1.0f, A, lda, B, N, 0.0f, C2, N);
    threads_set(threads);
    const int same = memcmp(C1, C2, (size_t)M * N * sizeof *C1) == 0;
    free(A), free(B), free(C1), free(C2);
    return same;
}

static const int SHAPES[][3] = {{1, 1, 1}, {7, 17, 3}, {33, 65, 257}, {70, 32, 600}, {130, 40, 64}, {20, 30, 1100}};

TEST(gemm_f32_matches_reference) {
    rng_seed(&R, 20261206, 1);
    shape_cases("gemm_f32", gemm_f32, NULL, SHAPES, sizeof SHAPES / sizeof *SHAPES);
}

/* Attention's shapes (tile x tile x head, tile x head x tile, head x head x tile), then odd ones:
 * row blocks of 16, 8, 5 and 4 (AVX2: 12, 6 and 4) with tails, 1 to 4 vectors with partial last
 * ones, several column blocks, and B^T at its packing limit (K = 256) and past it. */
static const int SMALL_SHAPES[][3] = {{64, 64, 16}, {64, 16, 64}, {16, 16, 64}, {64, 128, 64}, {37, 53, 21},
                                      {19, 48, 9},  {9, 20, 33},  {3, 200, 256}, {70, 130, 300}, {1, 1, 1}};

TEST(gemm_small_matches_reference) {
    rng_seed(&R, 20261207, 1);
    shape_cases("gemm_small", gemm_small, NULL, SMALL_SHAPES, sizeof SMALL_SHAPES / sizeof *SMALL_SHAPES);
    float A[1] = {1}, B[1] = {1}, C[2] = {3, 4}; /* K = 0: C = beta C */
    gemm_small(GEMM_N, GEMM_T, 1, 2, 0, 1.0f, A, 1, B, 1, 0.5f, C, 2);
    CHECK(C[0] == 1.5f && C[1] == 2.0f, "K = 0: %g %g", C[0], C[1]);
    if (!gemm_small_own()) test_skip("gemm_small runs OpenBLAS on this CPU (neither AVX-512F nor AVX2 with FMA): lrpe's kernel untested");
}

/* gemm_small_tri on a triangular op(A) gives gemm_small's bits (the skipped terms are 0 times finite
 * numbers): lower and upper, A and A^T, square and wider than tall with the diagonal moved right
 * (causal softmax's tiles: diag = the tile's first query), over blocks of rows with their tails;
 * and for C's lower part, the entries it promises, for A B and A B^T, past one block of 64 columns. */
TEST(gemm_small_tri_equals_the_whole_product) {
    rng_seed(&R, 20261207, 6);
    static const int shapes[][4] = {{64, 64, 64, 0}, {64, 16, 64, 0}, {37, 20, 37, 0}, {50, 33, 50, 0},
                                    {1, 5, 1, 0},    {64, 16, 128, 64}, {20, 9, 45, 25}}; /* M, N, K, diag */
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int upper = 0; upper < 2; upper++) {
                const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], diag = shapes[s][3];
                const int lda = ta ? M : K;
                float *A = trandn(&R, (size_t)M * K, 1.0f), *B = trandn(&R, (size_t)K * N, 1.0f);
                float *want = trandn(&R, (size_t)M * N, 1.0f), *got = tdup(want, (size_t)M * N);
                for (int i = 0; i < M; i++) /* op(A)[i, k] = 0 past the diagonal at k = i + diag */
                    for (int k = 0; k < K; k++)
                        if (upper ? k < i - diag : k > i + diag)
                            A[ta ? (size_t)k * lda + i : (size_t)i * lda + k] = 0.0f;
                const gemm_tri tri = upper ? GEMM_UPPER : GEMM_LOWER;
                gemm_small((gemm_op)ta, GEMM_N, M, N, K, 0.5f, A, lda, B, N, 1.0f, want, N);
                gemm_small_tri((gemm_op)ta, GEMM_N, tri, diag, M, N, K, 0.5f, A, lda, B, N, 1.0f, got, N);
                CHECK(memcmp(want, got, sizeof *got * M * N) == 0, "%dx%dx%d diag %d op(A) %d %s: differs",
                      M, N, K, diag, ta, upper ? "upper" : "lower");
                free(A), free(B), free(want), free(got);
            }
    static const int cshapes[][4] = {{64, 64, 16, 0}, {64, 64, 64, 0}, {37, 37, 20, 0}, {100, 100, 30, 0},
                                     {70, 90, 8, 0},  {64, 128, 16, 64}, {30, 100, 7, 40}}; /* M, N, K, diag */
    for (size_t s = 0; s < sizeof cshapes / sizeof *cshapes; s++)
        for (int tb = 0; tb < 2; tb++) {
            const int M = cshapes[s][0], N = cshapes[s][1], K = cshapes[s][2], diag = cshapes[s][3];
            const int ldb = tb ? K : N;
            float *A = trandn(&R, (size_t)M * K, 1.0f), *B = trandn(&R, (size_t)N * K, 1.0f);
            float *want = trandn(&R, (size_t)M * N, 1.0f), *got = tdup(want, (size_t)M * N);
            gemm_small(GEMM_N, (gemm_op)tb, M, N, K, 0.5f, A, K, B, ldb, 0.0f, want, N);
            gemm_small_tri(GEMM_N, (gemm_op)tb, GEMM_C_LOWER, diag, M, N, K, 0.5f, A, K, B, ldb, 0.0f, got, N);
            int bad = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < 16 * (i / 16 + 1) + diag && j < N; j++)
                    bad += memcmp(&want[(size_t)i * N + j], &got[(size_t)i * N + j], sizeof *got) != 0;
            CHECK(bad == 0, "%dx%dx%d diag %d op(B) %d: %d promised entries of C differ", M, N, K, diag, tb, bad);
            free(A), free(B), free(want), free(got);
        }
}

/* gemm_transpose moves every element exactly, with tails of its 16 x 16 blocks in both directions
 * and strides wider than the matrices, and writes nothing else of dst. */
TEST(gemm_transpose_moves_each_element) {
    rng_seed(&R, 20261207, 9);
    static const int shapes[][4] = {{1, 1, 1, 1}, {16, 16, 16, 16}, {17, 33, 40, 20}, {256, 64, 768, 272},
                                    {70, 5, 9, 90}}; /* rows, cols, lds, ldd */
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1], lds = shapes[s][2], ldd = shapes[s][3];
        float *src = trandn(&R, (size_t)rows * lds, 1.0f), *dst = trandn(&R, (size_t)cols * ldd, 1.0f);
        float *want = tdup(dst, (size_t)cols * ldd);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) want[(size_t)j * ldd + i] = src[(size_t)i * lds + j];
        gemm_transpose(dst, ldd, src, lds, rows, cols);
        CHECK(memcmp(dst, want, sizeof *dst * cols * ldd) == 0, "%d x %d (lds %d, ldd %d): differs", rows, cols,
              lds, ldd);
        free(src), free(dst), free(want);
    }
}

/* gemm_own's panels of 256 rows and chunks of 128 (A^T) or 256 k with their tails (A^T and B packed per
 * chunk), column blocks with partial vectors, groups of 256 columns with a partial one (600), the
 * linear layers' own shapes at d = 64, and one panel split by columns over the threads (40 rows). */
static const int OWN_SHAPES[][3] = {{300, 100, 700}, {600, 70, 40}, {257, 33, 600}, {64, 256, 2048},
                                       {2048, 64, 64},  {40, 200, 1100}, {300, 600, 200}};

TEST(gemm_own_matches_reference) {
    if (!gemm_small_own()) {
        test_skip("this CPU has neither AVX-512F nor AVX2 with FMA: gemm_f32 runs OpenBLAS");
        return;
    }
    rng_seed(&R, 20261207, 3);
    shape_cases("gemm_own", gemm_own, NULL, OWN_SHAPES, sizeof OWN_SHAPES / sizeof *OWN_SHAPES);
    /* A^T with its rows 2 KB apart (512 floats), whose chunks are copied first */
    enum { M = 300, N = 70, K = 300, LDA = 512 };
    float *A = trandn(&R, (size_t)K * LDA, 1.0f), *B = trandn(&R, (size_t)K * N, 1.0f);
    float *C0 = trandn(&R, (size_t)M * N, 1.0f), *C = tdup(C0, (size_t)M * N);
    gemm_own(GEMM_T, GEMM_N, M, N, K, 0.75f, A, LDA, B, N, 0.5f, C, N);
    check_product("gemm_own, A^T rows 2 KB apart", GEMM_T, GEMM_N, M, N, K, 0.75f, A, LDA, B, N, 0.5f, C0, C, N,
                  NULL, 1e-5);
    free(A), free(B), free(C0), free(C);
}

/* The same bits at 1 and 2 threads: over panels of rows (600 rows) and groups of columns (600), and
 * over blocks of columns when there are fewer panels than threads (64 rows, 200 columns). */
TEST(gemm_own_same_bits_at_one_and_two_threads) {
    if (!gemm_small_own()) {
        test_skip("this CPU has neither AVX-512F nor AVX2 with FMA: gemm_f32 runs OpenBLAS");
        return;
    }
    rng_seed(&R, 20261207, 4);
    static const int shapes[][3] = {{600, 100, 700}, {64, 200, 300}, {600, 600, 150}};
    for (int s = 0; s < 3; s++)
        for (int ta = 0; ta < 2; ta++)
            CHECK(same_bits_at_1_and_2_threads(gemm_own, (gemm_op)ta, shapes[s][0], shapes[s][1], shapes[s][2]),
                  "%dx%dx%d op(A) %d: 1 and 2 threads differ", shapes[s][0], shapes[s][1], shapes[s][2], ta);
}

/* gemm_own_bias gives the bits of filling C with the bias rows and adding the product (beta 1):
 * over chunks of k, groups of columns with a partial one, partial vectors, and blocks of columns
 * split over the threads (40 rows). */
TEST(gemm_own_bias_equals_filling_c_first) {
    if (!gemm_small_own()) {
        test_skip("this CPU has no AVX-512F: the linear layers' bias is added by filling C first");
        return;
    }
    rng_seed(&R, 20261207, 5);
    static const int shapes[][3] = {{300, 600, 200}, {7, 17, 3}, {2048, 64, 64}, {40, 200, 1100}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = trandn(&R, (size_t)M * K, 1.0f), *B = trandn(&R, (size_t)N * K, 1.0f), *bias = trandn(&R, N, 1.0f);
        float *want = trandn(&R, (size_t)M * N, 1.0f), *got = trandn(&R, (size_t)M * N, 1.0f); /* got: garbage */
        for (int i = 0; i < M; i++) memcpy(want + (size_t)i * N, bias, sizeof *bias * N);
        gemm_own(GEMM_N, GEMM_T, M, N, K, 1.0f, A, K, B, K, 1.0f, want, N);
        gemm_own_bias(M, N, K, A, K, B, K, bias, got, N);
        CHECK(memcmp(want, got, sizeof *got * M * N) == 0, "%dx%dx%d: the bias added as C is stored differs", M, N, K);
        free(A), free(B), free(bias), free(want), free(got);
    }
}

/* Thread 1 takes tasks of thread 0's products: first while it makes small products of its own,
 * more of them than thread 0 has started (ahead, as the shard on a faster core is), then with no
 * work left (gemm_share_help), as the first shard done does in a step. Each product, copied the
 * moment it returns, has the bits it has on one thread (a task still running elsewhere, run twice
 * or not at all would show; tasks that add into C, beta 1, included), and thread 1 took tasks both
 * ways. */
TEST(gemm_share_others_take_tasks_same_bits) {
    if (!gemm_small_own()) {
        test_skip("this CPU has neither AVX-512F nor AVX2 with FMA: gemm_f32 runs OpenBLAS, which shares no tasks");
        return;
    }
    if (omp_get_num_procs() < 2) {
        test_skip("one processor: a second thread would only run when the first is preempted");
        return;
    }
    rng_seed(&R, 20261207, 6);
    enum { M = 2048, N = 512, K = 256, PRODUCTS = 6 };
    float *A = trandn(&R, (size_t)M * K, 1.0f), *B = trandn(&R, (size_t)N * K, 1.0f), *bias = trandn(&R, N, 1.0f);
    float *want[PRODUCTS], *got[PRODUCTS], *seen[PRODUCTS];
    size_t size[PRODUCTS];
    for (int p = 0; p < PRODUCTS; p++) { /* forward with bias, input gradient, weight gradient (beta 1) */
        size[p] = p % 3 == 2 ? (size_t)N * K : (size_t)M * (p % 3 ? K : N);
        want[p] = trandn(&R, size[p], 1.0f), got[p] = tdup(want[p], size[p]), seen[p] = tcalloc(size[p]);
    }
    float tiny_want[16 * 16], tiny[16 * 16];
    gemm_own(GEMM_N, GEMM_T, 16, 16, K, 1.0f, A, K, B, K, 0.0f, tiny_want, 16);
    const int threads = omp_get_max_threads();
    long taken = 0, taken_ahead = 0;
    int tiny_differ = 0;
    atomic_int zero_done = 0;
    for (int run = 0; run < 2; run++) {
        float **C = run ? got : want;
#pragma omp parallel num_threads(run ? 2 : 1)
        {
            omp_set_num_threads(1);
#pragma omp single
            gemm_share_begin(omp_get_num_threads());
            gemm_share_join(omp_get_thread_num());
            for (int p = 0; omp_get_thread_num() == 0 && p < PRODUCTS; p++) {
                if (p % 3 == 0) gemm_own_bias(M, N, K, A, K, B, K, bias, C[p], N);
                if (p % 3 == 1) gemm_own(GEMM_N, GEMM_N, M, K, N, 1.0f, C[0], N, B, K, 0.0f, C[p], K);
                if (p % 3 == 2) gemm_own(GEMM_T, GEMM_N, N, K, M, 1.0f, C[0], N, A, K, 1.0f, C[p], K);
                if (run) memcpy(seen[p], C[p], sizeof(float) * size[p]);
            }
            if (omp_get_thread_num() == 0) atomic_store(&zero_done, 1);
            while (omp_get_thread_num() == 1 && !atomic_load(&zero_done)) { /* ahead: its small products */
                gemm_own(GEMM_N, GEMM_T, 16, 16, K, 1.0f, A, K, B, K, 0.0f, tiny, 16);
                tiny_differ += memcmp(tiny, tiny_want, sizeof tiny) != 0;
                taken_ahead = gemm_share_taken();
            }
            gemm_share_help();
        }
        if (run) taken = gemm_share_taken();
        atomic_store(&zero_done, 0);
    }
    threads_set(threads);
    for (int p = 0; p < PRODUCTS; p++)
        CHECK(!memcmp(want[p], seen[p], sizeof(float) * size[p]), "product %d: shared tasks gave other bits", p);
    CHECK(taken > 0, "thread 1 took none of thread 0's tasks");
    CHECK(taken_ahead > 0, "thread 1, ahead (more products started), took none of thread 0's tasks");
    CHECK(tiny_differ == 0, "%d of thread 1's own products gave other bits", tiny_differ);
    for (int p = 0; p < PRODUCTS; p++) free(want[p]), free(got[p]), free(seen[p]);
    free(A), free(B), free(bias);
}

/* gemm_f32 runs lrpe's kernel exactly where the CPU has AVX-512F and is an AMD CPU or OpenBLAS's
 * core has no AVX-512 kernels, and the provenance line says which. */
TEST(gemm_f32_library_follows_the_cpu_and_openblas_core) {
    const char *core = openblas_get_corename();
    const int avx512_core = core && (!strcasecmp(core, "SkylakeX") || !strcasecmp(core, "Cooperlake") ||
                                     !strcasecmp(core, "SapphireRapids"));
    const int amd = __builtin_cpu_is("amd");
    CHECK(gemm_f32_own() == (gemm_small_own() && (amd || !avx512_core)),
          "core %s, own kernel %d, amd %d: gemm_f32_own %d", core, gemm_small_own(), amd, gemm_f32_own());
    const char *lib = gemm_library();
    char want[64];
    snprintf(want, sizeof want, "fp32: lrpe's %s kernel", gemm_f32_own() ? gemm_kernel_active()->name : "");
    CHECK(!strncmp(lib, gemm_f32_own() ? want : "fp32: OpenBLAS sgemm", strlen(want)), "%s", lib);
    if (gemm_f32_own()) CHECK(strstr(lib, avx512_core ? "an AMD CPU" : "no AVX-512 kernels") != NULL, "%s", lib);
}

/* Two threads at once, each repeating its own A B^T through its packing buffer (long enough to
 * overlap the other's), give the bits of one thread. */
TEST(gemm_small_threads_at_once) {
    rng_seed(&R, 20261207, 2);
    enum { M = 40, N = 100, K = 48, REPEAT = 3000 };
    float *A = trandn(&R, 2 * M * K, 1.0f), *B = trandn(&R, 2 * N * K, 1.0f);
    float *C1 = tcalloc(2 * M * N), *C2 = tcalloc(2 * M * N);
    for (int t = 0; t < 2; t++)
        gemm_small(GEMM_N, GEMM_T, M, N, K, 1.0f, A + t * M * K, K, B + t * N * K, K, 0.0f, C1 + t * M * N, N);
    int differ = 0;
#pragma omp parallel num_threads(2) reduction(+ : differ)
    {
        const int t = omp_get_thread_num();
        for (int rep = 0; rep < REPEAT; rep++) {
            gemm_small(GEMM_N, GEMM_T, M, N, K, 1.0f, A + t * M * K, K, B + t * N * K, K, 0.0f, C2 + t * M * N, N);
            differ += memcmp(C1 + t * M * N, C2 + t * M * N, sizeof(float) * M * N) != 0;
        }
    }
    CHECK(differ == 0, "%d of %d products at two threads differ from one thread's", differ, 2 * REPEAT);
    free(A), free(B), free(C1), free(C2);
}

TEST(gemm_bf16_rounds_to_nearest_even) {
    CHECK(gemm_bf16_round(1.0f) == 1.0f && gemm_bf16_round(-2.5f) == -2.5f, "exact values stay");
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1; just above goes up */
    CHECK(gemm_bf16_round(1.0f + 0x1p-8f) == 1.0f, "tie to even: %g", gemm_bf16_round(1.0f + 0x1p-8f));
    CHECK(gemm_bf16_round(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f, "above the tie rounds up");
    CHECK(gemm_bf16_round(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f, "tie to even, upwards");
    CHECK(isnan(gemm_bf16_round(NAN)) && isinf(gemm_bf16_round(INFINITY)), "NaN and infinity stay");
    CHECK(fabsf(gemm_bf16_round(0.1f) - 0.1f) <= 0.1f * 0x1p-9f, "within half a bf16 ulp");
}

TEST(gemm_bf16_matches_reference_of_rounded_inputs) {
    if (!gemm_bf16_supported()) {
        test_skip("this CPU has no AVX512-BF16");
        return;
    }
    rng_seed(&R, 20261206, 2);
    shape_cases("gemm_bf16", gemm_bf16, gemm_bf16_round, SHAPES, sizeof SHAPES / sizeof *SHAPES);
    /* K = 0: C = beta C */
    float A[1] = {1}, B[1] = {1}, C[2] = {3, 4};
    gemm_bf16(GEMM_N, GEMM_N, 1, 2, 0, 1.0f, A, 1, B, 2, 0.5f, C, 2);
    CHECK(C[0] == 1.5f && C[1] == 2.0f, "K = 0: %g %g", C[0], C[1]);
}

TEST(gemm_bf16_same_bits_at_one_and_two_threads) {
    if (!gemm_bf16_supported()) {
        test_skip("this CPU has no AVX512-BF16");
        return;
    }
    rng_seed(&R, 20261206, 3);
    CHECK(same_bits_at_1_and_2_threads(gemm_bf16, GEMM_N, 300, 100, 700), "1 and 2 threads differ");
}

/* a copy of x[n] rounded to bf16 */
static float *rounded(const float *x, size_t n) {
    float *r = tcalloc(n);
    for (size_t i = 0; i < n; i++) r[i] = gemm_bf16_round(x[i]);
    return r;
}

/* The bf16 CPU backend's linear layer against the double reference of its bf16-rounded inputs
 * (the bias and its gradient stay float32), on pre-filled gradients; rtol 1e-4 as the backend
 * suite's. */
TEST(backend_cpu_bf16_linear_matches_reference_of_rounded_inputs) {
    if (!gemm_bf16_supported()) {
        test_skip("this CPU has no AVX512-BF16");
        return;
    }
    rng_seed(&R, 20261206, 4);
    const backend *be = &backend_cpu_bf16;
    const int N = 70, IC = 40, OC = 33;
    const size_t nx = (size_t)N * IC, nw = (size_t)OC * IC, no = (size_t)N * OC;
    float *x = trandn(&R, nx, 1.0f), *w = trandn(&R, nw, 0.5f), *b = trandn(&R, OC, 1.0f);
    float *dout = trandn(&R, no, 1.0f), *dx = trandn(&R, nx, 1.0f), *dw = trandn(&R, nw, 1.0f);
    float *db = trandn(&R, OC, 1.0f);
    float *xr = rounded(x, nx), *wr = rounded(w, nw), *doutr = rounded(dout, no);
    float *out = tcalloc(no), *want = tcalloc(no), *dxw = tdup(dx, nx), *dww = tdup(dw, nw), *dbw = tdup(db, OC);
    be->linear_forward(be, out, x, w, b, N, IC, OC);
    ref_linear_forward(want, xr, wr, b, N, IC, OC);
    CHECK_ARRAYS("bf16 linear forward", out, want, no, 1e-4, 1e-5);
    be->linear_backward(be, dx, dw, db, dout, x, w, N, IC, OC);
    ref_linear_backward(dxw, dww, NULL, doutr, xr, wr, N, IC, OC);
    ref_linear_backward(NULL, want, dbw, dout, x, w, N, IC, OC); /* want: a scratch dw here */
    CHECK_ARRAYS("bf16 linear dinp", dx, dxw, nx, 1e-4, 1e-5);
    CHECK_ARRAYS("bf16 linear dw", dw, dww, nw, 1e-4, 1e-5);
    CHECK_ARRAYS("bf16 linear db (float32)", db, dbw, OC, 1e-4, 1e-5);
    free(x), free(w), free(b), free(dout), free(dx), free(dw), free(db), free(xr), free(wr), free(doutr);
    free(out), free(want), free(dxw), free(dww), free(dbw);
}

/* Every kernel this CPU can run (an AVX-512 CPU runs AVX2's as well) passes the kernel tests above. */
TEST(gemm_each_kernel_passes_the_kernel_tests) {
    const gemm_kernel *kernels[] = {&gemm_kernel_avx512, &gemm_kernel_avx2};
    int ran = 0;
    for (size_t i = 0; i < sizeof kernels / sizeof *kernels; i++) {
        if (gemm_kernel_use(kernels[i])) continue;
        const int before = test_failures();
        gemm_small_matches_reference();
        gemm_small_tri_equals_the_whole_product();
        gemm_transpose_moves_each_element();
        gemm_own_matches_reference();
        gemm_own_same_bits_at_one_and_two_threads();
        gemm_own_bias_equals_filling_c_first();
        CHECK(test_failures() == before, "the %s kernel failed the checks above", kernels[i]->name);
        ran++;
    }
    gemm_kernel_use(NULL);
    if (!ran) test_skip("this CPU has neither AVX-512F nor AVX2 with FMA: no kernel of lrpe's runs here");
}

/* The AVX-512 and AVX2 kernels give the same bits (each element one chain of fused multiply-adds
 * over k in order): attention's products, masked ones among them, and the linear layers' with
 * their bias, chunks of k and panels. */
TEST(gemm_kernels_give_the_same_bits) {
    if (!gemm_kernel_avx512.supported() || !gemm_kernel_avx2.supported()) {
        test_skip("this CPU cannot run both the AVX-512 and the AVX2 kernel");
        return;
    }
    rng_seed(&R, 20261208, 1);
    enum { M = 300, N = 130, K = 600, KINDS = 5 };
    float *A = trandn(&R, (size_t)M * K, 1.0f), *B = trandn(&R, (size_t)K * N, 1.0f), *bias = trandn(&R, N, 1.0f);
    float *C[2][KINDS];
    const gemm_kernel *kernels[2] = {&gemm_kernel_avx512, &gemm_kernel_avx2};
    for (int k = 0; k < 2; k++) {
        gemm_kernel_use(kernels[k]);
        for (int p = 0; p < KINDS; p++) C[k][p] = tcalloc((size_t)M * N);
        gemm_small(GEMM_N, GEMM_T, 64, 64, 61, 0.125f, A, K, B, K, 0.0f, C[k][0], N);
        gemm_small_tri(GEMM_N, GEMM_N, GEMM_LOWER, 3, 37, 53, 41, 1.0f, A, K, B, N, 0.0f, C[k][1], N);
        gemm_small_tri(GEMM_T, GEMM_N, GEMM_UPPER, 0, 45, 70, 45, 1.0f, A, K, B, N, 0.0f, C[k][2], N);
        gemm_own_bias(M, N, K, A, K, B, K, bias, C[k][3], N);
        gemm_own(GEMM_T, GEMM_N, M, N, K, 0.5f, A, M, B, N, 0.0f, C[k][4], N);
    }
    gemm_kernel_use(NULL);
    for (int p = 0; p < KINDS; p++) {
        CHECK(!memcmp(C[0][p], C[1][p], sizeof(float) * M * N), "product %d: AVX-512 and AVX2 differ", p);
        free(C[0][p]), free(C[1][p]);
    }
    free(A), free(B), free(bias);
}
