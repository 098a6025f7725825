/* What the encoding files share and the outside does not: the registered vtables, size limits
 * and small helpers. Not included outside encodings/. */
#ifndef LRPE_PE_INTERNAL_H
#define LRPE_PE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"
#include "pe.h"

/* Parameter-gradient partial sums a backward keeps (doubles, on the caller's stack: 64 KB), one
 * row per fixed chunk of tokens, and the most chunks (the parallelism of that backward). */
#define PE_PART 8192
#define PE_MAX_CHUNKS 64
/* Below this many output floats a call runs on one thread (fork/join would cost more). */
#define PE_PAR_MIN 4096

/* The registry, in listing order (registry.c). */
extern const pe_vtable pe_none_vt, pe_sinusoidal_vt, pe_learned_vt, pe_rope_vt, pe_lrpe_rotation_vt,
    pe_lrpe_unitary_vt, pe_lrpe_permutation_vt, pe_permuteformer_vt, pe_cosformer_vt, pe_alibi_vt;


/* Allocates an instance of `size` bytes (zeroed) whose head is filled from vt, o and d; NULL on
 * failure (with a message). */
void *pe_alloc(size_t size, const pe_vtable *vt, const pe_options *o, const pe_dims *d, char *err,
               size_t errlen);

/* Registers a TK_POS tensor of shape [a] (b == 0) or [a, b]; returns its offset in the
 * parameter array, or (size_t)-1 when the table refuses it. */
size_t pe_add_tensor(tensor_table *tt, const char *name, tensor_init init, float std, int frozen, int a,
                     int b);

/* theta_i = 10000^(-2i/e) for i < n, in double (the fixed frequency ladder). */
void pe_theta_ladder(double *out, int n, double e);

#endif
