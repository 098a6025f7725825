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
/* dv[d] += the gradient of v given du = dL/du, through u = v/(n + eps), n = ||v||:
 * dv = du/(n + eps) - v (v.du) / (n (n + eps)^2). */
void pmat_unit_backward(float *dv, const double *du, const float *v, double n, int d);

/* Independent double partial sums of pmat_dot, so that it vectorizes. */
#define PMAT_LANES 8

/* a.b over d floats, in double: element i into lane i mod PMAT_LANES, the lanes added pairwise
 * (j and j + w for w = 4, 2, 1): one fixed order at any vector width. */
static inline double pmat_dot(const float *a, const float *b, int d) {
    double lane[PMAT_LANES] = {0};
    int i = 0;
    for (; i + PMAT_LANES <= d; i += PMAT_LANES)
        for (int j = 0; j < PMAT_LANES; j++) lane[j] += (double)a[i + j] * b[i + j];
    if (i < d) /* the tail, element i + j still into lane j (a fixed index keeps the lanes in registers) */
        for (int j = 0; j < PMAT_LANES; j++) lane[j] += i + j < d ? (double)a[i + j] * b[i + j] : 0.0;
    for (int w = PMAT_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) lane[j] += lane[j + w];
    return lane[0];
}

/* Source coordinate of output i of the odd-even interleave: out[2k] = x[k],
 * out[2k+1] = x[ceil(d/2) + k]. */
static inline int oddeven_src(int d, int i) { return i % 2 == 0 ? i / 2 : (d + 1) / 2 + i / 2; }

/* out[d] = P x (out and x distinct); u is the Householder unit vector (ignored by other kinds).
 * Inline, so that the vectorized callers (lrpe_engine.c) compile it for their target. */
static inline void pmat_apply(const pmat *p, const float *u, const float *x, float *out) {
    const int d = p->d;
    switch (p->kind) {
    case PE_P_IDENTITY:
        for (int i = 0; i < d; i++) out[i] = x[i];
        break;
    case PE_P_HOUSEHOLDER: {
        float c = (float)(2.0 * pmat_dot(x, u, d));
        for (int i = 0; i < d; i++) out[i] = x[i] - c * u[i];
        break;
    }
    case PE_P_DCT:
        for (int k = 0; k < d; k++) out[k] = (float)pmat_dot(p->dct + (size_t)k * d, x, d);
        break;
    case PE_P_ODDEVEN:
        for (int i = 0; i < d; i++) out[i] = x[oddeven_src(d, i)];
        break;
    }
}

/* P x as a view: x itself when P is the identity, else out[d] = P x (out distinct from x). */
static inline const float *pmat_view(const pmat *p, const float *u, const float *x, float *out) {
    if (p->kind == PE_P_IDENTITY) return x;
    pmat_apply(p, u, x, out);
    return out;
}

/* dx[d] += P^T g. */
static inline void pmat_apply_t(const pmat *p, const float *u, const float *g, float *dx) {
    const int d = p->d;
    switch (p->kind) {
    case PE_P_IDENTITY:
        for (int i = 0; i < d; i++) dx[i] += g[i];
        break;
    case PE_P_HOUSEHOLDER: { /* symmetric */
        float c = (float)(2.0 * pmat_dot(g, u, d));
        for (int i = 0; i < d; i++) dx[i] += g[i] - c * u[i];
        break;
    }
    case PE_P_DCT:
        for (int n = 0; n < d; n++) {
            double s = 0.0;
            for (int k = 0; k < d; k++) s += (double)p->dct[(size_t)k * d + n] * g[k];
            dx[n] += (float)s;
        }
        break;
    case PE_P_ODDEVEN:
        for (int i = 0; i < d; i++) dx[oddeven_src(d, i)] += g[i];
        break;
    }
}


#endif
