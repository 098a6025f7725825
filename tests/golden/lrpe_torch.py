"""The lrpe transformer in PyTorch (1.13, Debian's python3-torch): one model shared by the golden
fixtures (tests/golden/make_golden.py) and the PyTorch peer benchmark (bench/torch_peer.py).

The model is written independently of the C code from its description: token embedding; pre-LN
blocks x += proj(attention(qkv(ln1(x)))), x += fcproj(gelu(fc(ln2(x)))) with the fused qkv weight
[3C, C] (q = rows 0..C-1, k = C..2C-1, v = 2C..3C-1; head h uses columns h*hd..(h+1)*hd-1 of each),
exact erf GELU and LayerNorm eps 1e-5; final LayerNorm; then either the LM head (per-token logits)
or the classifier (mean over the valid tokens of each row, then the same linear head); mean
cross-entropy over targets >= 0. Parameters are a dict by the names of the C parameter table
(model/model.c: TOP_PARAMS and LAYER_PARAMS), so a fixture can be written and read by name.

Attention and encodings (docs/encodings.md §2 to §5; layouts as encodings/pe.h documents them),
each written from the spec, with autograd for every gradient:
  softmax    scores q.k / sqrt(hd) (hd = d_model / heads, also when an encoding widens q and k),
             relative encoding applied to q and k first, ALiBi's bias added to the scaled scores;
             causal or bidirectional; padded keys (valid 0) masked out;
  linear     phi = 1+elu or relu on q and k, then the relative encoding; numerator
             o_s = sum_{t<=s} (q'_s.k'_t) v_t (no scale; all t when bidirectional; padded keys left
             out), PermuteFormer's decay r_h^(s-t) on each score when causal; normaliser
             "layernorm" (LayerNorm over all heads concatenated, parameters
             layers.L.attn_ln_g/_b, before the output projection) or "denominator"
             (o_s / max(phi(q_s).sum_t phi(k_t), 1e-6) over the same keys, on the UNENCODED features);
  absolute   "sinusoidal": wte * sqrt(C) + [sin | cos] halves with freq_i = 10000^(-2i/C)
             (2-D: channels [0, C/2) the row's table of width C/2, the rest the column's);
             "learned": wte + pe.table[t] (a trainable [max_len, C] table, no weight decay; 2-D:
             row row * grid_w + col);
  relative   per head of width d = hd, after x~ = P x for the LRPE family (P identity; Householder
             I - 2 u u^T, u = v/(||v|| + 1e-6), v = layers.L.pe.householder_v; the orthonormal DCT-II;
             odd-even out[2k] = x[k], out[2k+1] = x[ceil(d/2) + k]):
             "rope": half-split pairs (i, i + d/2) rotated by t * 10000^(-2i/d) (fixed);
             "lrpe-rotation": interleaved pairs (2j, 2j+1) of x~ rotated by t theta_j, j < d/2 (an
             odd last coordinate passes), theta = layers.L.pe.theta [floor(d/2)];
             "lrpe-unitary": [x~ cos(t theta) | x~ sin(t theta)] (width 2d), theta = layers.L.pe.theta [d];
             "lrpe-permutation": y_t[j] = x~[pi^t(j)], pi a fixed random permutation per layer;
             "permuteformer": the same with P = identity, plus the decay r_h = sigmoid(3h/H + 2)
             (causal only; bidirectional: none);
             "cosformer": [x sin(pi t / 2M) | x cos(pi t / 2M)] (width 2d), M = max_len;
             "alibi": softmax scores += -m_h |s - t| with the ALiBi paper's slopes.
             2-D positions (row, col) (§5): axes "sum" uses row + col for every frequency
             (permutation: power); "split" the row for frequencies (coordinates) j < ceil(n/2), the
             column for the rest, each half with its own fixed ladder; cosformer uses the raster
             index row * grid_w + col, alibi the distance |dr| + |dc|.
The fixed ladders: theta_j = 10000^(-2j/e), e = d for rope and lrpe-unitary, d rounded down to
even for lrpe-rotation (with axes split: over each half of n frequencies, e = 2n for rope and
rotation, n for unitary). lrpe-rotation and lrpe-unitary read theta from their parameter whether
it is fixed or learned (the fixture holds it), rope from the ladder. Angles position * theta are
computed in float64 (docs/encodings.md §2) and their cos / sin rounded to the working precision.

Permutations are structure, not parameters: the C side draws them from the run seed with its own
generator (encodings/perm.h: Fisher-Yates from the stream "<encoding>.layers.L.perm"). So that the
fixture can carry the same permutation, `c_permutation` reproduces that draw (core/rng.h:
xoshiro256** seeded through splitmix64, stream ids by 64-bit FNV-1a, Lemire's bounded integers);
the C test checks the fixture's permutation against the one its encoding applies. Everything
done with the permutation (its powers, where it applies) is written here from the spec.

Fixed parameters (a frozen Householder vector or theta) are ordinary tensors kept out of autograd
and the optimizer. Encoding parameters (kind "pos") get no weight decay, like the C default
(adamw_defaults).

Two paths through the same parameters:
  forward(P, tokens, cfg)             the golden path, written for clarity: linear attention in
                                      the masked quadratic form (T x T scores), encoding tables
                                      recomputed for q and for k;
  forward(P, tokens, cfg, fast=True)  what a PyTorch user would write for speed, with the FLOPs of
                                      lrpe's kernels: causal linear attention chunked like
                                      core/attn_linear.c (masked quadratic inside a chunk, a
                                      running k^T v state across chunks, here an exclusive cumsum
                                      over chunks; chunks of 64, where lrpe's CPU kernel takes 32:
                                      PyTorch ran no faster at 32), encoding tables built once per layer
                                      (PermuteFormer's decay and padding take the golden form).
Softmax attention is the same in both (q k^T / sqrt(hd), causal mask, softmax, @ v; torch 1.13 has
no scaled_dot_product_attention). `selfcheck` compares the two paths.

To add a variant (another attention kernel or positional encoding), write its attention function
(ATTENTION, and ATTENTION_FAST if the golden form is slow) or encoding (absolute: embed; relative: a
builder in RELATIVE; parameters of either in encoding_specs, options in OPTIONS).
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

LINEAR_CHUNK = 64  # tokens per chunk of the fast causal linear attention (PyTorch's faster of 32 and 64)


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """A model, its batch and its training run (defaults: the golden fixtures' tiny model)."""
    variant: str = "softmax"
    attention: str = "softmax"   # core kernel name (model_config.attention)
    feature_map: str = "1+elu"   # linear attention: "1+elu" | "relu" (model_config.feature_map)
    normalizer: str = "layernorm"  # linear attention: "layernorm" | "denominator"
    absolute: str = "none"       # "none" | "sinusoidal" | "learned" (model_config.absolute)
    encoding: str = "none"       # relative encoding (model_config.encoding), one of RELATIVE
    pe_opt: tuple = ()           # encoding options ((key, value), ...), as pe_options_set takes them
    seed: int = 1234
    vocab: int = 64
    n_out: int = 64
    batch: int = 2
    seq: int = 16
    layers: int = 2
    d_model: int = 32
    heads: int = 2
    ffn_mult: int = 4
    causal: int = 1
    ln_eps: float = 1e-5
    ignored: tuple = ((0, 3), (0, 10), (1, 7))   # (b, t) whose target is -1 (lm head)
    head: str = "lm"             # "lm": logits per token | "cls": mean-pool the valid tokens, one label a row
    pos_rank: int = 1            # 1: positions t; 2: (row, col) on a grid_h x grid_w grid (seq = grid_h * grid_w)
    grid_h: int = 0
    grid_w: int = 0
    padding: tuple = ()          # (b, start, n): tokens start..start+n-1 of row b are padding (valid 0; lm: target -1)
    # initial values: weights and embeddings N(0, w_std^2), biases N(0, b_std^2),
    # LayerNorm gains 1 + N(0, ln_std^2) and shifts N(0, ln_std^2)
    w_std: float = 0.1
    b_std: float = 0.1
    ln_std: float = 0.1
    # training: AdamW, global-norm clipping, warm-up then cosine
    steps: int = 5
    lr: float = 1e-2
    min_lr: float = 1e-3
    warmup: int = 2
    total_steps: int = 5
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    extra_meta: dict = field(default_factory=dict)


def max_len(cfg):
    """Positions of a 1-D model lie in [0, seq); a 2-D model's grid has grid_h * grid_w cells."""
    return cfg.grid_h * cfg.grid_w if cfg.pos_rank == 2 else cfg.seq


# kinds as in core/arena.h; weight decay applies to "weight" and "embed" only ("pos": encoding
# parameters, never decayed)
def param_specs(cfg):
    """(name, shape, kind) of every parameter, in the order of model/model.c's parameter table:
    the model's own, then those of the absolute encoding, then those of the relative one."""
    C, Fd = cfg.d_model, cfg.ffn_mult * cfg.d_model
    lin_ln = cfg.attention == "linear" and cfg.normalizer == "layernorm"
    specs = [("wte", (cfg.vocab, C), "embed"),
             ("lnf_g", (C,), "norm"),
             ("lnf_b", (C,), "norm"),
             ("head_w", (cfg.n_out, C), "weight"),
             ("head_b", (cfg.n_out,), "bias")]
    for l in range(cfg.layers):
        p = f"layers.{l}."
        specs += [(p + "ln1_g", (C,), "norm"),
                  (p + "ln1_b", (C,), "norm"),
                  (p + "qkv_w", (3 * C, C), "weight"),
                  (p + "qkv_b", (3 * C,), "bias")]
        if lin_ln:
            specs += [(p + "attn_ln_g", (C,), "norm"),
                      (p + "attn_ln_b", (C,), "norm")]
        specs += [(p + "proj_w", (C, C), "weight"),
                  (p + "proj_b", (C,), "bias"),
                  (p + "ln2_g", (C,), "norm"),
                  (p + "ln2_b", (C,), "norm"),
                  (p + "fc_w", (Fd, C), "weight"),
                  (p + "fc_b", (Fd,), "bias"),
                  (p + "fcproj_w", (C, Fd), "weight"),
                  (p + "fcproj_b", (C,), "bias")]
    return specs + [(n, shape, "pos") for n, shape, _ in encoding_specs(cfg)]


# the options each relative encoding reads, with the values implemented here (docs/encodings.md
# §2, §3, §5); the LRPE family defaults to a fixed Householder P and a fixed theta
_LRPE_OPTS = {"p": ("identity", "householder", "dct", "oddeven"), "theta": ("fixed", "learned"),
              "householder": ("fixed", "learned"), "axes": ("sum", "split")}
OPTIONS = {"none": {}, "rope": {"axes": ("sum", "split")},
           "lrpe-rotation": _LRPE_OPTS, "lrpe-unitary": _LRPE_OPTS,
           "lrpe-permutation": {k: v for k, v in _LRPE_OPTS.items() if k != "theta"},
           "permuteformer": {"axes": ("sum", "split")}, "cosformer": {}, "alibi": {}}
LRPE_FAMILY = ("lrpe-rotation", "lrpe-unitary", "lrpe-permutation")


def pe_options(cfg):
    """The encoding options in effect, as a dict with every key: those given (checked against what
    this module implements), the defaults for the rest; an option an encoding cannot use takes its
    neutral value (P identity outside the LRPE family, theta fixed without theta, axes sum for
    1-D positions)."""
    given = dict(cfg.pe_opt)
    known = OPTIONS.get(cfg.encoding)
    if known is None:
        raise ValueError(f"{cfg.variant}: encoding {cfg.encoding} is not implemented here")
    for k, v in given.items():
        if k not in known or v not in known[k]:
            raise ValueError(f"{cfg.variant}: encoding {cfg.encoding} option {k}={v} is not implemented here")
    opt = {"p": "householder" if cfg.encoding in LRPE_FAMILY else "identity", "theta": "fixed",
           "householder": "fixed", "axes": "sum"}
    opt.update(given)
    if opt["p"] != "householder":
        opt["householder"] = "fixed"
    if cfg.pos_rank == 1:
        opt["axes"] = "sum"
    return opt


def n_freq(cfg):
    """Frequencies (theta entries) of the relative encoding: rope and lrpe-rotation floor(d/2),
    lrpe-unitary d, the others none."""
    hd = cfg.d_model // cfg.heads
    return {"rope": hd // 2, "lrpe-rotation": hd // 2, "lrpe-unitary": hd}.get(cfg.encoding, 0)


def encoding_specs(cfg):
    """(name, shape, frozen) of the encodings' parameters (encodings/pe.h): the learned absolute
    table; per layer, the theta [n_freq] of lrpe-rotation / lrpe-unitary (frozen unless theta
    learned) and, with P = householder, the vector v [hd] (frozen unless householder learned)."""
    C, hd = cfg.d_model, cfg.d_model // cfg.heads
    specs = []
    if cfg.absolute == "learned":
        specs.append(("pe.table", (max_len(cfg), C), False))
    elif cfg.absolute not in ("none", "sinusoidal"):
        raise ValueError(f"{cfg.variant}: absolute encoding {cfg.absolute} is not implemented here")
    opt = pe_options(cfg)
    if cfg.encoding in LRPE_FAMILY:
        for l in range(cfg.layers):
            if cfg.encoding != "lrpe-permutation":
                specs.append((f"layers.{l}.pe.theta", (n_freq(cfg),), opt["theta"] == "fixed"))
            if opt["p"] == "householder":
                specs.append((f"layers.{l}.pe.householder_v", (hd,), opt["householder"] == "fixed"))
    return specs


def frozen_names(cfg):
    """Names of the fixed (not trained) parameters."""
    return [n for n, _, frozen in encoding_specs(cfg) if frozen]


def theta_ladder(n, e):
    """The fixed frequencies 10000^(-2i/e), i < n, computed in float64."""
    return torch.tensor([10000.0 ** (-2.0 * i / e) for i in range(n)], dtype=torch.float64)


def fixed_theta(cfg):
    """The fixed theta [n_freq] of the relative encoding (float64): one ladder over all
    frequencies, e = d (rope, unitary) or d rounded down to even (rotation); with axes split one
    ladder per half (first ceil(n/2) frequencies, then the rest), e = 2 x its size (rope,
    rotation) or its size (unitary)."""
    n, hd = n_freq(cfg), cfg.d_model // cfg.heads
    per = (lambda m: m) if cfg.encoding == "lrpe-unitary" else (lambda m: 2 * m)
    if pe_options(cfg)["axes"] == "split":
        h = (n + 1) // 2
        return torch.cat([theta_ladder(h, per(h)), theta_ladder(n - h, per(n - h))])
    if cfg.encoding == "lrpe-rotation":
        return theta_ladder(n, 2 * n)
    return theta_ladder(n, hd)


def init_params(cfg, gen):
    """Initial values (float32), drawn in table order from gen. Encoding parameters: pe.table
    N(0, w_std^2); theta the fixed ladder (no draw); householder_v N(0, 1)."""
    params = {}
    for name, shape, kind in param_specs(cfg):
        if name.endswith(".pe.theta"):
            params[name] = fixed_theta(cfg).float()
            continue
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        if name.endswith(".pe.householder_v"):
            v = z
        elif kind in ("weight", "embed", "pos"):
            v = cfg.w_std * z
        elif kind == "bias":
            v = cfg.b_std * z
        elif name.endswith("_g"):
            v = 1.0 + cfg.ln_std * z
        else:
            v = cfg.ln_std * z
        params[name] = v.contiguous()
    return params


def trainable(cfg, P, dtype=torch.float32):
    """A copy of parameters P in dtype, each requiring grad unless it is frozen."""
    frozen = set(frozen_names(cfg))
    return {n: P[n].to(dtype).clone().requires_grad_(n not in frozen) for n, _, _ in param_specs(cfg)}


def adamw(cfg, P):
    """AdamW over the trainable tensors of P: weights and embeddings decayed, the rest not."""
    specs, frozen = param_specs(cfg), set(frozen_names(cfg))
    decay = [P[n] for n, _, kind in specs if kind in ("weight", "embed") and n not in frozen]
    no_decay = [P[n] for n, _, kind in specs if kind not in ("weight", "embed") and n not in frozen]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


# ----------------------------------------------------------------------------- the C side's permutations

_M64 = (1 << 64) - 1


def _splitmix64(x):
    """(new state, output) of one splitmix64 step."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return x, z ^ (z >> 31)


class CRng:
    """lrpe's random stream (core/rng.h): xoshiro256** whose state is spread by splitmix64 from
    (run seed, 64-bit FNV-1a of a stream name). Used only to draw the permutations the C side
    draws; nothing else here depends on it."""

    def __init__(self, seed, stream):
        h = 0xcbf29ce484222325
        for ch in stream.encode():
            h = ((h ^ ch) * 0x100000001b3) & _M64
        x, a = _splitmix64(seed & _M64)
        mixed = a ^ ((h * 0xD1B54A32D192ED03) & _M64)
        self.s = []
        for _ in range(4):
            mixed, z = _splitmix64(mixed)
            self.s.append(z)

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & _M64  # noqa: E731
        result = (rotl((s[1] * 5) & _M64, 7) * 9) & _M64
        t = (s[1] << 17) & _M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        """Uniform integer in [0, n) (multiply-shift with rejection)."""
        m = (self.next() >> 32) * n
        if (m & 0xFFFFFFFF) < n:
            threshold = ((1 << 32) - n) % n
            while (m & 0xFFFFFFFF) < threshold:
                m = (self.next() >> 32) * n
        return m >> 32


def c_permutation(n, seed, stream):
    """The permutation pi [n] (int64; pi[i] is the image of i) the C side draws for (seed, stream):
    Fisher-Yates from the last element down."""
    r = CRng(seed, stream)
    pi = list(range(n))
    for i in range(n - 1, 0, -1):
        j = r.below(i + 1)
        pi[i], pi[j] = pi[j], pi[i]
    return torch.tensor(pi, dtype=torch.int64)


def permutations(cfg):
    """{fixture name: pi} of the encoding's fixed permutations: "perm.layers.L" [d] per layer, or
    with axes split "perm.layers.L.row" [ceil(d/2)] and "perm.layers.L.col" [d - ceil(d/2)];
    empty for encodings without one."""
    if cfg.encoding not in ("lrpe-permutation", "permuteformer"):
        return {}
    hd = cfg.d_model // cfg.heads
    out = {}
    for l in range(cfg.layers):
        base = f"{cfg.encoding}.layers.{l}.perm"
        if pe_options(cfg)["axes"] == "split":
            h = (hd + 1) // 2
            out[f"perm.layers.{l}.row"] = c_permutation(h, cfg.seed, base + ".row")
            out[f"perm.layers.{l}.col"] = c_permutation(hd - h, cfg.seed, base + ".col")
        else:
            out[f"perm.layers.{l}"] = c_permutation(hd, cfg.seed, base)
    return out


# ----------------------------------------------------------------------------- encodings

class Where:
    """The positions of one forward: pos None (1-D, 0..T-1 in every row: tables are [T, n]) or
    int64 [B, T, pos_rank] (tables are [B, 1, T, n], broadcasting over the heads)."""

    def __init__(self, cfg, pos, B, T):
        self.cfg, self.pos, self.B, self.T = cfg, pos, B, T

    def axis(self, n, dtype=torch.float64):
        """Position [.., n] each of n frequencies (or coordinates) uses: 1-D the position, 2-D
        row + col (axes sum) or, with axes split, the row for j < ceil(n/2) and the column after."""
        if self.pos is None:
            return torch.arange(self.T, dtype=dtype)[:, None].expand(self.T, n)
        p = self.pos.to(dtype)
        B, T = self.B, self.T
        if self.cfg.pos_rank == 1:
            a = p[..., :1].expand(B, T, n)
        elif pe_options(self.cfg)["axes"] == "split":
            h = (n + 1) // 2
            a = torch.cat([p[..., :1].expand(B, T, h), p[..., 1:2].expand(B, T, n - h)], dim=-1)
        else:
            a = (p[..., :1] + p[..., 1:2]).expand(B, T, n)
        return a[:, None]

    def raster(self):
        """float64 [T, 1] or [B, 1, T, 1]: t, or row * grid_w + col."""
        if self.pos is None:
            return torch.arange(self.T, dtype=torch.float64)[:, None]
        p = self.pos.double()
        i = p[..., :1] if self.cfg.pos_rank == 1 else p[..., :1] * self.cfg.grid_w + p[..., 1:2]
        return i[:, None]


def angles(where, theta, dtype):
    """cos and sin of position * theta_j (positions by where.axis), computed in float64 and
    rounded to dtype (differentiable in theta when it requires grad)."""
    a = where.axis(theta.shape[0]) * theta.double()
    return torch.cos(a).to(dtype), torch.sin(a).to(dtype)


def dct_matrix(d):
    """The orthonormal DCT-II [d, d] (float64): row k = s_k cos(pi (n + 1/2) k / d), s_0 = sqrt(1/d),
    s_k = sqrt(2/d)."""
    n = torch.arange(d, dtype=torch.float64)
    k = n[:, None]
    s = torch.full((d, 1), math.sqrt(2.0 / d), dtype=torch.float64)
    s[0] = math.sqrt(1.0 / d)
    return s * torch.cos(math.pi * (n[None, :] + 0.5) * k / d)


def p_transform(P, l, cfg, dtype):
    """x -> x~ = P x over the last dim (the layer's P of the LRPE family)."""
    p, d = pe_options(cfg)["p"], cfg.d_model // cfg.heads
    if p == "householder":
        v = P[f"layers.{l}.pe.householder_v"]
        u = v / (torch.linalg.vector_norm(v) + 1e-6)
        return lambda x: x - 2.0 * torch.matmul(x, u)[..., None] * u
    if p == "dct":
        D = dct_matrix(d).to(dtype)
        return lambda x: torch.matmul(x, D.t())
    if p == "oddeven":
        h = (d + 1) // 2
        idx = torch.tensor([i // 2 if i % 2 == 0 else h + i // 2 for i in range(d)], dtype=torch.int64)
        return lambda x: x[..., idx]
    return lambda x: x


def rope_apply(x, c, s):
    """RoPE on [B, H, T, hd]: half-split, x1 = x[:F], x2 = x[F:2F] (F = hd // 2) become
    [x1 cos - x2 sin, x2 cos + x1 sin]; an odd last coordinate passes."""
    F_ = c.shape[-1]
    x1, x2 = x[..., :F_], x[..., F_:2 * F_]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s, x[..., 2 * F_:]], dim=-1)


def rope(where, P, l, cfg, dtype):
    """RoPE at angles position * the fixed ladder."""
    c, s = angles(where, fixed_theta(cfg), dtype)
    return lambda x: rope_apply(x, c, s)


def lrpe_rotation(where, P, l, cfg, dtype):
    """P, then the interleaved pairs (2j, 2j+1) rotated by position * theta_j; an odd last
    coordinate passes."""
    Pm = p_transform(P, l, cfg, dtype)
    c, s = angles(where, P[f"layers.{l}.pe.theta"], dtype)
    n = c.shape[-1]

    def apply(x):
        xt = Pm(x)
        xe, xo = xt[..., 0:2 * n:2], xt[..., 1:2 * n:2]
        y = torch.stack([xe * c - xo * s, xo * c + xe * s], dim=-1).flatten(-2)
        return torch.cat([y, xt[..., 2 * n:]], dim=-1)
    return apply


def lrpe_unitary(where, P, l, cfg, dtype):
    """P, then [x~ cos(position theta) | x~ sin(position theta)] (width 2 hd), one frequency per
    coordinate."""
    Pm = p_transform(P, l, cfg, dtype)
    c, s = angles(where, P[f"layers.{l}.pe.theta"], dtype)

    def apply(x):
        xt = Pm(x)
        return torch.cat([xt * c, xt * s], dim=-1)
    return apply


def perm_index(where, cfg, l):
    """int64 [T, d] or [B, 1, T, d]: for each token the source coordinate pi^s(j) of every output
    coordinate j, pi the layer's permutation applied s = its position times (axes split: the row
    permutation over the first ceil(d/2) coordinates row times, the column one over the rest col
    times). Powers by repeated composition: pi^s(j) = pi(pi^(s-1)(j))."""
    d = cfg.d_model // cfg.heads
    perms = permutations(cfg)
    split = pe_options(cfg)["axes"] == "split"
    parts = ([(perms[f"perm.layers.{l}.row"], 0), (perms[f"perm.layers.{l}.col"], (d + 1) // 2)]
             if split else [(perms[f"perm.layers.{l}"], 0)])
    pos = where.axis(d, torch.int64)                    # [.., d] position each coordinate follows
    top = int(pos.max().item()) if pos.numel() else 0
    index = torch.zeros(pos.shape, dtype=torch.int64)
    for pi, off in parts:
        n = pi.shape[0]
        powers = [torch.arange(n, dtype=torch.int64)]
        for _ in range(top):
            powers.append(pi[powers[-1]])
        table = torch.stack(powers) + off               # [top + 1, n]: pi^s(j) + off
        p = pos[..., off:off + n]
        index[..., off:off + n] = torch.gather(table, 0, p.reshape(-1, n)).reshape(p.shape)
    return index


def lrpe_permutation(where, P, l, cfg, dtype):
    """P, then y[j] = x~[pi^s(j)] (width hd)."""
    Pm = p_transform(P, l, cfg, dtype)
    index = perm_index(where, cfg, l)

    def apply(x):
        xt = Pm(x)
        return torch.gather(xt, -1, index.expand(xt.shape))
    return apply


def cosformer(where, P, l, cfg, dtype):
    """[x sin(pi i / 2M) | x cos(pi i / 2M)] (width 2 hd), i the (raster) position, M = max_len."""
    a = math.pi * where.raster() / (2.0 * max_len(cfg))
    s, c = torch.sin(a).to(dtype), torch.cos(a).to(dtype)
    return lambda x: torch.cat([x * s, x * c], dim=-1)


# relative encodings with a q/k transform: name -> builder(where, P, layer, cfg, dtype) returning
# the transform of [B, H, T, hd], applied to q and k alike; "alibi" (a score bias) and
# permuteformer's decay are attention_extras
RELATIVE = {"none": None, "rope": rope, "lrpe-rotation": lrpe_rotation, "lrpe-unitary": lrpe_unitary,
            "lrpe-permutation": lrpe_permutation, "permuteformer": lrpe_permutation, "cosformer": cosformer,
            "alibi": None}


def alibi_slopes(n):
    """The ALiBi paper's head slopes (float64 [n]): 2^(-8(h+1)/n) for n a power of two; otherwise
    those of the largest power of two c below n, then every other slope of 2c up to n in all."""
    def pow2(m):
        return [2.0 ** (-8.0 * (i + 1) / m) for i in range(m)]
    if n & (n - 1) == 0:
        return torch.tensor(pow2(n), dtype=torch.float64)
    c = 1 << (n.bit_length() - 1)
    return torch.cat([torch.tensor(pow2(c), dtype=torch.float64), alibi_slopes(2 * c)[0::2][:n - c]])


def attention_extras(cfg, where, valid, dtype):
    """What the attention needs beyond q, k, v: key padding (bool [B, T] or None), ALiBi's score
    bias [1 or B, H, T, T] (-m_h x the distance |s - t|, or |dr| + |dc| on a grid) and
    PermuteFormer's decay factors r_h^(s - t) [H, T, T] (causal only: r_h = sigmoid(3h/H + 2))."""
    ex = {"valid": valid, "bias": None, "decay": None}
    H, T = cfg.heads, where.T
    if cfg.encoding == "alibi":
        if where.pos is None:
            t = torch.arange(T, dtype=torch.float64)
            dist = (t[:, None] - t[None, :]).abs()[None]                        # [1, T, T]
        else:
            p = where.pos.double()
            dist = (p[:, :, None, :] - p[:, None, :, :]).abs().sum(-1)         # [B, T, T]
        ex["bias"] = (-alibi_slopes(H)[None, :, None, None] * dist[:, None]).to(dtype)
    if cfg.encoding == "permuteformer" and cfg.causal:
        r = torch.sigmoid(3.0 * torch.arange(H, dtype=torch.float64) / H + 2.0)
        t = torch.arange(T, dtype=torch.float64)
        gap = (t[:, None] - t[None, :]).clamp(min=0.0)                           # s - t (future: masked)
        ex["decay"] = (r[:, None, None] ** gap).to(dtype)
    return ex


def embed(P, tokens, cfg, pos=None):
    """Token embeddings [B, T, C] plus the absolute encoding (pos: None for 0..T-1, or int64
    [B, T, pos_rank])."""
    x = F.embedding(tokens.long(), P["wte"])
    B, T, C = tokens.shape[0], tokens.shape[1], cfg.d_model

    def sincos(p, w):
        """[.., w] [sin(p f) | cos(p f)] halves, f_i = 10000^(-2i/w), an odd last channel zero."""
        h = w // 2
        a = p.double()[..., None] * theta_ladder(h, w)
        z = torch.zeros(a.shape[:-1] + (w - 2 * h,), dtype=x.dtype)
        return torch.cat([torch.sin(a).to(x.dtype), torch.cos(a).to(x.dtype), z], dim=-1)

    if cfg.absolute == "sinusoidal":
        if pos is None:
            h = C // 2
            c, s = angles(Where(cfg, None, B, T), theta_ladder(h, C), x.dtype)
            table = torch.cat([s, c, torch.zeros(T, C - 2 * h, dtype=x.dtype)], dim=-1)
        elif cfg.pos_rank == 1:
            table = sincos(pos[..., 0], C)
        else:
            table = torch.cat([sincos(pos[..., 0], C // 2), sincos(pos[..., 1], C - C // 2)], dim=-1)
        x = x * math.sqrt(C) + table
    elif cfg.absolute == "learned":
        if pos is None:
            x = x + P["pe.table"][:T]
        else:
            idx = pos[..., 0] if cfg.pos_rank == 1 else pos[..., 0] * cfg.grid_w + pos[..., 1]
            x = x + P["pe.table"][idx.clamp(0, max_len(cfg) - 1)]
    return x


# ----------------------------------------------------------------------------- attention

def causal_mask(T):
    """[T, T] True above the diagonal (the future keys of each query)."""
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def attention_softmax(q, k, v, cfg, encode=None, extra=None):
    """Scaled dot-product softmax attention over [B, H, T, hd] views, causal when cfg.causal; the
    relative encoding (if any) is applied to q and k first; the scale is 1/sqrt(hd); extra: the
    score bias (added to the scaled scores) and the key padding."""
    T, hd = q.shape[-2], q.shape[-1]
    if encode:
        q, k = encode(q), encode(k)
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
    if extra and extra["bias"] is not None:
        scores = scores + extra["bias"]
    if cfg.causal:
        future = causal_mask(T)
        scores = scores.masked_fill(future, float("-inf"))
    if extra and extra["valid"] is not None:
        scores = scores.masked_fill(~extra["valid"][:, None, None, :], float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def feature_map(q, k, cfg):
    """phi(q), phi(k) for linear attention: 1+elu or relu."""
    if cfg.feature_map == "1+elu":
        return 1.0 + F.elu(q), 1.0 + F.elu(k)
    if cfg.feature_map == "relu":
        return F.relu(q), F.relu(k)
    raise ValueError(f"{cfg.variant}: feature map {cfg.feature_map} is not implemented here")


def normalise_linear(out, fq, fk, cfg, valid=None):
    """The denominator normaliser, out / max(phi(q_s).sum_{t<=s} phi(k_t), 1e-6) on the unencoded
    features (padded keys left out); nothing for "layernorm" (the caller applies it: it has
    parameters)."""
    if cfg.normalizer == "denominator":
        if valid is not None:
            fk = fk * valid[:, None, :, None].to(fk.dtype)
        ksum = torch.cumsum(fk, dim=-2) if cfg.causal else fk.sum(dim=-2, keepdim=True)
        z = (fq * ksum).sum(dim=-1, keepdim=True).clamp(min=1e-6)
        return out / z
    if cfg.normalizer != "layernorm":
        raise ValueError(f"{cfg.variant}: normalizer {cfg.normalizer} is not implemented here")
    return out


def attention_linear(q, k, v, cfg, encode=None, extra=None):
    """Linear attention over [B, H, T, hd] views, in the masked quadratic form: q', k' = encode(phi(q)),
    encode(phi(k)); o_s = sum_{t<=s} r_h^(s-t) (q'_s.k'_t) v_t over the valid keys (no scale; the
    decay only with PermuteFormer), then normalise_linear."""
    fq, fk = feature_map(q, k, cfg)
    qe, ke = (encode(fq), encode(fk)) if encode else (fq, fk)
    T = q.shape[-2]
    valid = extra["valid"] if extra else None
    scores = torch.matmul(qe, ke.transpose(-2, -1))
    if extra and extra["decay"] is not None:
        scores = scores * extra["decay"]
    if cfg.causal:
        scores = scores.masked_fill(causal_mask(T), 0.0)
    if valid is not None:
        scores = scores.masked_fill(~valid[:, None, None, :], 0.0)
    out = torch.matmul(scores, v)
    return normalise_linear(out, fq, fk, cfg, valid)


def attention_linear_chunked(q, k, v, cfg, encode=None, chunk=LINEAR_CHUNK, extra=None):
    """Linear attention as attention_linear, computed like core/attn_linear.c: causal in chunks of
    `chunk` tokens, O_i = tril(Q_i K_i^T) V_i + Q_i S_i with S_i = sum_{j<i} K_j^T V_j (the state at
    the chunk start: an exclusive cumsum of the per-chunk k^T v over chunks); T x T never formed.
    T is zero-padded to a multiple of the chunk (zero keys and values add nothing). PermuteFormer's
    decay and key padding take the quadratic form."""
    if extra and (extra["decay"] is not None or extra["valid"] is not None):
        return attention_linear(q, k, v, cfg, encode, extra)
    fq, fk = feature_map(q, k, cfg)
    qe, ke = (encode(fq), encode(fk)) if encode else (fq, fk)
    if not cfg.causal:
        return normalise_linear(torch.matmul(qe, torch.matmul(ke.transpose(-2, -1), v)), fq, fk, cfg)
    B, H, T, dk = qe.shape
    dv = v.shape[-1]
    n = -(-T // chunk)
    pad = n * chunk - T
    if pad:
        qe, ke, vp = (F.pad(t, (0, 0, 0, pad)) for t in (qe, ke, v))
    else:
        vp = v
    Qc, Kc = qe.reshape(B, H, n, chunk, dk), ke.reshape(B, H, n, chunk, dk)
    Vc = vp.reshape(B, H, n, chunk, dv)
    Kt = Kc.transpose(-2, -1)
    intra = torch.matmul(torch.matmul(Qc, Kt).masked_fill(causal_mask(chunk), 0.0), Vc)
    kv = torch.matmul(Kt, Vc)                               # [B, H, n, dk, dv]
    state = torch.cumsum(kv[:, :, :-1], dim=2)              # states at the starts of chunks 1..n-1
    state = torch.cat([torch.zeros_like(kv[:, :, :1]), state], dim=2)
    out = (intra + torch.matmul(Qc, state)).reshape(B, H, n * chunk, dv)[:, :, :T]
    return normalise_linear(out, fq, fk, cfg)


# attention kernels by model_config.attention: the golden forms, and the fast ones
ATTENTION = {"softmax": attention_softmax, "linear": attention_linear}
ATTENTION_FAST = {"softmax": attention_softmax, "linear": attention_linear_chunked}


# ----------------------------------------------------------------------------- the model

def forward(P, tokens, cfg, fast=False, valid=None, pos=None):
    """Logits of the model with parameters P (a dict by table name): [B*T, n_out] (lm head) or
    [B, n_out] (cls head). valid: [B, T] (nonzero = a real token; None = no padding); pos: int64
    [B, T, pos_rank] positions (None: 0..T-1 in every row, 1-D models only). fast=True takes the
    fast path (chunked linear attention, encoding tables built once per layer)."""
    B, T = tokens.shape
    C, H = cfg.d_model, cfg.heads
    hd = C // H
    if cfg.pos_rank != 1 and pos is None:
        raise ValueError(f"{cfg.variant}: 2-D positions are needed")
    attention = (ATTENTION_FAST if fast else ATTENTION)[cfg.attention]
    rel = RELATIVE[cfg.encoding]
    lin_ln = cfg.attention == "linear" and cfg.normalizer == "layernorm"
    where = Where(cfg, pos, B, T)
    vmask = valid.bool() if valid is not None else None
    x = embed(P, tokens, cfg, pos)
    extra = attention_extras(cfg, where, vmask, x.dtype)
    for l in range(cfg.layers):
        p = lambda n: P[f"layers.{l}.{n}"]  # noqa: E731
        h = F.layer_norm(x, (C,), p("ln1_g"), p("ln1_b"), cfg.ln_eps)
        qkv = F.linear(h, p("qkv_w"), p("qkv_b"))
        q, k, v = qkv.split(C, dim=-1)
        heads = lambda t: t.reshape(B, T, H, hd).transpose(1, 2)  # noqa: E731
        encode = None
        if rel and fast:
            encode = rel(where, P, l, cfg, x.dtype)
        elif rel:
            encode = lambda t: rel(where, P, l, cfg, t.dtype)(t)  # noqa: E731
        a = attention(heads(q), heads(k), heads(v), cfg, encode, extra=extra).transpose(1, 2).reshape(B, T, C)
        if lin_ln:
            a = F.layer_norm(a, (C,), p("attn_ln_g"), p("attn_ln_b"), cfg.ln_eps)
        x = x + F.linear(a, p("proj_w"), p("proj_b"))
        h = F.layer_norm(x, (C,), p("ln2_g"), p("ln2_b"), cfg.ln_eps)
        x = x + F.linear(F.gelu(F.linear(h, p("fc_w"), p("fc_b"))), p("fcproj_w"), p("fcproj_b"))
    x = F.layer_norm(x, (C,), P["lnf_g"], P["lnf_b"], cfg.ln_eps)
    if cfg.head == "cls":
        if vmask is None:
            pooled = x.mean(dim=1)
        else:
            w = vmask.to(x.dtype)[..., None]
            pooled = (x * w).sum(dim=1) / w.sum(dim=1)
        return F.linear(pooled, P["head_w"], P["head_b"])
    return F.linear(x, P["head_w"], P["head_b"]).reshape(B * T, cfg.n_out)


def loss_fn(logits, targets):
    """Mean cross-entropy over the targets that are not -1."""
    return F.cross_entropy(logits, targets.reshape(-1).long(), ignore_index=-1)


def lr_at(cfg, step):
    """Learning rate at 0-based step: linear warm-up lr*(step+1)/warmup, then cosine from lr at
    step warmup to min_lr at step total_steps-1 (held there after)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = cfg.total_steps - 1 - cfg.warmup
    frac = min((step - cfg.warmup) / span, 1.0) if span > 0 else 1.0
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))


# ----------------------------------------------------------------------------- self-check

def selfcheck(cfg, tokens, targets):
    """Largest |fast - golden| over the logits, the loss and every gradient, and the largest
    |golden| value those were compared against (float32, one forward and backward each)."""
    P0 = init_params(cfg, torch.Generator().manual_seed(cfg.seed))
    res = []
    for fast in (False, True):
        P = trainable(cfg, P0)
        logits = forward(P, tokens, cfg, fast=fast)
        loss = loss_fn(logits, targets)
        loss.backward()
        res.append([logits.detach(), loss.detach().reshape(1)] +
                   [t.grad for t in P.values() if t.grad is not None])
    err = max((a - b).abs().max().item() for a, b in zip(*res))
    scale = max(a.abs().max().item() for a in res[0])
    return err, scale
