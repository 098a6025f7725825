/* The FLOP count `lrpe bench` divides by time. Multiply-adds count 2; training = 3 x forward
 * (the backward pass does two matrix products per forward one). Per token and layer, forward:
 *   projections   2 C^2 (3 + 1 + 2 ffn_mult)     qkv, output, FFN in and out (C = d_model)
 *   softmax       2 (Dqk + C) n_keys             scores and weighted values; n_keys = (T+1)/2
 *                                                causal (the average prefix), T bidirectional
 *   linear        4 Dqk hd                       the state form: k (x) v into the state, q . state
 *                                                (Dqk = H x qk width per head, hd = C / H)
 * plus, per token, the input (2 input_dim C for vector inputs) and the LM head (2 C vocab; a
 * classifier head is once per example: 2 C classes / T). Not counted: LayerNorm, GELU, the
 * encodings' elementwise work, softmax exponentials, AdamW (all O(C) per token), and the
 * intra-chunk quadratic part of chunked causal linear attention (an implementation choice, not
 * part of the algorithm's count), so GFLOP/s and % of peak are conservative. */
#include <string.h>

#include "model.h"

double model_train_flops_per_token(const model *m, int T) {
    const model_config *c = model_cfg(m);
    const double C = c->d_model, H = c->heads, hd = C / H, Dqk = H * model_qk_dim(m);
    double layer = 2.0 * C * C * (4.0 + 2.0 * c->ffn_mult);
    if (strcmp(c->attention, "softmax") == 0) {
        const double keys = c->causal ? (T + 1) / 2.0 : T;
        layer += 2.0 * (Dqk + C) * keys;
    } else {
        layer += 4.0 * Dqk * hd;
    }
    double fwd = c->layers * layer;
    if (c->input_dim > 0) fwd += 2.0 * c->input_dim * C;
    fwd += c->head == HEAD_CLS ? 2.0 * C * c->n_out / T : 2.0 * C * c->n_out;
    return 3.0 * fwd;
}
