/* Small helpers shared by the encoding files: instance allocation, parameter
 * registration and the fixed frequency ladder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pe_internal.h"

/* A zeroed instance of `size` bytes whose struct pe head is {vt, *o, *d}; NULL on failure. */
void *pe_alloc(size_t size, const pe_vtable *vt, const pe_options *o, const pe_dims *d, char *err,
               size_t errlen) {
    pe *e = calloc(1, size);
    if (!e) {
        errf(err, errlen, "encoding '%s': out of memory", vt->name);
        return NULL;
    }
    e->vt = vt;
    e->opt = *o;
    e->dims = *d;
    return e;
}

/* Adds TK_POS tensor `name` of shape [a] or [a, b] (b > 0) with the given init and frozen flag;
 * returns its offset, or (size_t)-1. */
size_t pe_add_tensor(tensor_table *tt, const char *name, tensor_init init, float std, int frozen, int a,
                     int b) {
    int shape[2] = {a, b};
    int i = tt_add(tt, name, TK_POS, init, std, b > 0 ? 2 : 1, shape);
    if (i < 0) return (size_t)-1;
    tt->t[i].frozen = frozen;
    return tt->t[i].offset;
}

/* out[i] = 10000^(-2i/e), i < n. */
void pe_theta_ladder(double *out, int n, double e) {
    for (int i = 0; i < n; i++) out[i] = pow(10000.0, -2.0 * i / e);
}
