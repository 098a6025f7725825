/* A fixed random permutation pi applied s times, by cycle decomposition: pi^s(i) in O(1) for any
 * s (negative too), with no table and no cap on s; and the LRPE permutation core built on it
 * (y_s[j] = x~[pi^s(j)], docs/encodings.md §2), shared by lrpe-permutation and permuteformer. */
#ifndef LRPE_PERM_H
#define LRPE_PERM_H

#include <stdint.h>

#include "lrpe_engine.h"

typedef struct pe_perm {
    int n;
    int *cyc;   /* [n] the cycles one after another: cyc[start + k + 1] = pi(cyc[start + k]) */
    int *start; /* [n] where element i's cycle begins in cyc */
    int *len;   /* [n] the length of element i's cycle */
    int *k;     /* [n] the index of element i in its cycle */
} pe_perm;

/* p <- the cycles of pi[n] (a permutation of 0..n-1); 0 or -1 (out of memory). */
int perm_from(pe_perm *p, const int *pi, int n);
/* p <- a uniformly random permutation of n drawn from (seed, stream name); 0 or -1. */
int perm_random(pe_perm *p, int n, uint64_t seed, const char *stream);
void perm_free(pe_perm *p);

/* pi^s(i). */
static inline int perm_pow(const pe_perm *p, int i, long s) {
    long r = ((long)p->k[i] + s) % p->len[i];
    if (r < 0) r += p->len[i];
    return p->cyc[p->start[i] + r];
}

/* The permutation core: one permutation per layer over the head dim (1-D, axes sum: applied
 * pos times, pos = row + col in 2-D), or with axes split two per layer, pi_row over the first
 * ceil(d/2) coordinates applied row times and pi_col over the rest applied col times. Drawn from
 * dims.seed with streams "<encoding>.layers.L.perm" (".row" / ".col" with axes split). */
extern const lrpe_core pe_perm_core;

#endif
