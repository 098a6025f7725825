/* The transformer: token embedding, pre-LayerNorm blocks (LN -> attention -> residual -> LN ->
 * FFN(GELU) -> residual), a final LayerNorm and a head: per-token logits for language modelling,
 * or mean pooling over valid tokens and a classifier for classification.
 * Parameters, gradients and activations each live in one allocation described by a tensor table;
 * a training step allocates nothing. */
#ifndef LRPE_MODEL_H
#define LRPE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "backend.h"
#include "pe.h"

typedef enum model_head { HEAD_LM = 0, HEAD_CLS } model_head;

typedef struct model_config {
    int vocab;              /* input token vocabulary (when input_dim is 0) */
    int input_dim;          /* 0: token ids through an embedding table; > 0: float input vectors of
                             * this width (image patches, pixels) through a linear embedding */
    int n_out;              /* output width: vocab for lm, classes for classification */
    int max_batch, max_seq; /* activation memory is sized for these */
    int layers, d_model, heads, ffn_mult;
    int causal;             /* causal attention (lm) or bidirectional (encoders) */
    model_head head;
    const char *attention;  /* "softmax" | "linear" */
    const char *feature_map;/* linear attention: "1+elu" | "relu" */
    const char *normalizer; /* linear attention: "layernorm" (over all heads) | "denominator" */
    const char *absolute;   /* absolute encoding (EMBED hook): "none" | "sinusoidal" | "learned" */
    const char *encoding;   /* relative encoding: "none" | "rope" | "lrpe-unitary" | ... (pe.h) */
    pe_options pe_opt;      /* options of the encodings (p, theta, householder, axes) */
    int pos_rank;           /* 1: positions are t; 2: (row, col) on a grid_h x grid_w grid */
    int grid_h, grid_w;     /* 2-D positions: the grid (max_seq must equal grid_h * grid_w) */
    uint64_t seed;          /* fixed random structure of the encodings (permutations) */
    float ln_eps;           /* LayerNorm epsilon (1e-5) */
    float init_std;         /* std of weight init (0.02); residual projections / sqrt(2 layers) */
    const char *decay;      /* causal linear attention's per-head decay of scores with distance:
                             * "encoding" (NULL: the encoding's own, permuteformer's), "none", or
                             * "per-head" (pe_recency_decay, whatever the encoding) */
    const char *device;     /* where it computes: "cpu" | "cuda" (backend.h; NULL = cpu) */
    const char *precision;  /* matrix products: "fp32" | "tf32" | "bf16" (cuda only; NULL = fp32) */
} model_config;

/* A model_config with the defaults: a 2-layer, d=64, 4-head causal softmax LM over 256 bytes,
 * no positional encoding, linear-attention options 1+elu / layernorm. */
model_config model_config_default(void);

/* One batch. Tokens [B,T] (or input vectors); targets [B,T] for lm or [B] for classification, negative = ignored;
 * valid [B,T] (1 = real token) masks padding out of attention and pooling, NULL = no padding;
 * pos [B,T,pos_rank] positions, NULL = 0..T-1 in every row (1-D models only). */
typedef struct model_batch {
    int B, T;
    const int32_t *tokens;  /* [B,T] token ids, or NULL when the model takes input vectors */
    const float *inputs;    /* [B,T,input_dim] input vectors (input_dim > 0), else NULL */
    const int32_t *targets;
    const uint8_t *valid;
    const int32_t *pos;
} model_batch;

typedef struct model model;

/* Builds the model on its device's backend and allocates all its memory; returns 0, or -1 with a
 * reason in err (including the backend's: a build without CUDA, no GPU). */
int model_create(model **out, const model_config *cfg, char *err, size_t errlen);
/* A shard of owner for data parallelism over threads: the same architecture, computing with owner's
 * parameters (it never writes them), with gradients and activations of its own sized for batches of
 * up to max_batch sequences. Host-memory backends only; owner must outlive it. 0, or -1 with err. */
int model_create_shard(model **out, const model *owner, int max_batch, char *err, size_t errlen);
void model_destroy(model *m);

/* The parameter table and HOST views of the parallel parameter / gradient arrays (table->total
 * floats), current as of the call (on a GPU each call downloads). After writing into the
 * parameters' host view, call model_upload_params. On the CPU the views are the arrays themselves. */
const tensor_table *model_param_table(const model *m);
float *model_params(model *m);
float *model_grads(model *m);
void model_upload_params(model *m);
/* The backend the model computes on, and its device arrays of parameters and gradients. */
const backend *model_backend(const model *m);
float *model_device_params(model *m);
float *model_device_grads(model *m);
const model_config *model_cfg(const model *m);
/* Per-head width of q and k as the attention kernel sees them (head_dim, or 2 x head_dim for
 * the encodings that double it: lrpe-unitary, cosformer). */
int model_qk_dim(const model *m);
/* FLOPs of one training step (forward + backward = 3 x forward) per token at sequence length T:
 * the documented count of core/flops.c that `lrpe bench` reports GFLOP/s against. */
double model_train_flops_per_token(const model *m, int T);

/* Initialises every parameter from the seed (see tt_init_params). */
void model_init(model *m, uint64_t seed);

/* 0 when the batch fits the model (see model_forward), else -1 with the reason in err (may be NULL). */
int model_check_batch(const model *m, const model_batch *b, char *err, size_t errlen);
/* Sequences [lo, hi) of batch b, as a batch viewing b's arrays. */
model_batch model_batch_rows(const model *m, const model_batch *b, int lo, int hi);
/* The targets of b that count in the loss (the non-negative ones). */
int model_target_count(const model *m, const model_batch *b);

/* Forward pass: *loss = the mean cross-entropy over non-ignored targets (0 when targets is NULL).
 * Returns 0, or -1 with the reason in err (may be NULL) and nothing computed when the batch does not
 * fit the model: B or T above the sizes it was built for, a 2-D model without positions, no tokens
 * (or input vectors). */
int model_forward(model *m, const model_batch *b, double *loss, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Logits of the last forward (host view): [B*T, n_out] for lm, [B, n_out] for classification. */
const float *model_logits(model *m);

/* Zeroes the gradients (once per step). */
void model_zero_grad(model *m);
/* Backward of scale x the last (successful) forward's mean loss; ACCUMULATES into the gradients. */
void model_backward(model *m, float scale);

#endif
