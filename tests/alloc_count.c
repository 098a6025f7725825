/* Counts heap allocations made by lrpe's own code: the test binary is linked with
 * -Wl,--wrap=malloc,... so calls from our objects land here (calls inside OpenBLAS or libgomp do
 * not). Used to prove a training step allocates nothing, and to make one allocation fail. */
#include <stdlib.h>

#include "alloc_count.h"

static long count, fail_at = -1; /* fail_at: the count whose allocation returns NULL */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);

/* Counts one allocation; 1 when it is the one to fail. */
static int counted(void) { return __sync_fetch_and_add(&count, 1) == __sync_fetch_and_add(&fail_at, 0); }

void *__wrap_malloc(size_t n) { return counted() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return counted() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return counted() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { return counted() ? NULL : __real_aligned_alloc(a, n); }

long alloc_count(void) { return __sync_fetch_and_add(&count, 0); }

void alloc_fail_after(long n) { __sync_lock_test_and_set(&fail_at, n < 0 ? -1 : alloc_count() + n); }
