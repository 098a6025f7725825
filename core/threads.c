#include "threads.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void threads_set(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int threads_team(int cap) {
    const int n = omp_get_max_threads();
    return cap > 0 && cap < n ? cap : n;
}

/* a positive integer from the environment variable, or 0 */
static int env_count(const char *name) {
    const char *s = getenv(name);
    int n = s ? atoi(s) : 0;
    return n > 0 ? n : 0;
}

int threads_setup(void) {
    int n = env_count("LRPE_THREADS");
    if (!n) n = env_count("OMP_NUM_THREADS");
    if (!n) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    threads_set(n);
    return n < 1 ? 1 : n;
}

const char *threads_blas_config(void) {
    static char buf[256];
    static const char *const modes[] = {"serial", "pthread", "openmp"};
    int p = openblas_get_parallel();
    snprintf(buf, sizeof buf, "%s core=%s parallel=%s", openblas_get_config(), openblas_get_corename(),
             p >= 0 && p <= 2 ? modes[p] : "unknown");
    return buf;
}
