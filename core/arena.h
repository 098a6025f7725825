/* A tensor table: the one description of a set of named tensors that live in a single float
 * allocation. The model keeps one table for parameters (whose gradients and optimizer moments
 * are parallel allocations of the same size, indexed by the same offsets) and one for
 * activations. Nothing else lists the tensors, so nothing can fall out of sync. */
#ifndef LRPE_ARENA_H
#define LRPE_ARENA_H

#include <stddef.h>
#include <stdint.h>

/* What a parameter is; the optimizer decides weight decay per kind. */
typedef enum tensor_kind {
    TK_WEIGHT = 0, /* matrices of linear layers */
    TK_EMBED,      /* token / patch embedding tables */
    TK_BIAS,       /* biases */
    TK_NORM,       /* LayerNorm gains and shifts */
    TK_POS,        /* positional-encoding parameters (tables, theta, Householder v) */
    TK_ACT,        /* activations and scratch (not parameters) */
    TK_COUNT
} tensor_kind;

typedef enum tensor_init { INIT_ZERO = 0, INIT_ONE, INIT_NORMAL, INIT_CUSTOM } tensor_init;

#define TENSOR_NAME_MAX 48
#define TENSOR_MAX_DIM 4

typedef struct tensor_desc {
    char name[TENSOR_NAME_MAX];
    size_t offset, numel;       /* in floats, offset aligned to 16 floats (64 bytes) */
    int ndim, shape[TENSOR_MAX_DIM];
    tensor_kind kind;
    tensor_init init;
    float init_std;             /* for INIT_NORMAL */
    int frozen;                 /* 1: a fixed parameter (e.g. a fixed Householder vector): the optimizer
                                 * skips it and its owner leaves its gradient untouched; tt_add sets 0,
                                 * the owner sets 1 after adding */
} tensor_desc;

typedef struct tensor_table {
    tensor_desc *t;
    int n, cap;
    size_t total;               /* floats, including alignment padding */
} tensor_table;

/* Appends a tensor of the given shape (ndim <= 4 dims, trailing ones may be 0 = unused) and
 * returns its index, or -1 when out of memory or the name is too long / duplicated. */
int tt_add(tensor_table *tt, const char *name, tensor_kind kind, tensor_init init, float std,
           int ndim, const int *shape);
/* Index of the tensor with this name, or -1. */
int tt_find(const tensor_table *tt, const char *name);
/* Frees the descriptors. */
void tt_free(tensor_table *tt);

/* A 64-byte aligned allocation of n floats, zeroed; NULL on failure. Free with free(). Blocks of
 * 2 MB or more are whole 2 MB pages, 2 MB aligned, and the kernel is asked to back them with huge
 * pages (madvise; transparent huge pages in "madvise" or "always" mode). */
float *arena_alloc(size_t n);

/* Fills every parameter per its init rule. Each tensor draws from its own stream derived from
 * (seed, name), so adding a tensor never changes the initial values of the others. */
void tt_init_params(const tensor_table *tt, float *params, uint64_t seed);

#endif
