#include "gemm.h"
#include "ops.h"

/* linear_forward through the product `gemm`. */
static void forward_with(gemm_fn gemm, float *out, const float *inp, const float *w, const float *b, int N, int IC,
                         int OC) {
    if (b) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] = b[o];
    }
    gemm(GEMM_N, GEMM_T, N, OC, IC, 1.0f, inp, IC, w, IC, b ? 1.0f : 0.0f, out, OC);
}

/* linear_backward through the product `gemm`. */
static void backward_with(gemm_fn gemm, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC) {
    if (dinp) gemm(GEMM_N, GEMM_N, N, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp, IC);
    gemm(GEMM_T, GEMM_N, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
    if (db) {
        /* column sums; each thread owns a block of columns and adds rows in order */
        const int block = 16;
#pragma omp parallel for schedule(static)
        for (int o0 = 0; o0 < OC; o0 += block) {
            int o1 = o0 + block < OC ? o0 + block : OC;
            float acc[16] = {0};
            for (int n = 0; n < N; n++)
                for (int o = o0; o < o1; o++) acc[o - o0] += dout[(size_t)n * OC + o];
            for (int o = o0; o < o1; o++) db[o] += acc[o - o0];
        }
    }
}

void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IC, int OC) {
    forward_with(gemm_f32, out, inp, w, b, N, IC, OC);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int N,
                     int IC, int OC) {
    backward_with(gemm_f32, dinp, dw, db, dout, inp, w, N, IC, OC);
}

void linear_forward_bf16(float *out, const float *inp, const float *w, const float *b, int N, int IC, int OC) {
    forward_with(gemm_bf16, out, inp, w, b, N, IC, OC);
}

void linear_backward_bf16(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                          int N, int IC, int OC) {
    backward_with(gemm_bf16, dinp, dw, db, dout, inp, w, N, IC, OC);
}
