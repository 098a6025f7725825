// Softmax attention on the GPU, flash-attention style (core/attn_softmax.c is the reference):
// per (batch, head), 64 query rows x 64 keys at a time with an online softmax; only the row
// log-sum-exp [B,H,T] is kept, and the backward recomputes the scores from it. The backward has no
// atomics: one kernel owns each key tile (dk, dv: it walks the query tiles in order), another each
// query tile (dq: it walks the key tiles in order). Also the dispatch of the backend's attention
// entries (the linear kernel lives in linattn.cu).
#define LRPE_ATTN_CUDA_IMPL
#include "attn_cuda.cuh"

#include <math.h>

// Everything a softmax kernel reads; element (b, t, h, i) of a view x lives at
// x[(b*T + t)*ldx + h*width + i] (attention.h), dq / dk / dv / dout like q / k / v / o.
struct sm_args {
    int B, T, H, dqk, dv, causal, pos_rank;
    long ldq, ldk, ldv, ldo;
    float scale;
    const float *slopes;  // [H] or NULL
    const int32_t *pos;   // [B*T*pos_rank] when slopes
    const uint8_t *valid; // [B*T] or NULL
    const float *q, *k, *v;
    const float *o, *dout; // backward
    float *out;            // forward output
    float *lse;            // [B*H*T]: forward writes, backward reads
    float *D;              // [B*H*T]: rowsum(dout * o), backward
    float *gq, *gk, *gv;   // backward: dq, dk, dv, accumulated
};

// The ALiBi bias of encodings/alibi.c: (float)(-(double)slope * distance), the distance |s - t| or
// |dr| + |dc| in 64-bit integers.
__device__ __forceinline__ float sm_alibi(double slope, const int32_t *qp, const int32_t *kp, int pos_rank) {
    long long d = llabs((long long)qp[0] - (long long)kp[0]);
    if (pos_rank == 2) d += llabs((long long)qp[1] - (long long)kp[1]);
    return (float)(-slope * (double)d);
}

// sc = the scores of query tile q0 against key tile k0 of (b, h) in the thread's micro-tile layout:
// scale * q.k (+ ALiBi bias), -inf where masked (padding key, key after the query when causal, rows
// or keys past T). Uses As, Bs.
__device__ __forceinline__ void sm_scores(float sc[4][4], const sm_args &a, int b, int h, int q0, int k0, float *As,
                                          float *Bs) {
    const int T = a.T, nq = min(AT_TILE, T - q0), nk = min(AT_TILE, T - k0);
    const float *qt = a.q + ((long)b * T + q0) * a.ldq + (long)h * a.dqk;
    const float *kt = a.k + ((long)b * T + k0) * a.ldk + (long)h * a.dqk;
    at_gemm_abt(sc, qt, a.ldq, nq, kt, a.ldk, nk, a.dqk, As, Bs);
    const int tr = at_tr(), tc = at_tc();
    const double slope = a.slopes ? (double)a.slopes[h] : 0.0;
    const int32_t *pos_b = a.slopes ? a.pos + (long)b * T * a.pos_rank : nullptr;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int s = q0 + tr + 16 * i;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int t = k0 + tc + 16 * j;
            const bool vis = s < T && t < T && (!a.causal || t <= s) && (!a.valid || a.valid[(long)b * T + t]);
            float x = sc[i][j] * a.scale;
            if (vis && pos_b) x += sm_alibi(slope, pos_b + (long)s * a.pos_rank, pos_b + (long)t * a.pos_rank, a.pos_rank);
            sc[i][j] = vis ? x : -INFINITY;
        }
    }
}

// [nqt * B*H * nsl] blocks of 256: query tile x (b, h) x 64-column slice of dv. Online softmax over
// the key tiles (causal: up to the diagonal tile), o[rows, slice] = P V / l; slice 0 writes lse.
// Scores are recomputed per slice (dv > 64 costs dqk T^2 more per extra slice).
__global__ void __launch_bounds__(AT_THREADS) sm_forward_kernel(sm_args a, int nqt, int nsl) {
    extern __shared__ float smem[];
    float *As = smem, *Bs = As + AT_TILE_FLOATS, *Ps = Bs + AT_TILE_FLOATS;
    int blk = (int)blockIdx.x;
    const int sl = blk % nsl;
    blk /= nsl;
    const int qt = nqt - 1 - blk % nqt; // longest causal rows first
    const int bh = blk / nqt, b = bh / a.H, h = bh % a.H;
    const int T = a.T, q0 = qt * AT_TILE, c0 = sl * AT_TILE, tr = at_tr(), tc = at_tc();
    const int nkt = a.causal ? qt + 1 : (T + AT_TILE - 1) / AT_TILE;
    float o[4][4], m[4], l[4];
    at_zero(o);
#pragma unroll
    for (int i = 0; i < 4; i++) m[i] = -INFINITY, l[i] = 0.0f;
    for (int kt = 0; kt < nkt; kt++) {
        const int k0 = kt * AT_TILE;
        float sc[4][4];
        sm_scores(sc, a, b, h, q0, k0, As, Bs);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float mx = fmaxf(fmaxf(sc[i][0], sc[i][1]), fmaxf(sc[i][2], sc[i][3]));
            mx = at_group16_max(mx);
            const float mnew = fmaxf(m[i], mx);
            const float mref = mnew == -INFINITY ? 0.0f : mnew; // an all-masked row so far: p = 0, not NaN
            const float alpha = expf(m[i] - mref);
            float rs = 0.0f;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                sc[i][j] = expf(sc[i][j] - mref);
                rs += sc[i][j];
            }
            rs = at_group16_sum(rs);
            l[i] = l[i] * alpha + rs;
            m[i] = mnew;
#pragma unroll
            for (int j = 0; j < 4; j++) o[i][j] *= alpha;
        }
        __syncthreads(); // every thread is done with As, Bs
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) Ps[(tr + 16 * i) * AT_LD + tc + 16 * j] = sc[i][j];
        const int nk = min(AT_TILE, T - k0);
        at_load(Bs, a.v + ((long)b * T + k0) * a.ldv + (long)h * a.dv + c0, a.ldv, nk, min(AT_TILE, a.dv - c0));
        __syncthreads();
        at_mma_ab(o, Ps, Bs); // the next sm_scores syncs before touching As, Bs; Ps is rewritten after that
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int s = q0 + tr + 16 * i;
        if (s >= T) continue;
        const bool none = m[i] == -INFINITY; // no visible key: zeros, lse = -inf (as the CPU)
        const float inv = none ? 0.0f : 1.0f / l[i];
        float *orow = a.out + ((long)b * T + s) * a.ldo + (long)h * a.dv;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int c = c0 + tc + 16 * j;
            if (c < a.dv) orow[c] = none ? 0.0f : o[i][j] * inv;
        }
        if (sl == 0 && tc == 0) a.lse[(long)bh * T + s] = none ? -INFINITY : m[i] + logf(l[i]);
    }
}

// [ceil(B*T*H / 8)] blocks of 256, one warp per (b, t, h): D[(b*H + h)*T + t] = dout_row . o_row over dv.
__global__ void __launch_bounds__(256) sm_rowdot_kernel(sm_args a) {
    const long row = (long)blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    const long n = (long)a.B * a.T * a.H;
    if (row >= n) return; // whole warps leave together: the shuffles below see full warps
    const int h = (int)(row % a.H);
    const long bt = row / a.H;
    const float *dr = a.dout + bt * a.ldo + (long)h * a.dv, *orow = a.o + bt * a.ldo + (long)h * a.dv;
    float s = 0.0f;
    for (int c = lane; c < a.dv; c += 32) s += dr[c] * orow[c];
#pragma unroll
    for (int m = 16; m >= 1; m >>= 1) s += __shfl_xor_sync(0xffffffffu, s, m);
    if (lane == 0) {
        const long b = bt / a.T, t = bt % a.T;
        a.D[(b * a.H + h) * a.T + t] = s;
    }
}

// P and dS of query tile q0 x key tile k0 of (b, h), from the recomputed scores, lse and D:
// p = exp(score - lse) (0 where masked or where the row saw no key), ds = p (dP - D) scale with
// dP = dout V^T. Uses As, Bs.
__device__ __forceinline__ void sm_probs(float p[4][4], float ds[4][4], const sm_args &a, int b, int h, int q0, int k0,
                                         float *As, float *Bs) {
    const int T = a.T, bh = b * a.H + h, tr = at_tr();
    sm_scores(p, a, b, h, q0, k0, As, Bs);
    const float *dot = a.dout + ((long)b * T + q0) * a.ldo + (long)h * a.dv;
    const float *vt = a.v + ((long)b * T + k0) * a.ldv + (long)h * a.dv;
    at_gemm_abt(ds, dot, a.ldo, min(AT_TILE, T - q0), vt, a.ldv, min(AT_TILE, T - k0), a.dv, As, Bs);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int s = q0 + tr + 16 * i;
        const float lse = s < T ? a.lse[(long)bh * T + s] : -INFINITY;
        const float D = s < T ? a.D[(long)bh * T + s] : 0.0f;
        const bool none = isinf(lse);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const float pij = (none || p[i][j] == -INFINITY) ? 0.0f : expf(p[i][j] - lse);
            p[i][j] = pij;
            ds[i][j] = pij * (ds[i][j] - D) * a.scale;
        }
    }
}

// [nkt * B*H * nsl] blocks of 256: key tile x (b, h) x 64-column slice (of dk's dqk and dv's dv
// columns at once). Walks the query tiles in order (causal: from the diagonal tile on), dv += P^T dout
// and dk += dS^T q on its slice, then adds into dk, dv once: each element has one owner.
__global__ void __launch_bounds__(AT_THREADS) sm_dkdv_kernel(sm_args a, int nkt, int nsl) {
    extern __shared__ float smem[];
    float *As = smem, *Bs = As + AT_TILE_FLOATS, *Ps = Bs + AT_TILE_FLOATS, *Ss = Ps + AT_TILE_FLOATS;
    int blk = (int)blockIdx.x;
    const int sl = blk % nsl;
    blk /= nsl;
    const int kt = blk % nkt, bh = blk / nkt, b = bh / a.H, h = bh % a.H;
    const int T = a.T, k0 = kt * AT_TILE, c0 = sl * AT_TILE, tr = at_tr(), tc = at_tc();
    const int nqt = (T + AT_TILE - 1) / AT_TILE;
    float adv[4][4], adk[4][4];
    at_zero(adv);
    at_zero(adk);
    for (int qt = a.causal ? kt : 0; qt < nqt; qt++) {
        const int q0 = qt * AT_TILE, nq = min(AT_TILE, T - q0);
        float p[4][4], ds[4][4];
        sm_probs(p, ds, a, b, h, q0, k0, As, Bs);
        __syncthreads(); // every thread is done with As, Bs (and Ps, Ss of the previous tile)
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                Ps[(tr + 16 * i) * AT_LD + tc + 16 * j] = p[i][j];
                Ss[(tr + 16 * i) * AT_LD + tc + 16 * j] = ds[i][j];
            }
        const long row = (long)b * T + q0;
        at_load(As, a.dout + row * a.ldo + (long)h * a.dv + c0, a.ldo, nq, min(AT_TILE, a.dv - c0));
        at_load(Bs, a.q + row * a.ldq + (long)h * a.dqk + c0, a.ldq, nq, min(AT_TILE, a.dqk - c0));
        __syncthreads();
        at_mma_atb(adv, Ps, As); // dv[key][c] += sum_q P[q][key] dout[q][c]
        at_mma_atb(adk, Ss, Bs); // dk[key][c] += sum_q dS[q][key] q[q][c]
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int t = k0 + tr + 16 * i;
        if (t >= T) continue;
        float *dvr = a.gv + ((long)b * T + t) * a.ldv + (long)h * a.dv;
        float *dkr = a.gk + ((long)b * T + t) * a.ldk + (long)h * a.dqk;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int c = c0 + tc + 16 * j;
            if (c < a.dv) dvr[c] += adv[i][j];
            if (c < a.dqk) dkr[c] += adk[i][j];
        }
    }
}

// [nqt * B*H * nsl] blocks of 256: query tile x (b, h) x 64-column slice of dqk. Walks the key
// tiles in order (causal: up to the diagonal tile), dq += dS k on its slice, then adds into dq once.
__global__ void __launch_bounds__(AT_THREADS) sm_dq_kernel(sm_args a, int nqt, int nsl) {
    extern __shared__ float smem[];
    float *As = smem, *Bs = As + AT_TILE_FLOATS, *Ss = Bs + AT_TILE_FLOATS;
    int blk = (int)blockIdx.x;
    const int sl = blk % nsl;
    blk /= nsl;
    const int qt = nqt - 1 - blk % nqt; // longest causal rows first
    const int bh = blk / nqt, b = bh / a.H, h = bh % a.H;
    const int T = a.T, q0 = qt * AT_TILE, c0 = sl * AT_TILE, tr = at_tr(), tc = at_tc();
    const int nkt = a.causal ? qt + 1 : (T + AT_TILE - 1) / AT_TILE;
    float acc[4][4];
    at_zero(acc);
    for (int kt = 0; kt < nkt; kt++) {
        const int k0 = kt * AT_TILE;
        float p[4][4], ds[4][4];
        sm_probs(p, ds, a, b, h, q0, k0, As, Bs);
        __syncthreads(); // every thread is done with As, Bs (and Ss of the previous tile)
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) Ss[(tr + 16 * i) * AT_LD + tc + 16 * j] = ds[i][j];
        at_load(Bs, a.k + ((long)b * T + k0) * a.ldk + (long)h * a.dqk + c0, a.ldk, min(AT_TILE, T - k0),
                min(AT_TILE, a.dqk - c0));
        __syncthreads();
        at_mma_ab(acc, Ss, Bs); // dq[q][c] += sum_key dS[q][key] k[key][c]
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int s = q0 + tr + 16 * i;
        if (s >= T) continue;
        float *dqr = a.gq + ((long)b * T + s) * a.ldq + (long)h * a.dqk;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int c = c0 + tc + 16 * j;
            if (c < a.dqk) dqr[c] += acc[i][j];
        }
    }
}

static sm_args sm_args_of(const attn_shape *s, const float *q, const float *k, const float *v, const uint8_t *valid) {
    sm_args a = {};
    a.B = s->B, a.T = s->T, a.H = s->H, a.dqk = s->dqk, a.dv = s->dv, a.causal = s->causal;
    a.ldq = s->ldq, a.ldk = s->ldk, a.ldv = s->ldv, a.ldo = s->ldo;
    a.scale = s->scale;
    a.slopes = s->slopes, a.pos = s->slopes ? s->pos : nullptr, a.pos_rank = s->pos_rank == 2 ? 2 : 1;
    a.valid = valid, a.q = q, a.k = k, a.v = v;
    return a;
}

static int tiles_of(int n) { return (n + AT_TILE - 1) / AT_TILE; }

static void softmax_forward(cudaStream_t st, const attn_shape *s, float *o, float *saved, const float *q,
                            const float *k, const float *v, const uint8_t *valid) {
    sm_args a = sm_args_of(s, q, k, v, valid);
    a.out = o, a.lse = saved;
    const int nqt = tiles_of(s->T), nsl = tiles_of(s->dv);
    const size_t smem = 3 * AT_TILE_FLOATS * sizeof(float);
    at_smem_opt_in(sm_forward_kernel, smem);
    sm_forward_kernel<<<(unsigned)((long)nqt * s->B * s->H * nsl), AT_THREADS, smem, st>>>(a, nqt, nsl);
    LAUNCH_OK();
}

// scratch: D [B*H*T].
static void softmax_backward(cudaStream_t st, const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                             const float *o, const float *saved, const float *q, const float *k, const float *v,
                             const uint8_t *valid, float *scratch) {
    sm_args a = sm_args_of(s, q, k, v, valid);
    a.o = o, a.dout = dout, a.lse = (float *)saved, a.D = scratch, a.gq = dq, a.gk = dk, a.gv = dv;
    const long rows = (long)s->B * s->T * s->H;
    sm_rowdot_kernel<<<(unsigned)((rows + 7) / 8), 256, 0, st>>>(a);
    LAUNCH_OK();
    const int nt = tiles_of(s->T), nsl_kv = tiles_of(s->dqk > s->dv ? s->dqk : s->dv), nsl_q = tiles_of(s->dqk);
    const size_t smem_kv = 4 * AT_TILE_FLOATS * sizeof(float), smem_q = 3 * AT_TILE_FLOATS * sizeof(float);
    at_smem_opt_in(sm_dkdv_kernel, smem_kv);
    sm_dkdv_kernel<<<(unsigned)((long)nt * s->B * s->H * nsl_kv), AT_THREADS, smem_kv, st>>>(a, nt, nsl_kv);
    LAUNCH_OK();
    at_smem_opt_in(sm_dq_kernel, smem_q);
    sm_dq_kernel<<<(unsigned)((long)nt * s->B * s->H * nsl_q), AT_THREADS, smem_q, st>>>(a, nt, nsl_q);
    LAUNCH_OK();
}

// ---- the backend entries

// Nothing to compute (also keeps every grid non-empty).
static int attn_empty(const attn_shape *s) {
    return s->B <= 0 || s->T <= 0 || s->H <= 0 || s->dqk <= 0 || s->dv <= 0;
}

size_t cuda_attn_saved_floats(const backend *be, be_attn kind, const attn_shape *s) {
    if (kind == BE_ATTN_LINEAR) return 0; // the backward recomputes the chunk states
    return (size_t)s->B * s->H * s->T;    // the row log-sum-exp
}

size_t cuda_scratch_floats(const backend *be, be_attn kind, const attn_shape *s, const lin_denom_shape *d) {
    size_t a = kind == BE_ATTN_LINEAR ? cuda_linear_scratch_floats(s) : (size_t)s->B * s->H * s->T;
    size_t n = d ? cuda_lin_denom_scratch_floats(d) : 0;
    return a > n ? a : n;
}

void cuda_attn_forward(const backend *be, be_attn kind, const attn_shape *s, float *o, float *saved, const float *q,
                       const float *k, const float *v, const uint8_t *valid, float *scratch) {
    if (attn_empty(s)) return;
    cudaStream_t st = ctx_of(be)->stream;
    if (kind == BE_ATTN_LINEAR) cuda_linear_forward(st, s, o, q, k, v, valid, scratch);
    else softmax_forward(st, s, o, saved, q, k, v, valid);
}

void cuda_attn_backward(const backend *be, be_attn kind, const attn_shape *s, float *dq, float *dk, float *dv,
                        const float *dout, const float *o, const float *saved, const float *q, const float *k,
                        const float *v, const uint8_t *valid, float *scratch) {
    if (attn_empty(s)) return;
    cudaStream_t st = ctx_of(be)->stream;
    if (kind == BE_ATTN_LINEAR) cuda_linear_backward(st, s, dq, dk, dv, dout, q, k, v, valid, scratch);
    else softmax_backward(st, s, dq, dk, dv, dout, o, saved, q, k, v, valid, scratch);
}
