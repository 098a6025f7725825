#include <string.h>

#include "ops.h"

void embed_forward(float *out, const int32_t *tok, const float *wte, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, wte + (size_t)tok[n] * C, (size_t)C * sizeof *out);
}

void embed_backward(float *dwte, const float *dout, const int32_t *tok, int N, int C) {
    /* Each thread owns a block of channels and walks the tokens in order: no races, and the
     * summation order does not depend on the thread count. */
    const int block = 16;
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += block) {
        int c1 = c0 + block < C ? c0 + block : C;
        for (int n = 0; n < N; n++) {
            float *dst = dwte + (size_t)tok[n] * C;
            const float *src = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}
