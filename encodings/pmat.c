/* The P matrices of the LRPE family (see pmat.h); the matrices are never formed except the DCT,
 * whose d x d basis is tabulated once at set-up. */
#include "pmat.h"

#include <math.h>

#include <stdlib.h>

/* Tabulates the orthonormal DCT-II basis for kind dct; 0 or -1. */
int pmat_init(pmat *p, pe_pmat kind, int d) {
    p->kind = kind;
    p->d = d;
    p->dct = NULL;
    if (kind != PE_P_DCT) return 0;
    p->dct = malloc((size_t)d * d * sizeof *p->dct);
    if (!p->dct) return -1;
    const double pi = 3.14159265358979323846;
    for (int k = 0; k < d; k++) {
        double s = k == 0 ? sqrt(1.0 / d) : sqrt(2.0 / d);
        for (int n = 0; n < d; n++) p->dct[(size_t)k * d + n] = (float)(s * cos(pi * (n + 0.5) * k / d));
    }
    return 0;
}

/* Frees the DCT table. */
void pmat_free(pmat *p) {
    free(p->dct);
    p->dct = NULL;
}

/* u = v / (||v|| + eps); returns ||v||. */
double pmat_unit(float *u, const float *v, int d) {
    double n = sqrt(pmat_dot(v, v, d));
    for (int i = 0; i < d; i++) u[i] = (float)(v[i] / (n + PMAT_EPS));
    return n;
}

/* dv += du/(n + eps) - v (v.du) / (n (n + eps)^2). */
void pmat_unit_backward(float *dv, const double *du, const float *v, double n, int d) {
    double vdu = 0.0;
    for (int i = 0; i < d; i++) vdu += v[i] * du[i];
    double a = 1.0 / (n + PMAT_EPS), b = n > 0.0 ? vdu / (n * (n + PMAT_EPS) * (n + PMAT_EPS)) : 0.0;
    for (int i = 0; i < d; i++) dv[i] += (float)(du[i] * a - v[i] * b);
}
