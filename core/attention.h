/* Attention kernels behind one interface, so the transformer block can call any of them.
 * Tensors are views: element (b, t, h, i) of q lives at q[(b*T + t)*ldq + h*dqk + i], so the
 * kernel reads q, k, v straight out of the fused qkv projection without copies. */
#ifndef LRPE_ATTENTION_H
#define LRPE_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

typedef struct attn_shape {
    int B, T, H;      /* batch, sequence length, heads */
    int dqk, dv;      /* per-head widths of q/k and of v/o */
    int ldq, ldk, ldv, ldo; /* row strides (floats) of the q, k, v and o views */
    int causal;       /* 1: key t <= query s only */
    float scale;      /* softmax: score scale, usually 1/sqrt(head dim); linear: unused (1) */
    const float *decay;     /* linear, causal: per-head r_h, scores (s, t) scaled by r_h^(s-t); NULL = none */
    /* softmax: ALiBi slopes [H]: scores (already scaled) += -slopes[h] * distance(query, key), the
     * distance |s - t| of positions pos[n] (pos_rank 1) or |dr| + |dc| of (row, col) pairs
     * pos[2n], pos[2n + 1] (pos_rank 2); pos holds the positions of all B*T tokens. NULL = none. */
    const float *slopes;
    const int32_t *pos;
    int pos_rank;
    int threads;      /* the threads the scratch was sized for: the kernels' teams stay within it;
                       * 0 = as many as OpenMP would start now */
} attn_shape;

typedef struct attn_kernel {
    const char *name;
    /* floats saved per layer between forward and backward (e.g. row log-sum-exp) */
    size_t (*saved_floats)(const attn_shape *s);
    /* floats of per-call working memory for nthreads threads (not kept between calls) */
    size_t (*scratch_floats)(const attn_shape *s, int nthreads);
    /* o = attention(q, k, v) with keys where valid[b,t] == 0 masked out (valid may be NULL). */
    void (*forward)(const attn_shape *s, float *o, float *saved, const float *q, const float *k,
                    const float *v, const uint8_t *valid, float *scratch);
    /* dq, dk, dv += gradients given dout; o and saved are the forward's outputs. */
    void (*backward)(const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                     const float *o, const float *saved, const float *q, const float *k,
                     const float *v, const uint8_t *valid, float *scratch);
} attn_kernel;

/* Softmax attention, causal or bidirectional; saves only the row log-sum-exp [B,H,T] and
 * recomputes the (T x T) scores per (batch, head) in backward, one block per thread. */
extern const attn_kernel attn_softmax;
/* Linear attention "linear" (numerator only, no scale; causal chunked with per-head decay, or bidirectional). */
extern const attn_kernel attn_linear;

/* Looks a kernel up by name ("softmax"); NULL when unknown. */
const attn_kernel *attn_lookup(const char *name);

#endif
