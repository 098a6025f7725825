// Positional encodings on the GPU, from their transform as data (pe_describe, pe.h): pe_open uploads
// the fixed numbers (sinusoidal table, theta ladder, DCT matrix, permutation cycles); the kernels
// apply EMBED (table or learned parameter) and every QK kind (rope, rotation, unitary, permutation,
// cosformer) with every P (identity, Householder, DCT, odd-even), fixed or learned theta, 1-D and
// 2-D positions, angles in double as encodings/lrpe_engine.c computes them. The backward gives din
// and, when theta or the Householder vector is learned (the CPU engine's rule: the layer has the
// parameter and the option says learned), their gradients, summed in double per fixed chunk of
// tokens and then over the chunks in order (no atomics, the same bits every run).
//
// Parameter offsets (theta_off, v_off, table_off) are read from a fresh pe_describe at every call:
// the model opens its encodings before it registers their parameters, so at pe_open they are not
// known yet.
#include <math.h>
#include <string.h>

#include "cuda_math.cuh"
#include "ops_cuda.cuh"

extern "C" {
#include "err.h"
}

#define MAXD PE_MAX_HEAD_DIM
#define QK_THREADS 128
// token chunks of a backward with parameter gradients (fixed: the sums do not depend on the GPU)
#define PE_CHUNKS 128
#define NO_OFF ((size_t)-1)

struct be_pe {
    const pe *e;
    unsigned hooks;
    pe_embed_kind embed;
    pe_qk_kind qk;
    pe_pmat p;
    float embed_scale;
    int C, H, d, W, F, half, R, split, max_len, grid_h, grid_w, layers, perm_sets;
    int theta_learned, v_learned; // the options (the CPU engine's theta_learned / householder_learned)
    // device memory
    float *table;  // EMBED_TABLE: [max_len, C]
    double *theta0; // [F]
    float *dct;    // [d, d]
    int *perm;     // [layers * perm_sets] permutations, each 4 arrays (cyc, start, len, k) of d ints
    float *u;      // [d] the Householder unit vector of the current call
    double *vn;    // [1] ||v|| of the current call
    double *part;  // [PE_CHUNKS * (F + d)] parameter-gradient partial sums
};

// What a QK kernel needs, by value.
struct qk_args {
    int qk, p, d, H, W, F, R, split, half, max_len, grid_w, ldi, ldo, N;
    const int32_t *pos;
    const double *theta0;
    const float *theta; // the layer's learned-or-frozen theta parameter, or NULL (theta0)
    const float *dct, *u;
    const int *perm0, *perm1; // the layer's permutations (row / only one, col)
};

// ------------------------------------------------------------------ device helpers

// pe_axis_pos: the position frequency / coordinate j follows.
__device__ __forceinline__ int axis_pos(const qk_args &a, const int32_t *p, int j) {
    if (a.R == 1) return p[0];
    if (!a.split) return p[0] + p[1];
    return j < a.half ? p[0] : p[1];
}

// pi^s(i) of a permutation stored as 4 arrays of d ints (perm.h's perm_pow).
__device__ __forceinline__ int perm_pow(const int *base, int d, int i, long s) {
    const int *cyc = base, *start = base + d, *len = base + 2 * d, *k = base + 3 * d;
    long r = ((long)k[i] + s) % len[i];
    if (r < 0) r += len[i];
    return cyc[start[i] + r];
}

// Source coordinate of output i of the odd-even interleave (pmat.c).
__device__ __forceinline__ int oddeven_src(int d, int i) { return i % 2 == 0 ? i / 2 : (d + 1) / 2 + i / 2; }

// A token's angles cos/sin[F] (double) and, for PERMUTE, its index map[d]; strided over the block.
__device__ void token_prep(const qk_args &a, const int32_t *p, double *cs, double *sn, int *map) {
    for (int j = threadIdx.x; j < a.F; j += blockDim.x) {
        double th = a.theta ? (double)a.theta[j] : a.theta0[j];
        sincos(__dmul_rn((double)axis_pos(a, p, j), th), &sn[j], &cs[j]);
    }
    if (a.qk == PE_QK_PERMUTE)
        for (int j = threadIdx.x; j < a.d; j += blockDim.x) {
            long s = axis_pos(a, p, j);
            map[j] = j < a.half ? perm_pow(a.perm0, a.d, j, s) : a.half + perm_pow(a.perm1, a.d, j - a.half, s);
        }
}

// x . y over d floats in double, by one warp (lane strides, butterfly): the same value on every lane.
__device__ __forceinline__ double warp_dot(const float *x, const float *y, int d) {
    double s = 0.0;
    for (int i = threadIdx.x & 31; i < d; i += 32) s += (double)x[i] * y[i];
    return warp_sum_d(s);
}

// xt = P xs (not for identity); hc = (float)(2 xs.u) for Householder.
__device__ void p_apply(const qk_args &a, const float *xs, float *xt, float hc) {
    const int d = a.d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        switch (a.p) {
        case PE_P_HOUSEHOLDER: xt[i] = __fsub_rn(xs[i], __fmul_rn(hc, a.u[i])); break;
        case PE_P_DCT: {
            double s = 0.0;
            for (int n = 0; n < d; n++) s = __dadd_rn(s, __dmul_rn((double)a.dct[(size_t)i * d + n], (double)xs[n]));
            xt[i] = (float)s;
            break;
        }
        case PE_P_ODDEVEN: xt[i] = xs[oddeven_src(d, i)]; break;
        default: xt[i] = xs[i]; break;
        }
    }
}

// dx[d] += P^T g; hc = (float)(2 g.u) for Householder.
__device__ void p_apply_t(const qk_args &a, const float *g, float *dx, float hc) {
    const int d = a.d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        switch (a.p) {
        case PE_P_HOUSEHOLDER: dx[i] = __fadd_rn(dx[i], __fsub_rn(g[i], __fmul_rn(hc, a.u[i]))); break;
        case PE_P_DCT: {
            double s = 0.0;
            for (int k = 0; k < d; k++) s = __dadd_rn(s, __dmul_rn((double)a.dct[(size_t)k * d + i], (double)g[k]));
            dx[i] = __fadd_rn(dx[i], (float)s);
            break;
        }
        case PE_P_ODDEVEN: dx[oddeven_src(d, i)] = __fadd_rn(dx[oddeven_src(d, i)], g[i]); break;
        default: dx[i] = __fadd_rn(dx[i], g[i]); break;
        }
    }
}

// y[W] = core(xt[d]) for one head (rope, rotation, unitary, permute).
__device__ void core_fwd(const qk_args &a, const float *xt, const double *cs, const double *sn, const int *map,
                         float *y) {
    const int d = a.d, F = a.F;
    switch (a.qk) {
    case PE_QK_ROPE:
    case PE_QK_ROTATION:
        for (int j = threadIdx.x; j < F; j += blockDim.x) {
            const int i0 = a.qk == PE_QK_ROPE ? j : 2 * j, i1 = a.qk == PE_QK_ROPE ? j + F : 2 * j + 1;
            const double c = cs[j], s = sn[j], x0 = xt[i0], x1 = xt[i1];
            y[i0] = (float)__dsub_rn(__dmul_rn(x0, c), __dmul_rn(x1, s));
            y[i1] = (float)__dadd_rn(__dmul_rn(x1, c), __dmul_rn(x0, s));
        }
        if ((d & 1) && threadIdx.x == 0) y[d - 1] = xt[d - 1];
        break;
    case PE_QK_UNITARY:
        for (int j = threadIdx.x; j < d; j += blockDim.x) {
            y[j] = (float)__dmul_rn((double)xt[j], cs[j]);
            y[d + j] = (float)__dmul_rn((double)xt[j], sn[j]);
        }
        break;
    case PE_QK_PERMUTE:
        for (int j = threadIdx.x; j < d; j += blockDim.x) y[j] = xt[map[j]];
        break;
    default: break;
    }
}

// g[d] = core^T dy[W] for one head.
__device__ void core_bwd(const qk_args &a, const float *dy, const double *cs, const double *sn, const int *map,
                         float *g) {
    const int d = a.d, F = a.F;
    switch (a.qk) {
    case PE_QK_ROPE:
    case PE_QK_ROTATION:
        for (int j = threadIdx.x; j < F; j += blockDim.x) {
            const int i0 = a.qk == PE_QK_ROPE ? j : 2 * j, i1 = a.qk == PE_QK_ROPE ? j + F : 2 * j + 1;
            const double c = cs[j], s = sn[j], d0 = dy[i0], d1 = dy[i1];
            g[i0] = (float)__dadd_rn(__dmul_rn(d0, c), __dmul_rn(d1, s));
            g[i1] = (float)__dsub_rn(__dmul_rn(d1, c), __dmul_rn(d0, s));
        }
        if ((d & 1) && threadIdx.x == 0) g[d - 1] = dy[d - 1];
        break;
    case PE_QK_UNITARY:
        for (int j = threadIdx.x; j < d; j += blockDim.x)
            g[j] = (float)__dadd_rn(__dmul_rn((double)dy[j], cs[j]), __dmul_rn((double)dy[d + j], sn[j]));
        break;
    case PE_QK_PERMUTE:
        for (int j = threadIdx.x; j < d; j += blockDim.x) g[map[j]] = dy[j];
        break;
    default: break;
    }
}

// d loss / d angle_j of one head (rotation, unitary; the others have no learned angle).
__device__ __forceinline__ double dangle(const qk_args &a, const float *xt, const float *dy, int j, double c,
                                         double s) {
    if (a.qk == PE_QK_ROTATION) {
        const double x0 = xt[2 * j], x1 = xt[2 * j + 1];
        const double y0 = __dsub_rn(__dmul_rn(x0, c), __dmul_rn(x1, s));
        const double y1 = __dadd_rn(__dmul_rn(x1, c), __dmul_rn(x0, s));
        return __dsub_rn(__dmul_rn((double)dy[2 * j + 1], y0), __dmul_rn((double)dy[2 * j], y1));
    }
    if (a.qk == PE_QK_UNITARY) {
        const double t = __dadd_rn(__dmul_rn(-(double)dy[j], s), __dmul_rn((double)dy[a.d + j], c));
        return __dmul_rn((double)xt[j], t);
    }
    return 0.0;
}

// ------------------------------------------------------------------ kernels

// u[d] = v / (||v|| + 1e-6), *vn = ||v|| (sequential double sum, as pmat_unit): one block.
__global__ void householder_unit_kernel(float *u, double *vn, const float *v, int d) {
    __shared__ double nsh;
    if (threadIdx.x == 0) {
        double s = 0.0;
        for (int i = 0; i < d; i++) s = __dadd_rn(s, __dmul_rn((double)v[i], (double)v[i]));
        nsh = sqrt(s);
        *vn = nsh;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < d; i += blockDim.x) u[i] = (float)((double)v[i] / (nsh + 1e-6));
}

// out[n, h*W:(h+1)*W] = core(P in[n, h*d:(h+1)*d]) at pos[n]: one block per token n, the heads in turn.
__global__ void qk_forward_kernel(qk_args a, const float *in, float *out) {
    __shared__ double cs[MAXD], sn[MAXD];
    __shared__ float xs[MAXD], xt[MAXD];
    __shared__ int map[MAXD];
    __shared__ double dot;
    const int n = blockIdx.x;
    if (threadIdx.x == 0) dot = 0.0; // read (unused) by P kinds without a Householder vector
    token_prep(a, a.pos + (size_t)n * a.R, cs, sn, map);
    for (int h = 0; h < a.H; h++) {
        const float *x = in + (size_t)n * a.ldi + (size_t)h * a.d;
        for (int i = threadIdx.x; i < a.d; i += blockDim.x) xs[i] = x[i];
        __syncthreads();
        if (a.p == PE_P_HOUSEHOLDER) {
            if (threadIdx.x < 32) {
                double s = warp_dot(xs, a.u, a.d);
                if (threadIdx.x == 0) dot = s;
            }
            __syncthreads();
        }
        const float *xp = xs;
        if (a.p != PE_P_IDENTITY) {
            p_apply(a, xs, xt, (float)(2.0 * dot));
            __syncthreads();
            xp = xt;
        }
        core_fwd(a, xp, cs, sn, map, out + (size_t)n * a.ldo + (size_t)h * a.W);
        __syncthreads(); // before the next head rewrites xs / xt
    }
}

// din += P^T core^T dout over tokens; with learn_th / learn_v also the parameter-gradient sums of
// the block's tokens, in token order: pt[j] += pos_j sum_h dL/dangle_j, pu[i] += -2 sum_h ((x.u) g_i
// + (g.u) x_i), written to part[blockIdx.x * np ...] (theta first, then u). Without parameter
// gradients: one block per token; with them: PE_CHUNKS blocks, block ch owns tokens
// [N ch / PE_CHUNKS, N (ch+1) / PE_CHUNKS).
__global__ void qk_backward_kernel(qk_args a, const float *in, const float *dout, float *din, int learn_th,
                                   int learn_v, double *part, int np) {
    __shared__ double cs[MAXD], sn[MAXD], ph[MAXD], pt[MAXD], pu[MAXD];
    __shared__ float xs[MAXD], xt[MAXD], g[MAXD];
    __shared__ int map[MAXD];
    __shared__ double dots[2]; // g.u, x.u
    const int learn = learn_th || learn_v, d = a.d;
    int n0 = blockIdx.x, n1 = n0 + 1;
    if (learn) {
        n0 = (int)((long)a.N * blockIdx.x / gridDim.x);
        n1 = (int)((long)a.N * (blockIdx.x + 1) / gridDim.x);
    }
    for (int j = threadIdx.x; j < a.F; j += blockDim.x) pt[j] = 0.0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) pu[i] = 0.0;
    if (threadIdx.x == 0) dots[0] = dots[1] = 0.0; // read (unused) by P kinds without a Householder vector
    for (int n = n0; n < n1; n++) {
        const int32_t *p = a.pos + (size_t)n * a.R;
        __syncthreads(); // the previous token's readers of cs / sn / map are done
        token_prep(a, p, cs, sn, map);
        for (int j = threadIdx.x; j < a.F; j += blockDim.x) ph[j] = 0.0;
        __syncthreads();
        for (int h = 0; h < a.H; h++) {
            const float *x = in + (size_t)n * a.ldi + (size_t)h * d, *dy = dout + (size_t)n * a.ldo + (size_t)h * a.W;
            float *dx = din + (size_t)n * a.ldi + (size_t)h * d;
            if (learn)
                for (int i = threadIdx.x; i < d; i += blockDim.x) xs[i] = x[i];
            core_bwd(a, dy, cs, sn, map, g);
            __syncthreads();
            if (a.p == PE_P_HOUSEHOLDER) {
                const int w = threadIdx.x >> 5;
                if (w == 0 || (w == 1 && learn)) {
                    double s = warp_dot(w == 0 ? g : xs, a.u, d);
                    if ((threadIdx.x & 31) == 0) dots[w] = s;
                }
                __syncthreads();
            }
            p_apply_t(a, g, dx, (float)(2.0 * dots[0]));
            if (learn_v) {
                const double A = dots[1], B = dots[0];
                for (int i = threadIdx.x; i < d; i += blockDim.x) {
                    const double t = __dadd_rn(__dmul_rn(A, (double)g[i]), __dmul_rn(B, (double)xs[i]));
                    pu[i] = __dadd_rn(pu[i], __dmul_rn(-2.0, t));
                }
            }
            const float *xp = xs;
            if (learn_th && a.p != PE_P_IDENTITY) {
                p_apply(a, xs, xt, (float)(2.0 * dots[1]));
                xp = xt;
            }
            __syncthreads();
            if (learn_th)
                for (int j = threadIdx.x; j < a.F; j += blockDim.x)
                    ph[j] = __dadd_rn(ph[j], dangle(a, xp, dy, j, cs[j], sn[j]));
            __syncthreads(); // before the next head rewrites xs / xt / g
        }
        if (learn_th)
            for (int j = threadIdx.x; j < a.F; j += blockDim.x)
                pt[j] = __dadd_rn(pt[j], __dmul_rn((double)axis_pos(a, p, j), ph[j]));
    }
    if (!learn) return;
    double *row = part + (size_t)blockIdx.x * np;
    const int ut = learn_th ? a.F : 0;
    if (learn_th)
        for (int j = threadIdx.x; j < a.F; j += blockDim.x) row[j] = pt[j];
    if (learn_v)
        for (int i = threadIdx.x; i < d; i += blockDim.x) row[ut + i] = pu[i];
}

// The parameter gradients from part[nch, np] summed over the chunks in order: gth[F] += theta's;
// gv[d] += v's through u = v / (||v|| + 1e-6) (pmat_unit_backward): one block.
__global__ void qk_param_reduce_kernel(const double *part, int nch, int np, int F, int d, int learn_th, int learn_v,
                                       float *gth, float *gv, const float *v, const double *vn) {
    __shared__ double du[MAXD];
    __shared__ double vdu;
    const int ut = learn_th ? F : 0;
    for (int k = threadIdx.x; k < np; k += blockDim.x) {
        double acc = 0.0;
        for (int ch = 0; ch < nch; ch++) acc = __dadd_rn(acc, part[(size_t)ch * np + k]);
        if (k < ut) gth[k] = __fadd_rn(gth[k], (float)acc);
        else du[k - ut] = acc;
    }
    if (!learn_v) return;
    __syncthreads();
    if (threadIdx.x == 0) {
        double s = 0.0;
        for (int i = 0; i < d; i++) s = __dadd_rn(s, __dmul_rn((double)v[i], du[i]));
        vdu = s;
    }
    __syncthreads();
    const double nv = *vn, A = 1.0 / (nv + 1e-6), B = nv > 0.0 ? vdu / (nv * (nv + 1e-6) * (nv + 1e-6)) : 0.0;
    for (int i = threadIdx.x; i < d; i += blockDim.x)
        gv[i] = __fadd_rn(gv[i], (float)__dsub_rn(__dmul_rn(du[i], A), __dmul_rn((double)v[i], B)));
}

// The cosformer angle pi i / (2 max_len) of the token at p (i = t, or row * grid_w + col).
__device__ __forceinline__ void cosformer_angle(const qk_args &a, const int32_t *p, double *s, double *c) {
    long i = a.R == 1 ? (long)p[0] : (long)p[0] * a.grid_w + p[1];
    double ang = __ddiv_rn(__dmul_rn(3.14159265358979323846, (double)i), 2.0 * a.max_len);
    sincos(ang, s, c);
}

// out[n, h*2d + j] = x_j sin, out[n, h*2d + d + j] = x_j cos: one block per token.
__global__ void cosformer_forward_kernel(qk_args a, const float *in, float *out) {
    const int n = blockIdx.x, d = a.d;
    double s, c;
    cosformer_angle(a, a.pos + (size_t)n * a.R, &s, &c);
    for (int k = threadIdx.x; k < a.H * d; k += blockDim.x) {
        const int h = k / d, j = k % d;
        const double x = in[(size_t)n * a.ldi + (size_t)h * d + j];
        float *y = out + (size_t)n * a.ldo + (size_t)h * 2 * d;
        y[j] = (float)__dmul_rn(x, s);
        y[d + j] = (float)__dmul_rn(x, c);
    }
}

// din_j += dy_j sin + dy_{d+j} cos: one block per token.
__global__ void cosformer_backward_kernel(qk_args a, const float *dout, float *din) {
    const int n = blockIdx.x, d = a.d;
    double s, c;
    cosformer_angle(a, a.pos + (size_t)n * a.R, &s, &c);
    for (int k = threadIdx.x; k < a.H * d; k += blockDim.x) {
        const int h = k / d, j = k % d;
        const float *dy = dout + (size_t)n * a.ldo + (size_t)h * 2 * d;
        float *dx = din + (size_t)n * a.ldi + (size_t)h * d + j;
        *dx = __fadd_rn(*dx, (float)__dadd_rn(__dmul_rn((double)dy[j], s), __dmul_rn((double)dy[d + j], c)));
    }
}

// Channel i of the width-w sinusoidal table at position p (sinusoidal.c's sin_value), for positions
// beyond the uploaded table.
__device__ float sinus_value(long p, int i, int w) {
    const int h = w / 2;
    if (i >= 2 * h) return 0.0f;
    const int k = i < h ? i : i - h;
    const double a = (double)p * pow(10000.0, -2.0 * k / w);
    return (float)(i < h ? sin(a) : cos(a));
}

struct embed_args {
    int kind, R, C, max_len, grid_h, grid_w;
    float scale;
    const float *table; // EMBED_TABLE: the uploaded table; EMBED_PARAM: the parameter
    const int32_t *pos;
};

// out[N, C] = tok * scale + table(pos) (out may be tok): one thread per element. Sinusoidal: the
// table row of the position (2-D: row * grid_w + col; each half read from a row where its own axis
// is in range), computed on the fly beyond it; learned: the clamped row of the parameter.
__global__ void pe_embed_forward_kernel(embed_args a, float *out, const float *tok, int N) {
    const size_t total = (size_t)N * a.C;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int n = (int)(i / a.C), c = (int)(i % a.C);
        const int32_t *p = a.pos + (size_t)n * a.R;
        float t;
        if (a.kind == PE_EMBED_TABLE) {
            if (a.R == 1) {
                const long q = p[0];
                t = q >= 0 && q < a.max_len ? a.table[(size_t)q * a.C + c] : sinus_value(q, c, a.C);
            } else {
                const int h0 = a.C / 2, axis = c >= h0;
                const long q = p[axis];
                const int off = axis ? h0 : 0, w = axis ? a.C - h0 : h0, rows = axis ? a.grid_w : a.grid_h;
                if (q >= 0 && q < rows) {
                    const size_t row = axis ? (size_t)q : (size_t)q * a.grid_w;
                    t = a.table[row * a.C + c];
                } else {
                    t = sinus_value(q, c - off, w);
                }
            }
        } else {
            long r = a.R == 1 ? (long)p[0] : (long)p[0] * a.grid_w + p[1];
            if (r < 0) r = 0;
            if (r >= a.max_len) r = a.max_len - 1;
            t = a.table[(size_t)r * a.C + c];
        }
        out[i] = __fadd_rn(__fmul_rn(tok[i], a.scale), t);
    }
}

// dtok[n] += dout * scale.
__global__ void pe_embed_dtok_kernel(float *dtok, const float *dout, size_t n, float scale) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dtok[i] = __fadd_rn(dtok[i], __fmul_rn(dout[i], scale));
}

// ------------------------------------------------------------------ host side

static unsigned ew_blocks(size_t n) {
    unsigned b = blocks_for(n, 256);
    return b < 65535u ? b : 65535u;
}

// Frees what pe_open allocated (NULL members are skipped).
void cuda_pe_close(const backend *be, be_pe *p) {
    if (!p) return;
    if (be) CUDA_OK(cudaStreamSynchronize(ctx_of(be)->stream)); // no kernel still reads these
    void *dev[] = {p->table, p->theta0, p->dct, p->perm, p->u, p->vn, p->part};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        if (dev[i]) cudaFree(dev[i]);
    free(p);
}

// A device copy of host[bytes] (or zeroed when host is NULL); NULL when out of memory.
static void *dev_copy(const cuda_ctx *c, const void *host, size_t bytes) {
    void *d = NULL;
    if (cudaMalloc(&d, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError(); // clear it, or the next launch check would report it
        return NULL;
    }
    if (host) CUDA_OK(cudaMemcpyAsync(d, host, bytes, cudaMemcpyHostToDevice, c->stream));
    else CUDA_OK(cudaMemsetAsync(d, 0, bytes ? bytes : 1, c->stream));
    return d;
}

be_pe *cuda_pe_open(const backend *be, const pe *e, char *err, size_t errlen) {
    const cuda_ctx *c = ctx_of(be);
    const char *name = e->vt->name;
    pe_data D;
    pe_describe(e, &D);
    const pe_dims *dm = &e->dims;
    const int d = dm->head_dim;
    if (d < 1 || d > MAXD) {
        errf(err, errlen, "encoding '%s': head_dim %d is outside what the CUDA backend handles (1..%d)", name, d, MAXD);
        return NULL;
    }
    if ((D.hooks & PE_HOOK_EMBED) && !(D.embed == PE_EMBED_TABLE && D.table) && D.embed != PE_EMBED_PARAM) {
        errf(err, errlen, "encoding '%s': model.device=cuda needs its EMBED table as data (pe_describe gave none); "
             "set model.device=cpu", name);
        return NULL;
    }
    if (D.hooks & PE_HOOK_QK) {
        int want_w = D.qk == PE_QK_UNITARY || D.qk == PE_QK_COSFORMER ? 2 * d : d;
        int want_f = D.qk == PE_QK_ROPE || D.qk == PE_QK_ROTATION ? d / 2 : D.qk == PE_QK_UNITARY ? d : 0;
        const char *why = NULL;
        if (D.qk == PE_QK_NONE || D.qk > PE_QK_COSFORMER) why = "no QK kind";
        else if (D.qk_dim != want_w) why = "a qk_dim that does not fit its kind";
        else if (D.nfreq != want_f || (want_f && !D.theta0)) why = "frequencies that do not fit its kind";
        else if (want_f && (D.half < 0 || D.half > want_f)) why = "a frequency split outside [0, nfreq]";
        else if (D.qk == PE_QK_PERMUTE &&
                 (!D.perm || (D.perm_sets != 1 && D.perm_sets != 2) || D.half != (D.perm_sets == 2 ? (d + 1) / 2 : d)))
            why = "permutations that do not fit the head dim";
        else if (D.qk != PE_QK_COSFORMER && D.p == PE_P_DCT && !D.dct) why = "P = dct without its matrix";
        else if (D.qk != PE_QK_COSFORMER && (unsigned)D.p > PE_P_ODDEVEN) why = "an unknown P";
        if (why) {
            errf(err, errlen, "encoding '%s': the CUDA backend cannot apply it (pe_describe gave %s); "
                 "set model.device=cpu", name, why);
            return NULL;
        }
    }
    be_pe *p = (be_pe *)calloc(1, sizeof *p);
    if (!p) {
        errf(err, errlen, "encoding '%s': out of memory", name);
        return NULL;
    }
    p->e = e;
    p->hooks = D.hooks, p->embed = D.embed, p->qk = D.qk, p->embed_scale = D.embed_scale;
    p->C = dm->d_model, p->H = dm->heads, p->d = d, p->W = D.qk_dim, p->R = dm->pos_rank;
    p->split = dm->pos_rank == 2 && e->opt.axes_split, p->max_len = dm->max_len;
    p->grid_h = dm->grid_h, p->grid_w = dm->grid_w, p->layers = dm->layers;
    p->p = D.qk == PE_QK_COSFORMER ? PE_P_IDENTITY : D.p;
    p->F = D.nfreq, p->half = D.half, p->perm_sets = D.perm_sets;
    p->theta_learned = e->opt.theta_learned, p->v_learned = e->opt.householder_learned;
    int ok = 1;
    if ((D.hooks & PE_HOOK_EMBED) && D.embed == PE_EMBED_TABLE)
        ok &= (p->table = (float *)dev_copy(c, D.table, (size_t)p->max_len * p->C * sizeof(float))) != NULL;
    if (D.hooks & PE_HOOK_QK) {
        if (p->F > 0) ok &= (p->theta0 = (double *)dev_copy(c, D.theta0, (size_t)p->F * sizeof(double))) != NULL;
        if (p->p == PE_P_DCT) ok &= (p->dct = (float *)dev_copy(c, D.dct, (size_t)d * d * sizeof(float))) != NULL;
        if (p->p == PE_P_HOUSEHOLDER) {
            ok &= (p->u = (float *)dev_copy(c, NULL, (size_t)d * sizeof(float))) != NULL;
            ok &= (p->vn = (double *)dev_copy(c, NULL, sizeof(double))) != NULL;
        }
        if (p->F > 0 || p->p == PE_P_HOUSEHOLDER)
            ok &= (p->part = (double *)dev_copy(c, NULL, (size_t)PE_CHUNKS * (p->F + d) * sizeof(double))) != NULL;
        if (D.qk == PE_QK_PERMUTE && ok) {
            const size_t nperm = (size_t)p->layers * p->perm_sets, ints = nperm * 4 * d;
            int *h = (int *)calloc(ints, sizeof(int));
            ok = h != NULL;
            for (size_t k = 0; ok && k < nperm; k++) {
                const int set = (int)(k % p->perm_sets), size = set == 0 ? p->half : d - p->half;
                for (int a = 0; a < 4; a++) memcpy(h + (k * 4 + a) * d, D.perm[k * 4 + a], (size_t)size * sizeof(int));
            }
            if (ok) ok = (p->perm = (int *)dev_copy(c, h, ints * sizeof(int))) != NULL;
            if (h) {
                CUDA_OK(cudaStreamSynchronize(c->stream)); // the copy has read h
                free(h);
            }
        }
    }
    CUDA_OK(cudaStreamSynchronize(c->stream));
    if (!ok) {
        cuda_pe_close(be, p);
        errf(err, errlen, "encoding '%s': out of GPU memory for its tables", name);
        return NULL;
    }
    return p;
}

// The layer's parameter offsets as the instance has them now (see the top of the file).
static void layer_offsets(const be_pe *p, int layer, size_t *th_off, size_t *v_off, size_t *table_off) {
    pe_data D;
    pe_describe(p->e, &D);
    *th_off = D.theta_off && layer >= 0 && layer < p->layers ? D.theta_off[layer] : NO_OFF;
    *v_off = D.v_off && layer >= 0 && layer < p->layers ? D.v_off[layer] : NO_OFF;
    *table_off = D.table_off;
}

// The kernel arguments of a QK call on layer r->layer; computes the Householder u first when P has one.
// *learn_th / *learn_v: whether this call's backward gives theta / v gradients (the CPU engine's rule).
static qk_args qk_setup(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params, size_t *th_off,
                        size_t *v_off, int *learn_th, int *learn_v) {
    const cuda_ctx *c = ctx_of(be);
    size_t toff;
    layer_offsets(p, r->layer, th_off, v_off, &toff);
    qk_args a;
    memset(&a, 0, sizeof a);
    a.qk = p->qk, a.p = p->p, a.d = p->d, a.H = p->H, a.W = p->W, a.F = p->F, a.R = p->R, a.split = p->split;
    a.half = p->half, a.max_len = p->max_len, a.grid_w = p->grid_w, a.ldi = r->ld_in, a.ldo = r->ld_out, a.N = r->N;
    a.pos = r->pos, a.theta0 = p->theta0, a.dct = p->dct, a.u = p->u;
    a.theta = p->F > 0 && *th_off != NO_OFF ? params + *th_off : NULL;
    if (p->qk == PE_QK_PERMUTE) {
        const size_t base = (size_t)r->layer * p->perm_sets * 4 * p->d;
        a.perm0 = p->perm + base;
        a.perm1 = p->perm_sets == 2 ? a.perm0 + (size_t)4 * p->d : a.perm0;
    }
    *learn_th = a.theta != NULL && p->theta_learned;
    *learn_v = 0;
    if (p->p == PE_P_HOUSEHOLDER) {
        if (*v_off == NO_OFF) {
            fprintf(stderr, "lrpe: encoding '%s': layer %d has no Householder vector (parameters not registered)\n",
                    p->e->vt->name, r->layer);
            abort();
        }
        *learn_v = p->v_learned;
        householder_unit_kernel<<<1, QK_THREADS, 0, c->stream>>>(p->u, p->vn, params + *v_off, p->d);
        LAUNCH_OK();
    }
    return a;
}

void cuda_pe_qk_forward(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params, const float *in,
                        float *out) {
    const cuda_ctx *c = ctx_of(be);
    if (r->N <= 0) return;
    size_t th_off, v_off;
    int lt, lv;
    qk_args a = qk_setup(be, p, r, params, &th_off, &v_off, &lt, &lv);
    if (p->qk == PE_QK_COSFORMER) cosformer_forward_kernel<<<(unsigned)r->N, QK_THREADS, 0, c->stream>>>(a, in, out);
    else qk_forward_kernel<<<(unsigned)r->N, QK_THREADS, 0, c->stream>>>(a, in, out);
    LAUNCH_OK();
}

void cuda_pe_qk_backward(const backend *be, const be_pe *p, const pe_qk_rows *r, const float *params, float *grads,
                         const float *in, const float *dout, float *din) {
    const cuda_ctx *c = ctx_of(be);
    if (r->N <= 0) return;
    size_t th_off, v_off;
    int lt, lv;
    qk_args a = qk_setup(be, p, r, params, &th_off, &v_off, &lt, &lv);
    if (p->qk == PE_QK_COSFORMER) {
        cosformer_backward_kernel<<<(unsigned)r->N, QK_THREADS, 0, c->stream>>>(a, dout, din);
        LAUNCH_OK();
        return;
    }
    if (!lt && !lv) {
        qk_backward_kernel<<<(unsigned)r->N, QK_THREADS, 0, c->stream>>>(a, in, dout, din, 0, 0, NULL, 0);
        LAUNCH_OK();
        return;
    }
    const int np = (lt ? p->F : 0) + (lv ? p->d : 0);
    qk_backward_kernel<<<PE_CHUNKS, QK_THREADS, 0, c->stream>>>(a, in, dout, din, lt, lv, p->part, np);
    LAUNCH_OK();
    qk_param_reduce_kernel<<<1, 256, 0, c->stream>>>(p->part, PE_CHUNKS, np, p->F, p->d, lt, lv,
                                                     lt ? grads + th_off : NULL, lv ? grads + v_off : NULL,
                                                     lv ? params + v_off : NULL, p->vn);
    LAUNCH_OK();
}

static embed_args embed_setup(const be_pe *p, const float *params, const int32_t *pos) {
    size_t th, v, toff;
    layer_offsets(p, 0, &th, &v, &toff);
    embed_args a;
    a.kind = p->embed, a.R = p->R, a.C = p->C, a.max_len = p->max_len, a.grid_h = p->grid_h, a.grid_w = p->grid_w;
    a.scale = p->embed_scale, a.pos = pos;
    a.table = p->embed == PE_EMBED_TABLE ? p->table : params + toff;
    return a;
}

void cuda_pe_embed_forward(const backend *be, const be_pe *p, const float *params, float *out, const float *tok,
                           const int32_t *pos, int N) {
    if (N <= 0 || !(p->hooks & PE_HOOK_EMBED)) return;
    embed_args a = embed_setup(p, params, pos);
    pe_embed_forward_kernel<<<ew_blocks((size_t)N * p->C), 256, 0, ctx_of(be)->stream>>>(a, out, tok, N);
    LAUNCH_OK();
}

void cuda_pe_embed_backward(const backend *be, const be_pe *p, const float *params, float *grads, float *dtok,
                            const float *dout, const int32_t *pos, int N) {
    const cuda_ctx *c = ctx_of(be);
    if (N <= 0 || !(p->hooks & PE_HOOK_EMBED)) return;
    const size_t n = (size_t)N * p->C;
    pe_embed_dtok_kernel<<<ew_blocks(n), 256, 0, c->stream>>>(dtok, dout, n, p->embed_scale);
    LAUNCH_OK();
    if (p->embed == PE_EMBED_PARAM) {
        size_t th, v, toff;
        layer_offsets(p, 0, &th, &v, &toff);
        row_key k = {1, pos, p->R, p->grid_w, p->max_len};
        cuda_scatter_rows(c, grads + toff, dout, k, N, p->C);
    }
}
