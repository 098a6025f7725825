/* Timing: a monotonic clock and the order of samples, for progress, benchmarks and ETAs. */
#ifndef LRPE_TIMING_H
#define LRPE_TIMING_H

#include <time.h>

/* Monotonic clock in milliseconds. */
static inline double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* qsort order of doubles, ascending. */
static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
