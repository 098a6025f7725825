#include <string.h>

#include "ops.h"

/* number of valid tokens in row b */
static int valid_count(const uint8_t *valid, int b, int T) {
    if (!valid) return T;
    int k = 0;
    for (int t = 0; t < T; t++) k += valid[(size_t)b * T + t] != 0;
    return k;
}

void meanpool_forward(float *out, const float *inp, const uint8_t *valid, int B, int T, int C) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *y = out + (size_t)b * C;
        memset(y, 0, (size_t)C * sizeof *y);
        int k = valid_count(valid, b, T);
        if (!k) continue;
        for (int t = 0; t < T; t++) {
            if (valid && !valid[(size_t)b * T + t]) continue;
            const float *x = inp + ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++) y[c] += x[c];
        }
        for (int c = 0; c < C; c++) y[c] /= (float)k;
    }
}

void meanpool_backward(float *dinp, const float *dout, const uint8_t *valid, int B, int T, int C) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        int k = valid_count(valid, b, T);
        if (!k) continue;
        const float *dy = dout + (size_t)b * C;
        for (int t = 0; t < T; t++) {
            if (valid && !valid[(size_t)b * T + t]) continue;
            float *dx = dinp + ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++) dx[c] += dy[c] / (float)k;
        }
    }
}
