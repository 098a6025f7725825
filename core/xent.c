#include <math.h>

#include "fastmath.h"
#include "ops.h"
#include "vec.h"

int xent_count(const int32_t *targets, int N) {
    int count = 0;
    for (int n = 0; n < N; n++) count += targets[n] >= 0;
    return count;
}

/* lse[n] of rows [n0, n1) of logits[N, V]. */
LRPE_VEC static void lse_span(float *lse, const float *logits, int n0, int n1, int V) {
    for (int n = n0; n < n1; n++) lse[n] = lrpe_logsumexp(logits + (size_t)n * V, V);
}

/* xent_backward on rows [n0, n1) (scale 0: zeros). */
LRPE_VEC static void dlogits_span(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                  int n0, int n1, int V, float scale) {
    for (int n = n0; n < n1; n++) {
        float *dz = dlogits + (size_t)n * V;
        if (targets[n] < 0 || scale == 0.0f) {
            for (int v = 0; v < V; v++) dz[v] = 0.0f;
            continue;
        }
        const float *z = logits + (size_t)n * V;
        for (int v = 0; v < V; v++) dz[v] = scale * lrpe_expf(z[v] - lse[n]);
        dz[targets[n]] -= scale;
    }
}

double xent_forward(float *lse, const float *logits, const int32_t *targets, int N, int V) {
#pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += VEC_ROWS) lse_span(lse, logits, n0, rows_end(n0, N), V);
    /* the mean in a fixed order, so it is the same whatever the thread count */
    double total = 0.0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= 0) total += (double)lse[n] - (double)logits[(size_t)n * V + targets[n]];
    int count = xent_count(targets, N);
    return count ? total / count : 0.0;
}

void xent_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                   int N, int V, float dloss) {
    int count = xent_count(targets, N);
    float scale = count ? dloss / (float)count : 0.0f;
#pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += VEC_ROWS)
        dlogits_span(dlogits, logits, lse, targets, n0, rows_end(n0, N), V, scale);
}
