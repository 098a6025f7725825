/* Small-sample statistics (see stats.h). The t quantile is exact to round-off: it inverts the
 * two-sided tail P(|T| >= t) = I_{df/(df+t^2)}(df/2, 1/2) by bisection, with the regularized
 * incomplete beta function evaluated by its continued fraction (modified Lentz method). */
#include "stats.h"

#include <math.h>

/* Mean of x[n]; NaN when empty. */
double stats_mean(const double *x, int n) {
    if (n <= 0) return NAN;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
}

/* Sample std of x[n] around its mean (two passes, divisor n - 1); NaN when n < 2. */
double stats_std(const double *x, int n) {
    if (n < 2) return NAN;
    double m = stats_mean(x, n), ss = 0.0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (n - 1));
}

/* The continued fraction 1 / (1 + d1 / (1 + d2 / (1 + ...))) of I_x(a, b) (valid and fast for
 * x < (a + 1) / (a + b + 2)), by the modified Lentz method. */
static double betacf(double a, double b, double x) {
    const double tiny = 1e-300, eps = 1e-15;
    double f = tiny, c = f, d = 0.0;
    for (int j = 1; j <= 1000; j++) {
        double num; /* the j-th partial numerator: 1, then d_1, d_2, ... */
        if (j == 1) {
            num = 1.0;
        } else {
            int k = j - 1, m = k / 2;
            num = (k % 2) ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                          : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
        }
        d = 1.0 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double delta = c * d;
        f *= delta;
        if (fabs(delta - 1.0) < eps) break;
    }
    return f;
}

/* I_x(a, b) = B(x; a, b) / B(a, b), through the continued fraction on the side where it converges. */
double stats_betainc(double a, double b, double x) {
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return NAN;
    if (x == 0.0 || x == 1.0) return x;
    double lfront = a * log(x) + b * log1p(-x) - (lgamma(a) + lgamma(b) - lgamma(a + b));
    if (x < (a + 1.0) / (a + b + 2.0)) return exp(lfront) / a * betacf(a, b, x);
    return 1.0 - exp(lfront) / b * betacf(b, a, 1.0 - x);
}

/* P(|T| >= t) for Student's t with df degrees of freedom. */
double stats_t_tail2(double t, double df) {
    if (!(df > 0) || isnan(t)) return NAN;
    t = fabs(t);
    return stats_betainc(df / 2.0, 0.5, df / (df + t * t));
}

/* Inverse of stats_t_tail2 in t, by bisection (the tail falls monotonically from 1 at t = 0). */
double stats_t_quantile2(double p, double df) {
    if (!(df > 0) || !(p > 0) || !(p < 1)) return NAN;
    double lo = 0.0, hi = 1.0;
    while (stats_t_tail2(hi, df) > p) {
        lo = hi;
        hi *= 2.0;
        if (hi > 1e300) return INFINITY;
    }
    for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (stats_t_tail2(mid, df) > p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* t_{0.975, df}. */
double stats_t95(double df) { return stats_t_quantile2(0.05, df); }

/* Fills the std-dependent fields of c from c->mean, c->std, c->n. */
static stats_ci finish_ci(stats_ci c) {
    c.half = c.lo = c.hi = NAN;
    if (c.n >= 2) {
        c.half = stats_t95(c.n - 1) * c.std / sqrt((double)c.n);
        c.lo = c.mean - c.half;
        c.hi = c.mean + c.half;
    }
    return c;
}

/* Mean, std and 95% CI of x[n]. */
stats_ci stats_ci95(const double *x, int n) {
    stats_ci c = {.n = n > 0 ? n : 0, .mean = stats_mean(x, n), .std = stats_std(x, n)};
    return finish_ci(c);
}

/* Mean, std and 95% CI of a[i] - b[i] (two passes, no buffer). */
stats_ci stats_paired_ci95(const double *a, const double *b, int n) {
    stats_ci c = {.n = n > 0 ? n : 0, .mean = NAN, .std = NAN};
    if (n > 0) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += a[i] - b[i];
        c.mean = s / n;
    }
    if (n > 1) {
        double ss = 0.0;
        for (int i = 0; i < n; i++) ss += (a[i] - b[i] - c.mean) * (a[i] - b[i] - c.mean);
        c.std = sqrt(ss / (n - 1));
    }
    return finish_ci(c);
}
