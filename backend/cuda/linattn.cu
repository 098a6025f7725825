// Linear attention on the GPU (core/attn_linear.c, featuremap.c and lin_denom.c are the reference).
//
// Causal: chunks of LA_CHUNK = 64 tokens per (batch, head) (the CPU's are 32): the state before chunk i is
// S_i = sum over earlier chunks j of r^(64 (i-1-j)) K~_j^T V_j, K~ rows scaled r^(e-1-t) (chunk
// relative, never r^-t), and O_i = (tril(Q_i K_i^T) o M) V_i + Q~_i S_i with M[s,t] = r^(s-t), Q~ rows
// scaled r^(s-a+1). On the GPU the three steps are three kernels: every chunk's own K~^T V (in
// parallel), a scan over the chunks (one thread per state element walks them in order), and every
// chunk's output (in parallel). The backward does the same with D_i = sum over later chunks (a
// reverse scan of Q~^T dO) for dk, dv. Bidirectional: one state KV = sum over valid keys of k v^T
// (the chunk states summed in order), o = q KV; the decay is ignored there, as on the CPU.
//
// Deterministic: each state element, output element and gradient element has one owning thread,
// and every sum runs in a fixed order; no atomics.
#define LRPE_ATTN_CUDA_IMPL
#include "attn_cuda.cuh"

#include <math.h>

#define LA_CHUNK AT_TILE // tokens per chunk, one tile (the CPU's LINATTN_CHUNK is 32: the same sums grouped otherwise)

// A per-head view: element (b, t, h, i) at p[(b*T + t)*ld + h*w + i], i < w.
struct la_view {
    const float *p;
    long ld;
    int w;
};

// Row scalings of a chunk's rows j < n before a state product (the CPU's Q~ and K~).
enum la_rows {
    LA_ROWS_QUERY = 0, // r^(j+1)
    LA_ROWS_KEY = 1,   // r^(n-1-j), and 0 on padding keys
};

// The decay powers r_h^j, j <= LA_CHUNK, into pw (shared, all threads call; synced): (float)pow(r, j)
// as the CPU computes them, all 1 without a decay.
__device__ __forceinline__ void la_powers(float *pw, const float *decay, int h) {
    for (int j = (int)threadIdx.x; j <= LA_CHUNK; j += blockDim.x)
        pw[j] = decay ? (float)pow((double)decay[h], (double)j) : 1.0f;
    __syncthreads();
}

// rs[j] = the scaling of row j of a chunk (of n rows, at token row0 of batch row b) in mode; synced.
__device__ __forceinline__ void la_row_scales(float *rs, const float *pw, int mode, int n, const uint8_t *valid,
                                              long row0) {
    for (int j = (int)threadIdx.x; j < LA_CHUNK; j += blockDim.x) {
        float f = 0.0f;
        if (j < n) {
            if (mode == LA_ROWS_QUERY) f = pw[j + 1];
            else f = (!valid || valid[row0 + j]) ? pw[n - 1 - j] : 0.0f;
        }
        rs[j] = f;
    }
    __syncthreads();
}

// ---- step 1: every chunk's own state

// [ta * tb * nch * B*H] blocks of 256: tile (a0, b0) of chunk c's state X_c = A~_c^T B_c [A.w x B.w]
// (A~ = A's rows scaled by mode), written to st[(bh*nch + c)][A.w][B.w].
__global__ void __launch_bounds__(AT_THREADS) la_chunk_state_kernel(float *st, la_view A, la_view Bv, int mode,
                                                                    const uint8_t *valid, const float *decay, int T,
                                                                    int H, int nch, int ta, int tb) {
    __shared__ float As[AT_TILE_FLOATS], Bs[AT_TILE_FLOATS], pw[LA_CHUNK + 1], rs[LA_CHUNK];
    int blk = (int)blockIdx.x;
    const int a0 = (blk % ta) * AT_TILE;
    blk /= ta;
    const int b0 = (blk % tb) * AT_TILE;
    blk /= tb;
    const int c = blk % nch, bh = blk / nch, b = bh / H, h = bh % H;
    const int n = min(LA_CHUNK, T - c * LA_CHUNK);
    const long row0 = (long)b * T + (long)c * LA_CHUNK;
    la_powers(pw, decay, h);
    la_row_scales(rs, pw, mode, n, valid, row0);
    at_load(As, A.p + row0 * A.ld + (long)h * A.w + a0, A.ld, n, min(AT_TILE, A.w - a0), rs);
    at_load(Bs, Bv.p + row0 * Bv.ld + (long)h * Bv.w + b0, Bv.ld, n, min(AT_TILE, Bv.w - b0));
    __syncthreads();
    float acc[4][4];
    at_zero(acc);
    at_mma_atb(acc, As, Bs); // X[a][b] = sum_j A~[j][a] B[j][b]
    float *x = st + ((long)bh * nch + c) * A.w * Bv.w;
    const int tr = at_tr(), tc = at_tc();
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int r = a0 + tr + 16 * i;
        if (r >= A.w) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int cc = b0 + tc + 16 * j;
            if (cc < Bv.w) x[(long)r * Bv.w + cc] = acc[i][j];
        }
    }
}

// ---- step 2: the scan over chunks

enum la_scan {
    LA_SCAN_FORWARD = 0, // slot i <- sum over j < i of f^(i-1-j) X_j   (state before chunk i)
    LA_SCAN_REVERSE = 1, // slot i <- sum over j > i of f^(j-i-1) X_j   (state after chunk i, from the end)
    LA_SCAN_TOTAL = 2,   // every slot <- sum over all j of X_j           (bidirectional)
};

// [ceil(B*H*E / 256)] blocks of 256, one thread per (b*h, element e < E): walks the nch chunk slots
// st[(bh*nch + i)*E + e] in order, f = r_h^LA_CHUNK (1 without a decay), and rewrites them per mode.
__global__ void __launch_bounds__(256) la_scan_kernel(float *st, long BH, int H, int nch, long E, int mode,
                                                      const float *decay) {
    const long id = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= BH * E) return;
    const long bh = id / E, e = id % E;
    const float f = decay ? (float)pow((double)decay[bh % H], (double)LA_CHUNK) : 1.0f;
    float *x = st + bh * nch * E + e;
    float run = 0.0f;
    if (mode == LA_SCAN_FORWARD) {
        for (int i = 0; i < nch; i++) {
            const float u = x[(long)i * E];
            x[(long)i * E] = run;
            run = f * run + u;
        }
    } else if (mode == LA_SCAN_REVERSE) {
        for (int i = nch - 1; i >= 0; i--) {
            const float u = x[(long)i * E];
            x[(long)i * E] = run;
            run = f * run + u;
        }
    } else {
        for (int i = 0; i < nch; i++) run += x[(long)i * E];
        for (int i = 0; i < nch; i++) x[(long)i * E] = run;
    }
}

// ---- step 3: every chunk's output

// One chunk-output product: out_c (+)= [ (mask o X_c Y_c^T) Z_c  or its transpose form ] + E~_c St_c.
struct la_out_args {
    int T, H, nch, causal;
    const uint8_t *valid;
    const float *decay;      // causal only; NULL: r = 1
    int intra;               // 1: the within-chunk term
    la_view X, Y, Z;         // A[s][t] = X_s . Y_t, zero unless t is a valid key (and t <= s when causal), times r^(s-t)
    int trans;               // 0: out[s] += sum_t A[s][t] Z[t];  1: out[t] += sum_s A[s][t] Z[s]
    la_view E;               // inter term: rows scaled per emode
    int emode;               // la_rows
    const float *st;         // chunk states [(bh*nch + c)][st_rows][st_cols]
    int st_rows, st_cols, st_trans; // 0: out[s][c] += sum_k E~[s][k] St[k][c];  1: ... St[c][k]
    int inter_lo, inter_hi;  // chunks c in [lo, hi) have the inter term (the others' state is 0)
    float *out;              // out view (its width ow = the product's width)
    long ldo;
    int ow;
    int accumulate;          // 1: +=, 0: =
};

// [to * nch * B*H] blocks of 256: 64-column tile of chunk c's rows of out for (b, h): the intra term
// (A = X Y^T over X.w in slices of 64, masked and decayed, times Z) plus the inter term (E~ times the
// chunk's state, over E.w in slices of 64); one write per element.
__global__ void __launch_bounds__(AT_THREADS) la_chunk_out_kernel(la_out_args a, int to) {
    extern __shared__ float smem[];
    float *As = smem, *Bs = As + AT_TILE_FLOATS, *Ps = Bs + AT_TILE_FLOATS, *pw = Ps + AT_TILE_FLOATS,
          *rs = pw + (LA_CHUNK + 1);
    int blk = (int)blockIdx.x;
    const int c0 = (blk % to) * AT_TILE;
    blk /= to;
    const int c = blk % a.nch, bh = blk / a.nch, b = bh / a.H, h = bh % a.H;
    const int n = min(LA_CHUNK, a.T - c * LA_CHUNK), tr = at_tr(), tc = at_tc();
    const long row0 = (long)b * a.T + (long)c * LA_CHUNK;
    la_powers(pw, a.decay, h);
    float acc[4][4];
    at_zero(acc);
    if (a.intra) {
        float sc[4][4];
        at_gemm_abt(sc, a.X.p + row0 * a.X.ld + (long)h * a.X.w, a.X.ld, n, a.Y.p + row0 * a.Y.ld + (long)h * a.Y.w,
                    a.Y.ld, n, a.X.w, As, Bs);
        __syncthreads(); // every thread is done with As, Bs
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int s = tr + 16 * i;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int t = tc + 16 * j;
                const bool keep = s < n && t < n && (!a.causal || t <= s) && (!a.valid || a.valid[row0 + t]);
                float x = 0.0f;
                if (keep) x = a.decay ? sc[i][j] * pw[s - t] : sc[i][j];
                Ps[s * AT_LD + t] = x;
            }
        }
        at_load(Bs, a.Z.p + row0 * a.Z.ld + (long)h * a.Z.w + c0, a.Z.ld, n, min(AT_TILE, a.Z.w - c0));
        __syncthreads();
        if (a.trans) at_mma_atb(acc, Ps, Bs);
        else at_mma_ab(acc, Ps, Bs);
    }
    if (c >= a.inter_lo && c < a.inter_hi) {
        la_row_scales(rs, pw, a.emode, n, a.valid, row0); // syncs: also ends the intra term's reads
        const float *S = a.st + ((long)bh * a.nch + c) * a.st_rows * a.st_cols;
        for (int e0 = 0; e0 < a.E.w; e0 += AT_TILE) {
            const int we = min(AT_TILE, a.E.w - e0), wc = min(AT_TILE, a.ow - c0);
            __syncthreads();
            at_load(As, a.E.p + row0 * a.E.ld + (long)h * a.E.w + e0, a.E.ld, n, we, rs);
            if (a.st_trans) at_load_t(Bs, S + (long)c0 * a.st_cols + e0, a.st_cols, we, wc); // Bs[k][c] = St[c0+c][e0+k]
            else at_load(Bs, S + (long)e0 * a.st_cols + c0, a.st_cols, we, wc);            // Bs[k][c] = St[e0+k][c0+c]
            __syncthreads();
            at_mma_ab(acc, As, Bs);
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int r = tr + 16 * i;
        if (r >= n) continue;
        float *orow = a.out + (row0 + r) * a.ldo + (long)h * a.ow;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int cc = c0 + tc + 16 * j;
            if (cc < a.ow) orow[cc] = a.accumulate ? orow[cc] + acc[i][j] : acc[i][j];
        }
    }
}

// ---- host side of linear attention

static la_view view_of(const float *p, int ld, int w) {
    la_view v = {p, (long)ld, w};
    return v;
}

static int la_tiles(int n) { return (n + AT_TILE - 1) / AT_TILE; }
static int la_chunks(int T) { return (T + LA_CHUNK - 1) / LA_CHUNK; }

// Floats of one array of chunk states [B*H][nch][dqk][dv].
static size_t la_states_floats(const attn_shape *s) {
    return (size_t)s->B * s->H * la_chunks(s->T) * s->dqk * s->dv;
}

// Writes every chunk's state into st (step 1), then scans them in mode (step 2).
static void la_states(cudaStream_t stream, const attn_shape *s, float *st, la_view A, la_view Bv, int rows_mode,
                      int scan_mode, const uint8_t *valid, const float *decay) {
    const int nch = la_chunks(s->T), ta = la_tiles(A.w), tb = la_tiles(Bv.w);
    const long BH = (long)s->B * s->H, E = (long)A.w * Bv.w;
    la_chunk_state_kernel<<<(unsigned)((long)ta * tb * nch * BH), AT_THREADS, 0, stream>>>(st, A, Bv, rows_mode, valid,
                                                                                           decay, s->T, s->H, nch, ta, tb);
    LAUNCH_OK();
    la_scan_kernel<<<(unsigned)((BH * E + 255) / 256), 256, 0, stream>>>(st, BH, s->H, nch, E, scan_mode, decay);
    LAUNCH_OK();
}

// A chunk-output product with everything but the terms filled in from the shape.
static la_out_args la_out_base(const attn_shape *s, const uint8_t *valid, const float *decay) {
    la_out_args a = {};
    a.T = s->T, a.H = s->H, a.nch = la_chunks(s->T), a.causal = s->causal;
    a.valid = valid, a.decay = decay;
    return a;
}

static void la_out(cudaStream_t stream, const attn_shape *s, const la_out_args &a) {
    const int to = la_tiles(a.ow);
    const size_t smem = (3 * AT_TILE_FLOATS + (LA_CHUNK + 1) + LA_CHUNK) * sizeof(float);
    at_smem_opt_in(la_chunk_out_kernel, smem);
    la_chunk_out_kernel<<<(unsigned)((long)to * a.nch * s->B * s->H), AT_THREADS, smem, stream>>>(a, to);
    LAUNCH_OK();
}

size_t cuda_linear_scratch_floats(const attn_shape *s) { return 2 * la_states_floats(s); }

// o = linear attention numerator. scratch: the chunk states S [B*H][nch][dqk][dv].
void cuda_linear_forward(cudaStream_t stream, const attn_shape *s, float *o, const float *q, const float *k,
                         const float *v, const uint8_t *valid, float *scratch) {
    const float *decay = s->causal ? s->decay : nullptr; // bidirectional ignores the decay (CPU)
    const la_view Q = view_of(q, s->ldq, s->dqk), K = view_of(k, s->ldk, s->dqk), V = view_of(v, s->ldv, s->dv);
    float *S = scratch;
    la_states(stream, s, S, K, V, LA_ROWS_KEY, s->causal ? LA_SCAN_FORWARD : LA_SCAN_TOTAL, valid, decay);
    la_out_args a = la_out_base(s, valid, decay);
    a.intra = s->causal, a.X = Q, a.Y = K, a.Z = V, a.trans = 0;
    a.E = Q, a.emode = LA_ROWS_QUERY;
    a.st = S, a.st_rows = s->dqk, a.st_cols = s->dv, a.st_trans = 0;
    a.inter_lo = s->causal ? 1 : 0, a.inter_hi = a.nch; // S_0 = 0
    a.out = o, a.ldo = s->ldo, a.ow = s->dv, a.accumulate = 0;
    la_out(stream, s, a);
}

// dq, dk, dv += gradients. scratch: S [B*H][nch][dqk][dv] (states before each chunk, or KV) and D
// (states after each chunk of Q~^T dO, or Q^T dO).
void cuda_linear_backward(cudaStream_t stream, const attn_shape *s, float *dq, float *dk, float *dv, const float *dout,
                          const float *q, const float *k, const float *v, const uint8_t *valid, float *scratch) {
    const float *decay = s->causal ? s->decay : nullptr;
    const la_view Q = view_of(q, s->ldq, s->dqk), K = view_of(k, s->ldk, s->dqk), V = view_of(v, s->ldv, s->dv),
                  dO = view_of(dout, s->ldo, s->dv);
    float *S = scratch, *D = scratch + la_states_floats(s);
    la_states(stream, s, S, K, V, LA_ROWS_KEY, s->causal ? LA_SCAN_FORWARD : LA_SCAN_TOTAL, valid, decay);
    la_states(stream, s, D, Q, dO, LA_ROWS_QUERY, s->causal ? LA_SCAN_REVERSE : LA_SCAN_TOTAL, valid, decay);
    const int nch = la_chunks(s->T);
    // dq += (tril(dO V^T) o M) K + dO~ S^T   (chunks after the first: S_0 = 0)
    la_out_args a = la_out_base(s, valid, decay);
    a.intra = s->causal, a.X = dO, a.Y = V, a.Z = K, a.trans = 0;
    a.E = dO, a.emode = LA_ROWS_QUERY, a.st = S, a.st_rows = s->dqk, a.st_cols = s->dv, a.st_trans = 1;
    a.inter_lo = s->causal ? 1 : 0, a.inter_hi = nch;
    a.out = dq, a.ldo = s->ldq, a.ow = s->dqk, a.accumulate = 1;
    la_out(stream, s, a);
    // dv += (tril(Q K^T) o M)^T dO + K~ D   (chunks before the last: D_last = 0)
    a = la_out_base(s, valid, decay);
    a.intra = s->causal, a.X = Q, a.Y = K, a.Z = dO, a.trans = 1;
    a.E = K, a.emode = LA_ROWS_KEY, a.st = D, a.st_rows = s->dqk, a.st_cols = s->dv, a.st_trans = 0;
    a.inter_lo = 0, a.inter_hi = s->causal ? nch - 1 : nch;
    a.out = dv, a.ldo = s->ldv, a.ow = s->dv, a.accumulate = 1;
    la_out(stream, s, a);
    // dk += (tril(dO V^T) o M)^T Q + V~ D^T
    a = la_out_base(s, valid, decay);
    a.intra = s->causal, a.X = dO, a.Y = V, a.Z = Q, a.trans = 1;
    a.E = V, a.emode = LA_ROWS_KEY, a.st = D, a.st_rows = s->dqk, a.st_cols = s->dv, a.st_trans = 1;
    a.inter_lo = 0, a.inter_hi = s->causal ? nch - 1 : nch;
    a.out = dk, a.ldo = s->ldk, a.ow = s->dqk, a.accumulate = 1;
    la_out(stream, s, a);
}

// ---- feature map

// [grid-stride over rows x cols]: out[r*ldo + c] = phi(inp[r*ldi + c]) (1+elu: x + 1 for x > 0, e^x else; relu).
__global__ void __launch_bounds__(256) fm_forward_kernel(float *out, int ldo, const float *inp, int ldi, int rows,
                                                         int cols, int relu) {
    const long n = (long)rows * cols;
    for (long id = (long)blockIdx.x * blockDim.x + threadIdx.x; id < n; id += (long)gridDim.x * blockDim.x) {
        const long r = id / cols, c = id % cols;
        const float x = inp[r * ldi + c];
        out[r * ldo + c] = relu ? (x > 0.0f ? x : 0.0f) : (x > 0.0f ? 1.0f + x : expf(x));
    }
}

// [grid-stride over rows x cols]: dinp[r*lddi + c] += dout[r*lddo + c] * phi', read off the forward's
// output y = phi(x) at [r*ldy + c] as core/featuremap.c does.
__global__ void __launch_bounds__(256) fm_backward_kernel(float *dinp, int lddi, const float *y, int ldy,
                                                          const float *dout, int lddo, int rows, int cols, int relu) {
    const long n = (long)rows * cols;
    for (long id = (long)blockIdx.x * blockDim.x + threadIdx.x; id < n; id += (long)gridDim.x * blockDim.x) {
        const long r = id / cols, c = id % cols;
        const float v = y[r * ldy + c], g = dout[r * lddo + c];
        dinp[r * lddi + c] += relu ? (v > 0.0f ? g : 0.0f) : (v > 1.0f ? g : g * v);
    }
}

static unsigned fm_blocks(int rows, int cols) {
    size_t b = blocks_for((size_t)rows * cols, 256);
    return b > 65536 ? 65536u : (unsigned)b;
}

void cuda_featuremap_forward_rows(const backend *be, float *out, int ldo, const float *inp, int ldi, int rows,
                                  int cols, featuremap fm) {
    if (rows <= 0 || cols <= 0) return;
    fm_forward_kernel<<<fm_blocks(rows, cols), 256, 0, ctx_of(be)->stream>>>(out, ldo, inp, ldi, rows, cols,
                                                                             fm == FEATUREMAP_RELU);
    LAUNCH_OK();
}

void cuda_featuremap_backward_rows(const backend *be, float *dinp, int lddi, const float *y, int ldy,
                                   const float *dout, int lddo, int rows, int cols, featuremap fm) {
    if (rows <= 0 || cols <= 0) return;
    fm_backward_kernel<<<fm_blocks(rows, cols), 256, 0, ctx_of(be)->stream>>>(dinp, lddi, y, ldy, dout, lddo, rows,
                                                                              cols, fm == FEATUREMAP_RELU);
    LAUNCH_OK();
}

// ---- denominator normaliser

// [ceil(F.w / 256) * nch * B*H] blocks of 256, one thread per column i: st[(bh*nch + c)*F.w + i] = the
// sum over the rows t of chunk c, in order, of w_t F[t][i]: w_t = 0 on padding keys (valid given),
// g[(b*T + t)*H + h] (g given), else 1.
__global__ void __launch_bounds__(256) ld_chunk_sum_kernel(float *st, la_view F, const uint8_t *valid, const float *g,
                                                           int T, int H, int nch, int tcols) {
    int blk = (int)blockIdx.x;
    const int i = (blk % tcols) * 256 + (int)threadIdx.x;
    blk /= tcols;
    const int c = blk % nch, bh = blk / nch, b = bh / H, h = bh % H;
    if (i >= F.w) return;
    const int n = min(LA_CHUNK, T - c * LA_CHUNK);
    const long row0 = (long)b * T + (long)c * LA_CHUNK;
    const float *f = F.p + row0 * F.ld + (long)h * F.w + i;
    float acc = 0.0f;
    for (int t = 0; t < n; t++) {
        if (valid && !valid[row0 + t]) continue;
        const float x = f[(long)t * F.ld];
        acc += g ? g[(row0 + t) * H + h] * x : x;
    }
    st[((long)bh * nch + c) * F.w + i] = acc;
}

// The denominator's tensors (lin_denom_shape's views: fq, fk, dfq, dfk width d; num, out, dout, dnum width dv).
struct ld_args {
    int T, H, nch, d, dv, causal;
    long ldq, ldk, ldn, ldo;
    const float *fq, *fk, *num, *out, *dout;
    float *outw, *dnum, *dfq, *dfk;
    const uint8_t *valid;
    float *z;        // [B*T*H] at (b*T + t)*H + h: forward writes, backward reads
    const float *ks; // per chunk: the key sum over earlier chunks (causal) or the total
    const float *gs; // backward, per chunk: the sum of g fq over later chunks (causal) or the total
    float *g;        // backward: [B*T*H] dL/dz before the clamp (0 where clamped)
};

// Fills Fs[j][cc] (j < n, cc < w) with the key sum seen by token j of the chunk, columns d0..d0+w:
// the inclusive running sum of valid keys from the chunk's start state (causal), or the total.
// Zero outside; synced. Threads tid < w run the column sums.
__device__ __forceinline__ void ld_key_sums(float *Fs, const ld_args &a, const float *ks, long row0, int h, int n,
                                            int d0, int w) {
    for (int idx = (int)threadIdx.x; idx < AT_TILE * AT_TILE; idx += AT_THREADS) {
        const int j = idx >> 6, cc = idx & 63;
        float x = 0.0f;
        if (j < n && cc < w) {
            if (!a.causal) x = ks[d0 + cc];
            else if (!a.valid || a.valid[row0 + j]) x = a.fk[(row0 + j) * a.ldk + (long)h * a.d + d0 + cc];
        }
        Fs[j * AT_LD + cc] = x;
    }
    __syncthreads();
    const int tid = (int)threadIdx.x;
    if (a.causal && tid < w) {
        float run = ks[d0 + tid];
        for (int j = 0; j < n; j++) {
            run += Fs[j * AT_LD + tid];
            Fs[j * AT_LD + tid] = run;
        }
    }
    __syncthreads();
}

// [nch * B*H] blocks of 256: chunk c of (b, h): z_s = max(fq_s . ksum_s, eps) with ksum_s the running
// sum of the valid keys t <= s (causal) or of all valid keys; out_s = num_s / z_s. Token s has 4
// threads, each adding 16 columns of every 64; the 4 parts are combined in a fixed butterfly.
__global__ void __launch_bounds__(AT_THREADS) ld_forward_kernel(ld_args a) {
    __shared__ float Fs[AT_TILE_FLOATS], Qs[AT_TILE_FLOATS], zs[LA_CHUNK];
    const int c = (int)blockIdx.x % a.nch, bh = (int)blockIdx.x / a.nch, b = bh / a.H, h = bh % a.H;
    const int n = min(LA_CHUNK, a.T - c * LA_CHUNK), tid = (int)threadIdx.x, s = tid >> 2, part = tid & 3;
    const long row0 = (long)b * a.T + (long)c * LA_CHUNK;
    const float *ks = a.ks + ((long)bh * a.nch + c) * a.d;
    float acc = 0.0f;
    for (int d0 = 0; d0 < a.d; d0 += AT_TILE) {
        const int w = min(AT_TILE, a.d - d0);
        __syncthreads(); // the previous slice's reads are done
        at_load(Qs, a.fq + row0 * a.ldq + (long)h * a.d + d0, a.ldq, n, w);
        ld_key_sums(Fs, a, ks, row0, h, n, d0, w);
        for (int k = part * 16; k < part * 16 + 16; k++) acc += Qs[s * AT_LD + k] * Fs[s * AT_LD + k];
    }
    acc += __shfl_xor_sync(0xffffffffu, acc, 1);
    acc += __shfl_xor_sync(0xffffffffu, acc, 2);
    const float z = acc > LIN_DENOM_EPS ? acc : LIN_DENOM_EPS;
    if (part == 0 && s < n) {
        zs[s] = z;
        a.z[(row0 + s) * a.H + h] = z;
    }
    __syncthreads();
    for (int idx = tid; idx < n * a.dv; idx += AT_THREADS) {
        const int j = idx / a.dv, cc = idx % a.dv;
        const long r = row0 + j;
        a.outw[r * a.ldo + (long)h * a.dv + cc] = a.num[r * a.ldn + (long)h * a.dv + cc] / zs[j];
    }
}

// [ceil(B*T*H / 8)] blocks of 256, one warp per (b, t, h): g = -(dout . out) / z (0 where the clamp
// was active), dnum = dout / z (written, as dfq and dfk below: core/linattn.h).
__global__ void __launch_bounds__(256) ld_grad_kernel(ld_args a, long rows) {
    const long row = (long)blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return; // whole warps leave together
    const int h = (int)(row % a.H);
    const long bt = row / a.H;
    const float z = a.z[row];
    const float *dr = a.dout + bt * a.ldo + (long)h * a.dv, *orow = a.out + bt * a.ldo + (long)h * a.dv;
    float *dn = a.dnum + bt * a.ldn + (long)h * a.dv;
    float s = 0.0f;
    for (int c = lane; c < a.dv; c += 32) {
        s += dr[c] * orow[c];
        dn[c] = dr[c] / z;
    }
#pragma unroll
    for (int m = 16; m >= 1; m >>= 1) s += __shfl_xor_sync(0xffffffffu, s, m);
    if (lane == 0) a.g[row] = z > LIN_DENOM_EPS ? -s / z : 0.0f;
}

// [nch * B*H] blocks of 256: chunk c of (b, h): dfq_s = g_s ksum_s (ksum as in the forward);
// dfk_t = gsum_t on valid keys (0 on padded ones), gsum_t = the sum of g_s fq_s over the queries s >= t (causal: a
// running sum up the chunk from the later chunks' sum) or over all queries.
__global__ void __launch_bounds__(AT_THREADS) ld_backward_kernel(ld_args a) {
    __shared__ float Fs[AT_TILE_FLOATS], Gs[AT_TILE_FLOATS], gv[LA_CHUNK];
    const int c = (int)blockIdx.x % a.nch, bh = (int)blockIdx.x / a.nch, b = bh / a.H, h = bh % a.H;
    const int n = min(LA_CHUNK, a.T - c * LA_CHUNK), tid = (int)threadIdx.x;
    const long row0 = (long)b * a.T + (long)c * LA_CHUNK;
    const float *ks = a.ks + ((long)bh * a.nch + c) * a.d, *gs = a.gs + ((long)bh * a.nch + c) * a.d;
    if (tid < LA_CHUNK) gv[tid] = tid < n ? a.g[(row0 + tid) * a.H + h] : 0.0f;
    for (int d0 = 0; d0 < a.d; d0 += AT_TILE) {
        const int w = min(AT_TILE, a.d - d0);
        __syncthreads(); // gv is written; the previous slice's reads are done
        for (int idx = tid; idx < AT_TILE * AT_TILE; idx += AT_THREADS) {
            const int j = idx >> 6, cc = idx & 63;
            float x = 0.0f;
            if (j < n && cc < w)
                x = a.causal ? gv[j] * a.fq[(row0 + j) * a.ldq + (long)h * a.d + d0 + cc] : gs[d0 + cc];
            Gs[j * AT_LD + cc] = x;
        }
        ld_key_sums(Fs, a, ks, row0, h, n, d0, w); // syncs after filling Gs as well
        if (a.causal && tid >= 64 && tid - 64 < w) { // inclusive running sums up each column
            const int cc = tid - 64;
            float run = gs[d0 + cc];
            for (int j = n - 1; j >= 0; j--) {
                run += Gs[j * AT_LD + cc];
                Gs[j * AT_LD + cc] = run;
            }
        }
        __syncthreads();
        for (int idx = tid; idx < AT_TILE * AT_TILE; idx += AT_THREADS) {
            const int j = idx >> 6, cc = idx & 63;
            if (j >= n || cc >= w) continue;
            const long r = row0 + j;
            a.dfq[r * a.ldq + (long)h * a.d + d0 + cc] = gv[j] * Fs[j * AT_LD + cc];
            a.dfk[r * a.ldk + (long)h * a.d + d0 + cc] = !a.valid || a.valid[r] ? Gs[j * AT_LD + cc] : 0.0f;
        }
    }
}

static ld_args ld_args_of(const lin_denom_shape *s, const float *fq, const float *fk, const uint8_t *valid) {
    ld_args a = {};
    a.T = s->T, a.H = s->H, a.nch = la_chunks(s->T), a.d = s->d, a.dv = s->dv, a.causal = s->causal;
    a.ldq = s->ldq, a.ldk = s->ldk, a.ldn = s->ldn, a.ldo = s->ldo;
    a.fq = fq, a.fk = fk, a.valid = valid;
    return a;
}

// Floats of one array of per-chunk sums [B*H][nch][d].
static size_t ld_sums_floats(const lin_denom_shape *s) { return (size_t)s->B * s->H * la_chunks(s->T) * s->d; }

// Every chunk's weighted column sums of F into st, then the scan in mode.
static void ld_sums(cudaStream_t stream, const lin_denom_shape *s, float *st, la_view F, const uint8_t *valid,
                    const float *g, int scan_mode) {
    const int nch = la_chunks(s->T), tcols = (F.w + 255) / 256;
    const long BH = (long)s->B * s->H;
    ld_chunk_sum_kernel<<<(unsigned)((long)tcols * nch * BH), 256, 0, stream>>>(st, F, valid, g, s->T, s->H, nch, tcols);
    LAUNCH_OK();
    la_scan_kernel<<<(unsigned)((BH * F.w + 255) / 256), 256, 0, stream>>>(st, BH, s->H, nch, F.w, scan_mode, nullptr);
    LAUNCH_OK();
}

size_t cuda_lin_denom_scratch_floats(const lin_denom_shape *d) {
    return 2 * ld_sums_floats(d) + (size_t)d->B * d->T * d->H;
}

// Nothing to compute (also keeps every grid non-empty).
static int ld_empty(const lin_denom_shape *s) {
    return s->B <= 0 || s->T <= 0 || s->H <= 0 || s->d <= 0 || s->dv <= 0;
}

// scratch: the key sums [B*H][nch][d].
void cuda_lin_denom_forward(const backend *be, const lin_denom_shape *s, float *out, float *z, const float *num,
                            const float *fq, const float *fk, const uint8_t *valid, float *scratch) {
    if (ld_empty(s)) return;
    cudaStream_t stream = ctx_of(be)->stream;
    ld_args a = ld_args_of(s, fq, fk, valid);
    a.num = num, a.outw = out, a.z = z, a.ks = scratch;
    ld_sums(stream, s, scratch, view_of(fk, s->ldk, s->d), valid, nullptr,
            s->causal ? LA_SCAN_FORWARD : LA_SCAN_TOTAL);
    ld_forward_kernel<<<(unsigned)((long)a.nch * s->B * s->H), AT_THREADS, 0, stream>>>(a);
    LAUNCH_OK();
}

// scratch: the key sums and the g fq sums [B*H][nch][d] each, then g [B*T*H].
void cuda_lin_denom_backward(const backend *be, const lin_denom_shape *s, float *dnum, float *dfq, float *dfk,
                             const float *dout, const float *out, const float *z, const float *fq, const float *fk,
                             const uint8_t *valid, float *scratch) {
    if (ld_empty(s)) return;
    cudaStream_t stream = ctx_of(be)->stream;
    float *ks = scratch, *gs = ks + ld_sums_floats(s), *g = gs + ld_sums_floats(s);
    ld_args a = ld_args_of(s, fq, fk, valid);
    a.out = out, a.dout = dout, a.dnum = dnum, a.dfq = dfq, a.dfk = dfk, a.z = (float *)z, a.ks = ks, a.gs = gs, a.g = g;
    const long rows = (long)s->B * s->T * s->H;
    ld_grad_kernel<<<(unsigned)((rows + 7) / 8), 256, 0, stream>>>(a, rows);
    LAUNCH_OK();
    ld_sums(stream, s, ks, view_of(fk, s->ldk, s->d), valid, nullptr, s->causal ? LA_SCAN_FORWARD : LA_SCAN_TOTAL);
    ld_sums(stream, s, gs, view_of(fq, s->ldq, s->d), nullptr, g, s->causal ? LA_SCAN_REVERSE : LA_SCAN_TOTAL);
    ld_backward_kernel<<<(unsigned)((long)a.nch * s->B * s->H), AT_THREADS, 0, stream>>>(a);
    LAUNCH_OK();
}
