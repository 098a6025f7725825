/* Thread counts for our OpenMP loops and OpenBLAS, set together so they never oversubscribe. */
#ifndef LRPE_THREADS_H
#define LRPE_THREADS_H

/* Sets OpenMP and OpenBLAS to the same count: LRPE_THREADS if set, else OMP_NUM_THREADS if set,
 * else the number of online cores. Returns the count. */
int threads_setup(void);
/* Sets both to n (n >= 1). */
void threads_set(int n);
/* The size of a team that uses working memory sized for `cap` threads: omp_get_max_threads(), at
 * most cap (cap 0: no bound). */
int threads_team(int cap);
/* "OpenBLAS <version/config> core=<name> parallel=<openmp|pthread|serial>" (static string). */
const char *threads_blas_config(void);

#endif
