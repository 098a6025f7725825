/* Number of heap allocations made so far by lrpe's code in the test binary (see alloc_count.c). */
#ifndef LRPE_ALLOC_COUNT_H
#define LRPE_ALLOC_COUNT_H
long alloc_count(void);
#endif
