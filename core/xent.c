#include <math.h>

#include "fastmath.h"
#include "ops.h"

int xent_count(const int32_t *targets, int N) {
    int count = 0;
    for (int n = 0; n < N; n++) count += targets[n] >= 0;
    return count;
}

double xent_forward(float *lse, const float *logits, const int32_t *targets, int N, int V) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float mx = z[0];
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        double s = 0.0;
        for (int v = 0; v < V; v++) s += lrpe_expf(z[v] - mx);
        lse[n] = mx + (float)log(s);
    }
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
    if (!count) return;
    float scale = dloss / (float)count;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0) continue;
        const float *z = logits + (size_t)n * V;
        float *dz = dlogits + (size_t)n * V;
        for (int v = 0; v < V; v++) dz[v] += scale * lrpe_expf(z[v] - lse[n]);
        dz[targets[n]] -= scale;
    }
}
