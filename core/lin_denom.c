/* The denominator normaliser of linear attention: out_s = num_s / z_s with
 * z_s = max(phi(q_s) . sum_t phi(k_t), eps) on the unencoded features, per (batch, head), the key
 * sum a running sum when causal. One thread owns each (batch, head): deterministic. */
#include <omp.h>
#include <string.h>

#include "linattn.h"
#include "threads.h"

/* Two d-float running sums per thread. */
size_t lin_denom_scratch_floats(const lin_denom_shape *s, int nthreads) {
    return (size_t)nthreads * 2 * s->d;
}

/* acc[n] += x[n] */
static void add_to(float *acc, const float *x, int n) {
    for (int i = 0; i < n; i++) acc[i] += x[i];
}

/* a[n] . b[n] in float */
static float dot(const float *a, const float *b, int n) {
    float r = 0.0f;
    for (int i = 0; i < n; i++) r += a[i] * b[i];
    return r;
}

/* ksum[d] = sum of fk over the valid keys of one (batch, head) view (all T of them). */
static void key_sum(const lin_denom_shape *sh, float *ksum, const float *fk, const uint8_t *valid_b) {
    memset(ksum, 0, sizeof *ksum * (size_t)sh->d);
    for (int t = 0; t < sh->T; t++)
        if (!valid_b || valid_b[t]) add_to(ksum, fk + (size_t)t * sh->ldk, sh->d);
}

/* out = num / z per (token, head), z = clamped fq . running key sum; writes z[N*H]. */
void lin_denom_forward(const lin_denom_shape *s, float *out, float *z, const float *num, const float *fq,
                       const float *fk, const uint8_t *valid, float *scratch) {
    const int B = s->B, T = s->T, H = s->H, d = s->d, dv = s->dv;
#pragma omp parallel for num_threads(threads_team(s->threads)) schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *ksum = scratch + (size_t)omp_get_thread_num() * 2 * d;
        const uint8_t *valid_b = valid ? valid + (size_t)b * T : NULL;
        const float *fqb = fq + (size_t)b * T * s->ldq + (size_t)h * d;
        const float *fkb = fk + (size_t)b * T * s->ldk + (size_t)h * d;
        if (s->causal) memset(ksum, 0, sizeof *ksum * (size_t)d);
        else key_sum(s, ksum, fkb, valid_b);
        for (int t = 0; t < T; t++) {
            if (s->causal && (!valid_b || valid_b[t])) add_to(ksum, fkb + (size_t)t * s->ldk, d);
            float zt = dot(fqb + (size_t)t * s->ldq, ksum, d);
            zt = zt > LIN_DENOM_EPS ? zt : LIN_DENOM_EPS;
            z[((size_t)b * T + t) * H + h] = zt;
            const float *nr = num + ((size_t)b * T + t) * s->ldn + (size_t)h * dv;
            float *orow = out + ((size_t)b * T + t) * s->ldo + (size_t)h * dv;
            for (int i = 0; i < dv; i++) orow[i] = nr[i] / zt;
        }
    }
}

/* dL/dz_s before the clamp, from out_s = num_s / z_s: -(dout_s . out_s) / z_s; 0 if clamped. */
static float z_grad(const lin_denom_shape *s, const float *dout, const float *out, const float *z, int b,
                    int t, int h) {
    size_t row = (size_t)b * s->T + t;
    float zt = z[row * s->H + h];
    if (!(zt > LIN_DENOM_EPS)) return 0.0f;
    const float *dr = dout + row * s->ldo + (size_t)h * s->dv, *orow = out + row * s->ldo + (size_t)h * s->dv;
    return -dot(dr, orow, s->dv) / zt;
}

/* dnum, dfq, dfk = gradients (written, not added): a forward sweep for dnum and dfq, a reverse
 * sweep for dfk. */
void lin_denom_backward(const lin_denom_shape *s, float *dnum, float *dfq, float *dfk, const float *dout,
                        const float *out, const float *z, const float *fq, const float *fk,
                        const uint8_t *valid, float *scratch) {
    const int B = s->B, T = s->T, H = s->H, d = s->d, dv = s->dv;
#pragma omp parallel for num_threads(threads_team(s->threads)) schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *ksum = scratch + (size_t)omp_get_thread_num() * 2 * d, *gsum = ksum + d;
        const uint8_t *valid_b = valid ? valid + (size_t)b * T : NULL;
        size_t qofs = (size_t)b * T * s->ldq + (size_t)h * d, kofs = (size_t)b * T * s->ldk + (size_t)h * d;
        /* forward sweep: dnum_s += dout_s / z_s; dfq_s += g_s * (key sum seen by s) */
        if (s->causal) memset(ksum, 0, sizeof *ksum * (size_t)d);
        else key_sum(s, ksum, fk + kofs, valid_b);
        for (int t = 0; t < T; t++) {
            if (s->causal && (!valid_b || valid_b[t])) add_to(ksum, fk + kofs + (size_t)t * s->ldk, d);
            size_t row = (size_t)b * T + t;
            float zt = z[row * H + h];
            const float *dr = dout + row * s->ldo + (size_t)h * dv;
            float *dn = dnum + row * s->ldn + (size_t)h * dv;
            for (int i = 0; i < dv; i++) dn[i] = dr[i] / zt;
            float g = z_grad(s, dout, out, z, b, t, h);
            float *dq = dfq + qofs + (size_t)t * s->ldq;
            for (int i = 0; i < d; i++) dq[i] = g * ksum[i];
        }
        /* reverse sweep: dfk_t += sum over the queries s that saw key t of g_s * fq_s */
        memset(gsum, 0, sizeof *gsum * (size_t)d);
        if (!s->causal)
            for (int t = 0; t < T; t++) {
                float g = z_grad(s, dout, out, z, b, t, h);
                const float *qr = fq + qofs + (size_t)t * s->ldq;
                for (int i = 0; i < d; i++) gsum[i] += g * qr[i];
            }
        for (int t = T - 1; t >= 0; t--) {
            if (s->causal) {
                float g = z_grad(s, dout, out, z, b, t, h);
                const float *qr = fq + qofs + (size_t)t * s->ldq;
                for (int i = 0; i < d; i++) gsum[i] += g * qr[i];
            }
            float *dk = dfk + kofs + (size_t)t * s->ldk;
            const int seen = !valid_b || valid_b[t]; /* a padded key: zero */
            for (int i = 0; i < d; i++) dk[i] = seen ? gsum[i] : 0.0f;
        }
    }
}
