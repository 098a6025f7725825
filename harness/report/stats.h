/* Small-sample statistics for the report: mean, sample standard deviation, Student t quantiles
 * and 95% confidence intervals of a mean and of a paired difference. Pure functions over double
 * arrays; no I/O, no allocation. Empty or too-small samples give NaN rather than an error. */
#ifndef LRPE_STATS_H
#define LRPE_STATS_H

/* A mean with its spread and 95% confidence interval (t distribution, n - 1 degrees of freedom). */
typedef struct stats_ci {
    int n;          /* sample size */
    double mean;    /* NaN when n == 0 */
    double std;     /* sample standard deviation (divisor n - 1); NaN when n < 2 */
    double half;    /* CI half-width t_{0.975, n-1} * std / sqrt(n); NaN when n < 2 */
    double lo, hi;  /* mean -/+ half; NaN when n < 2 */
} stats_ci;

/* Arithmetic mean of x[n]; NaN when n == 0. */
double stats_mean(const double *x, int n);
/* Sample standard deviation of x[n] (divisor n - 1, two-pass); NaN when n < 2. */
double stats_std(const double *x, int n);
/* Regularized incomplete beta I_x(a, b) for a, b > 0 and x in [0, 1] (continued fraction);
 * NaN outside that domain. */
double stats_betainc(double a, double b, double x);
/* Two-sided tail probability of Student's t with df degrees of freedom: P(|T| >= t), t >= 0. */
double stats_t_tail2(double t, double df);
/* The t with P(|T| >= t) = p (two-sided) for df > 0 and 0 < p < 1, by bisection on stats_t_tail2
 * (accurate to ~1e-10 relative); NaN for bad arguments. */
double stats_t_quantile2(double p, double df);
/* The two-sided 95% quantile t_{0.975, df} (12.7062 at df 1, 4.3027 at 2, 2.0423 at 30). */
double stats_t95(double df);
/* Mean, std and 95% CI of the mean of x[n]. */
stats_ci stats_ci95(const double *x, int n);
/* The same for the paired differences a[i] - b[i], i < n. */
stats_ci stats_paired_ci95(const double *a, const double *b, int n);

#endif
