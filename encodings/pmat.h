/* The orthogonal matrix P that the LRPE family applies to phi(q), phi(k) before its positional
 * core (docs/encodings.md §2): identity, Householder I - 2 u u^T with u = v/(||v|| + 1e-6), the
 * orthonormal DCT-II over the head dim, or the odd-even interleave. All act on one head vector
 * of d floats; the Householder vector u is computed once per call by pmat_unit. */
#ifndef LRPE_PMAT_H
#define LRPE_PMAT_H

#include "pe.h"

#define PMAT_EPS 1e-6

typedef struct pmat {
    pe_pmat kind;
    int d;
    float *dct; /* [d, d] row k = k-th orthonormal DCT-II basis vector (kind dct only) */
} pmat;

/* Sets up P of this kind for head dim d (allocates the DCT matrix); 0 or -1 (out of memory). */
int pmat_init(pmat *p, pe_pmat kind, int d);
void pmat_free(pmat *p);

/* u[d] = v / (||v|| + eps); returns ||v|| (computed in double). */
double pmat_unit(float *u, const float *v, int d);
/* out[d] = P x (out and x distinct); u is the Householder unit vector (ignored by other kinds). */
void pmat_apply(const pmat *p, const float *u, const float *x, float *out);
/* dx[d] += P^T g. */
void pmat_apply_t(const pmat *p, const float *u, const float *g, float *dx);
/* dv[d] += the gradient of v given du = dL/du, through u = v/(n + eps), n = ||v||:
 * dv = du/(n + eps) - v (v.du) / (n (n + eps)^2). */
void pmat_unit_backward(float *dv, const double *du, const float *v, double n, int d);

/* Dot product of two float vectors in double. */
double pmat_dot(const float *a, const float *b, int d);

#endif
