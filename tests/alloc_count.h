/* Number of heap allocations made so far by lrpe's code in the test binary (see alloc_count.c). */
#ifndef LRPE_ALLOC_COUNT_H
#define LRPE_ALLOC_COUNT_H
long alloc_count(void);
/* Makes the n-th allocation from now (0: the next one) by lrpe's code return NULL, once; a negative
 * n cancels. For tests of what out-of-memory does. */
void alloc_fail_after(long n);
#endif
