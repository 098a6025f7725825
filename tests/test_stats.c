/* The report's statistics (harness/report/stats.h) against values computed by hand or from tables:
 * mean and sample std, Student t quantiles, the incomplete beta function, confidence intervals of
 * a mean and of a paired difference, and the small-sample edge cases. */
#include <math.h>

#include "stats.h"
#include "test.h"

TEST(stats_mean_and_sample_std) {
    const double x[] = {1.0, 2.0, 3.0, 4.0};
    CHECK_CLOSE(stats_mean(x, 4), 2.5, 1e-15, 0, "mean of 1..4");
    /* sum of squares around 2.5: 2.25 + 0.25 + 0.25 + 2.25 = 5; / (n - 1) = 5/3 */
    CHECK_CLOSE(stats_std(x, 4), sqrt(5.0 / 3.0), 1e-14, 0, "sample std of 1..4");
    const double y[] = {2.0, 2.2, 2.4};
    CHECK_CLOSE(stats_mean(y, 3), 2.2, 1e-14, 0, "mean of {2.0, 2.2, 2.4}");
    CHECK_CLOSE(stats_std(y, 3), 0.2, 1e-12, 0, "std of {2.0, 2.2, 2.4}");
    /* a large offset must not cost precision (two-pass) */
    const double z[] = {1e9 + 1, 1e9 + 2, 1e9 + 3};
    CHECK_CLOSE(stats_std(z, 3), 1.0, 1e-9, 0, "std with a large offset");
    CHECK(isnan(stats_mean(x, 0)), "mean of nothing is NaN");
    CHECK(isnan(stats_std(x, 1)), "std of one value is NaN");
}

TEST(stats_t_quantiles_match_tables) {
    /* two-sided 95% quantiles t_{0.975, df} (standard tables; df 1 is tan(0.475 pi) exactly) */
    static const struct {
        double df, t;
    } want[] = {{1, 12.7062}, {2, 4.3027}, {3, 3.1824}, {4, 2.7764}, {5, 2.5706}, {10, 2.2281}, {30, 2.0423}, {120, 1.9799}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        double t = stats_t95(want[i].df);
        CHECK(fabs(t - want[i].t) < 1e-3, "t95(df=%g) = %.6f, want %.4f", want[i].df, t, want[i].t);
    }
    CHECK_CLOSE(stats_t95(1), tan(0.475 * M_PI), 1e-9, 0, "df 1 closed form (Cauchy)");
    /* df 2: P(|T| >= t) = 1 - t / sqrt(2 + t^2) = 0.05 gives t^2 = 2 * 0.95^2 / (1 - 0.95^2) */
    CHECK_CLOSE(stats_t95(2), sqrt(2.0 * 0.9025 / 0.0975), 1e-9, 0, "df 2 closed form");
    CHECK(fabs(stats_t95(1e6) - 1.959964) < 1e-4, "large df tends to the normal 1.95996: %.6f", stats_t95(1e6));
    CHECK_CLOSE(stats_t_quantile2(0.5, 1), 1.0, 1e-9, 0, "median of |T| at df 1 is 1");
    CHECK_CLOSE(stats_t_tail2(stats_t95(7), 7), 0.05, 1e-9, 0, "tail(quantile) round trip");
    CHECK(isnan(stats_t95(0)) && isnan(stats_t_quantile2(0, 3)) && isnan(stats_t_quantile2(1, 3)), "bad arguments give NaN");
}

TEST(stats_incomplete_beta) {
    /* I_0.4(2, 3) = sum_{j=2}^{4} C(4, j) 0.4^j 0.6^(4-j) = 0.3456 + 0.1536 + 0.0256 = 0.5248 */
    CHECK_CLOSE(stats_betainc(2, 3, 0.4), 0.5248, 1e-12, 0, "I_0.4(2,3)");
    /* I_x(1, 1) = x; I_x(a, b) = 1 - I_{1-x}(b, a) */
    CHECK_CLOSE(stats_betainc(1, 1, 0.3), 0.3, 1e-12, 0, "I_x(1,1) = x");
    CHECK_CLOSE(stats_betainc(2.5, 0.5, 0.9), 1.0 - stats_betainc(0.5, 2.5, 0.1), 1e-12, 0, "symmetry");
    CHECK(stats_betainc(2, 3, 0) == 0 && stats_betainc(2, 3, 1) == 1, "ends");
    CHECK(isnan(stats_betainc(-1, 3, 0.5)) && isnan(stats_betainc(1, 3, 1.5)), "outside the domain: NaN");
}

TEST(stats_confidence_interval_of_mean) {
    const double y[] = {2.0, 2.2, 2.4};
    stats_ci c = stats_ci95(y, 3);
    /* half-width = t_{0.975,2} * s / sqrt(n) = 4.302653 * 0.2 / sqrt(3) = 0.4968275 */
    CHECK(c.n == 3, "n = %d", c.n);
    CHECK_CLOSE(c.mean, 2.2, 1e-14, 0, "mean");
    CHECK_CLOSE(c.std, 0.2, 1e-12, 0, "std");
    CHECK_CLOSE(c.half, 0.49683, 0, 1e-5, "half-width");
    CHECK_CLOSE(c.lo, 2.2 - 0.49683, 0, 1e-5, "lower bound");
    CHECK_CLOSE(c.hi, 2.2 + 0.49683, 0, 1e-5, "upper bound");
    stats_ci one = stats_ci95(y, 1);
    CHECK(one.n == 1 && one.mean == 2.0 && isnan(one.std) && isnan(one.half) && isnan(one.lo) && isnan(one.hi),
          "n = 1: a mean, no spread or interval");
    stats_ci none = stats_ci95(y, 0);
    CHECK(none.n == 0 && isnan(none.mean), "n = 0: nothing");
}

TEST(stats_paired_difference) {
    /* a - b = {0.1, 0.3, 0.2, 0.4}: mean 0.25; squares around it 0.0225 + 0.0025 + 0.0025 + 0.0225
     * = 0.05, / 3 -> std sqrt(1/60) = 0.1290994; half = t_{0.975,3} * std / 2 = 3.182446 * 0.0645497
     * = 0.2054260 */
    const double a[] = {1.1, 2.3, 3.2, 4.4}, b[] = {1.0, 2.0, 3.0, 4.0};
    stats_ci d = stats_paired_ci95(a, b, 4);
    CHECK(d.n == 4, "pairs %d", d.n);
    CHECK_CLOSE(d.mean, 0.25, 1e-12, 0, "mean difference");
    CHECK_CLOSE(d.std, sqrt(1.0 / 60.0), 1e-11, 0, "std of the differences");
    CHECK_CLOSE(d.half, 0.2054260, 0, 1e-6, "half-width");
    CHECK_CLOSE(d.lo, 0.25 - 0.2054260, 0, 1e-6, "lower bound");
    /* pairing removes the shared offset: the unpaired spreads are large, the paired one small */
    CHECK(stats_std(a, 4) > 1.0 && d.std < 0.2, "paired spread %g", d.std);
    stats_ci one = stats_paired_ci95(a, b, 1);
    CHECK(one.n == 1 && fabs(one.mean - 0.1) < 1e-12 && isnan(one.half), "one pair: difference, no interval");
}
