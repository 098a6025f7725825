#include "gradcheck.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "threads.h"

int gradcheck(const char *what, loss_fn f, void *ctx, float *x, const float *analytic, size_t n,
              double eps, double rtol, double atol, size_t max_checks) {
    size_t stride = n <= max_checks ? 1 : (n + max_checks - 1) / max_checks;
    int bad = 0;
    size_t worst = 0;
    double worst_num = 0.0, worst_excess = -1.0;
    for (size_t i = 0; i < n; i += stride) {
        float saved = x[i];
        x[i] = (float)(saved + eps);
        double hi = f(ctx);
        x[i] = (float)(saved - eps);
        double lo = f(ctx);
        x[i] = saved;
        /* divide by the step actually taken in float */
        double num = (hi - lo) / ((double)(float)(saved + eps) - (double)(float)(saved - eps));
        if (!test_close(analytic[i], num, rtol, atol)) {
            double excess = fabs(analytic[i] - num);
            if (excess > worst_excess) worst_excess = excess, worst = i, worst_num = num;
            bad++;
        }
    }
    f(ctx); /* leave the forward state as it was */
    if (bad)
        test_fail(__FILE__, __LINE__, "gradcheck %s: %d mismatches; worst [%zu] analytic %.7g numeric %.7g", what,
                  bad, worst, analytic[worst], worst_num);
    return bad;
}

size_t gradcheck_spread(size_t n, size_t period, size_t target) {
    for (size_t mc = target;; mc++) {
        size_t stride = n <= mc ? 1 : (n + mc - 1) / mc, a = stride, b = period;
        while (b) {
            size_t r = a % b;
            a = b, b = r;
        }
        if (a == 1) return mc;
    }
}

int gradcheck_rows(const char *what, loss_fn f, void *ctx, float *x, const float *analytic, size_t n,
                   size_t period, double eps, double rtol, double atol, size_t max_checks) {
    int threads = omp_get_max_threads();
    threads_set(1);
    int bad = gradcheck(what, f, ctx, x, analytic, n, eps, rtol, atol, gradcheck_spread(n, period, max_checks));
    threads_set(threads);
    return bad;
}

void fill_normal(float *x, size_t n, float std, rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * rng_normal(r));
}

double dot_loss(const float *out, const float *w, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)out[i] * w[i];
    return s;
}

float *tcalloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "tests: out of memory\n");
        abort();
    }
    return p;
}

float *tdup(const float *x, size_t n) {
    float *y = tcalloc(n);
    memcpy(y, x, n * sizeof *y);
    return y;
}

uint8_t *make_mask(mask_kind mk, int B, int T) {
    if (mk == MASK_NONE) return NULL;
    uint8_t *valid = malloc((size_t)B * T);
    for (int b = 0; valid && b < B; b++)
        for (int t = 0; t < T; t++) {
            uint8_t v = 1;
            if (b == 1) v = t != 0 && t < T - T / 3;
            if (b == 2) v = 0;
            if (b >= 3) v = t % 7 != 3 && t != T - 1;
            valid[(size_t)b * T + t] = v;
        }
    return valid;
}

float *trandn(rng *r, size_t n, float std) {
    float *x = tcalloc(n);
    fill_normal(x, n, std, r);
    return x;
}

double test_forward(model *m, const model_batch *b) {
    double loss;
    char err[256];
    if (model_forward(m, b, &loss, err, sizeof err) == 0) return loss;
    test_fail(__FILE__, __LINE__, "%s", err);
    return NAN;
}

double test_train_step(trainer *tr, const model_batch *b, float lr, float clip, double *gnorm) {
    double loss;
    char err[256];
    if (trainer_step(tr, b, lr, clip, &loss, gnorm, err, sizeof err) == 0) return loss;
    test_fail(__FILE__, __LINE__, "%s", err);
    return NAN;
}
