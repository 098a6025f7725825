/* cosformer re-weighting (Qin et al. 2022), linear attention only: q and k become
 * [x sin(pi i / 2M), x cos(pi i / 2M)] (per head: first d the sin part, then d the cos part;
 * width 2d), i the position and M = max_len, so q'.k' = cos(pi (s - t) / 2M) q.k. With 2-D
 * positions i is the flattened index row * grid_w + col (M = max_len >= grid_h * grid_w): the
 * re-weighting then follows raster distance, as cosformer itself has no 2-D form. No
 * parameters; the feature map (ReLU or 1+elu) is the attention's. */
#include <math.h>
#include <stdlib.h>

#include "pe_internal.h"

/* A bare instance (no state beyond the dims). */
static int cos_create(pe **out, const pe_options *o, const pe_dims *d, char *err, size_t errlen) {
    *out = pe_alloc(sizeof(pe), &pe_cosformer_vt, o, d, err, errlen);
    return *out ? 0 : -1;
}

/* Frees the instance; no parameters to register or fill; width 2 * head_dim. */
static void cos_destroy(pe *e) { free(e); }
static int cos_add_params(pe *e, tensor_table *tt) { return 0; }
static void cos_init_params(const pe *e, const tensor_table *tt, float *params) {}
static int cos_qk_dim(const pe *e) { return 2 * e->dims.head_dim; }

/* sin and cos of pi i / 2M for the token at p. */
static void cos_angle(const pe *e, const int32_t *p, double *s, double *c) {
    long i = e->dims.pos_rank == 1 ? p[0] : (long)p[0] * e->dims.grid_w + p[1];
    double a = 3.14159265358979323846 * (double)i / (2.0 * e->dims.max_len);
    *s = sin(a);
    *c = cos(a);
}

/* out[n, h*2d + j] = x_j sin, out[n, h*2d + d + j] = x_j cos. */
static void cos_qk_forward(const pe *e, const pe_qk_rows *r, const float *params, const float *in, float *out) {
    const int d = e->dims.head_dim, H = e->dims.heads;
#pragma omp parallel for schedule(static) if ((long)r->N * H * d >= PE_PAR_MIN)
    for (int n = 0; n < r->N; n++) {
        double s, c;
        cos_angle(e, r->pos + (size_t)n * e->dims.pos_rank, &s, &c);
        for (int h = 0; h < H; h++) {
            const float *x = in + (size_t)n * r->ld_in + (size_t)h * d;
            float *y = out + (size_t)n * r->ld_out + (size_t)h * 2 * d;
            for (int j = 0; j < d; j++) {
                y[j] = (float)(x[j] * s);
                y[d + j] = (float)(x[j] * c);
            }
        }
    }
}

/* din_j += dy_j sin + dy_{d+j} cos. */
static void cos_qk_backward(const pe *e, const pe_qk_rows *r, const float *params, float *grads, const float *in,
                            const float *dout, float *din) {
    const int d = e->dims.head_dim, H = e->dims.heads;
#pragma omp parallel for schedule(static) if ((long)r->N * H * d >= PE_PAR_MIN)
    for (int n = 0; n < r->N; n++) {
        double s, c;
        cos_angle(e, r->pos + (size_t)n * e->dims.pos_rank, &s, &c);
        for (int h = 0; h < H; h++) {
            const float *dy = dout + (size_t)n * r->ld_out + (size_t)h * 2 * d;
            float *dx = din + (size_t)n * r->ld_in + (size_t)h * d;
            for (int j = 0; j < d; j++) dx[j] += (float)(dy[j] * s + dy[d + j] * c);
        }
    }
}

/* QK kind COSFORMER; the angle needs only the dims (no arrays). */
static void cos_describe(const pe *e, pe_data *out) { out->qk = PE_QK_COSFORMER; }

const pe_vtable pe_cosformer_vt = {
    .name = "cosformer",
    .summary = "cosformer re-weighting [x sin(pi i/2M), x cos(pi i/2M)] (width 2d; linear only)",
    .hooks = PE_HOOK_QK,
    .attn_ok = PE_ATTN_LINEAR,
    .keys = NULL,
    .create = cos_create,
    .destroy = cos_destroy,
    .add_params = cos_add_params,
    .init_params = cos_init_params,
    .qk_dim = cos_qk_dim,
    .qk_forward = cos_qk_forward,
    .qk_backward = cos_qk_backward,
    .describe = cos_describe,
};
