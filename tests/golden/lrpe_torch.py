"""The lrpe transformer in PyTorch (1.13, Debian's python3-torch): one model shared by the golden
fixtures (tests/golden/make_golden.py) and the PyTorch peer benchmark (bench/torch_peer.py).

The model is written independently of the C code from its description: token embedding; pre-LN
blocks x += proj(attention(qkv(ln1(x)))), x += fcproj(gelu(fc(ln2(x)))) with the fused qkv weight
[3C, C] (q = rows 0..C-1, k = C..2C-1, v = 2C..3C-1; head h uses columns h*hd..(h+1)*hd-1 of each),
exact erf GELU and LayerNorm eps 1e-5; final LayerNorm; linear LM head; mean cross-entropy over
targets >= 0. Parameters are a dict by the names of the C parameter table (model/model.c:
TOP_PARAMS and LAYER_PARAMS), so a fixture can be written and read by name.

Attention and encodings (docs/encodings.md §2 to §4; layouts as encodings/pe.h
documents them), each written from the spec, with autograd for every gradient:
  softmax    scores q.k / sqrt(hd), relative encoding applied to q and k first;
  linear     phi = 1+elu or relu on q and k, then the relative encoding; numerator
             o_s = sum_{t<=s} (q'_s.k'_t) v_t (no scale); normaliser "layernorm" (LayerNorm over all
             heads concatenated, parameters layers.L.attn_ln_g/_b, before the output projection) or
             "denominator" (o_s / max(phi(q_s).sum_{t<=s} phi(k_t), 1e-6) on the UNENCODED features);
  absolute   "sinusoidal": wte * sqrt(C) + [sin | cos] halves with freq_i = 10000^(-2i/C);
             "learned": wte + pe.table[t] (a trainable [seq, C] table, no weight decay);
  relative   "rope": half-split pairs (i, i + hd/2) rotated by t * 10000^(-2i/hd) (fixed);
             "lrpe-unitary": x~ = P x with P = I - 2 u u^T, u = v/(||v|| + 1e-6) (v =
             layers.L.pe.householder_v) or P = identity, then per head [x~ cos(t theta) | x~ sin(t theta)]
             (width 2 hd) with theta = layers.L.pe.theta [hd], initialised to 10000^(-2j/hd).
Angles t * theta are computed in float64 (docs/encodings.md §2) and their cos / sin rounded to the
working precision. Fixed parameters (a frozen Householder vector or theta) are ordinary tensors
kept out of autograd and the optimizer. Encoding parameters (kind "pos") get no weight decay, like
the C default (adamw_defaults).

Two paths through the same parameters:
  forward(P, tokens, cfg)             the golden path, written for clarity: causal linear attention
                                      in the masked quadratic form (T x T scores), encoding tables
                                      recomputed for q and for k;
  forward(P, tokens, cfg, fast=True)  what a PyTorch user would write for speed, with the FLOPs of
                                      lrpe's kernels: causal linear attention chunked like
                                      core/attn_linear.c (chunks of 64: masked quadratic inside a
                                      chunk, a running k^T v state across chunks, here an exclusive
                                      cumsum over chunks), encoding tables built once per layer.
Softmax attention is the same in both (q k^T / sqrt(hd), causal mask, softmax, @ v; torch 1.13 has
no scaled_dot_product_attention). `selfcheck` compares the two paths.

To add a variant (another attention kernel or positional encoding), write its attention function
(ATTENTION, and ATTENTION_FAST if the golden form is slow) or encoding (absolute: embed; relative: a
tables / apply pair in RELATIVE; parameters of either in encoding_specs).
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

LINEAR_CHUNK = 64  # tokens per chunk of the fast causal linear attention (core/attn_linear.c)


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """A model, its batch and its training run (defaults: the golden fixtures' tiny model)."""
    variant: str = "softmax"
    attention: str = "softmax"   # core kernel name (model_config.attention)
    feature_map: str = "1+elu"   # linear attention: "1+elu" | "relu" (model_config.feature_map)
    normalizer: str = "layernorm"  # linear attention: "layernorm" | "denominator"
    absolute: str = "none"       # "none" | "sinusoidal" | "learned" (model_config.absolute)
    encoding: str = "none"       # "none" | "rope" | "lrpe-unitary" (model_config.encoding)
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
    ignored: tuple = ((0, 3), (0, 10), (1, 7))   # (b, t) whose target is -1
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


def pe_options(cfg):
    """The encoding options as a dict, checked against what this module implements."""
    opt = dict(cfg.pe_opt)
    known = {"none": {}, "rope": {"axes": ("sum",)},
             "lrpe-unitary": {"p": ("identity", "householder"), "theta": ("fixed", "learned"),
                              "householder": ("fixed", "learned"), "axes": ("sum",)}}[cfg.encoding]
    for k, v in opt.items():
        if k not in known or v not in known[k]:
            raise ValueError(f"{cfg.variant}: encoding {cfg.encoding} option {k}={v} is not implemented here")
    return opt


def encoding_specs(cfg):
    """(name, shape, frozen) of the encodings' parameters (encodings/pe.h): the learned absolute
    table; per layer, lrpe-unitary's theta [hd] (frozen unless theta learned) and, with P =
    householder, its vector v [hd] (frozen unless householder learned). Options default as in
    pe_options_default (p householder, theta fixed, householder fixed)."""
    C, hd = cfg.d_model, cfg.d_model // cfg.heads
    specs = []
    if cfg.absolute == "learned":
        specs.append(("pe.table", (cfg.seq, C), False))
    elif cfg.absolute not in ("none", "sinusoidal"):
        raise ValueError(f"{cfg.variant}: absolute encoding {cfg.absolute} is not implemented here")
    opt = pe_options(cfg)
    if cfg.encoding == "lrpe-unitary":
        for l in range(cfg.layers):
            specs.append((f"layers.{l}.pe.theta", (hd,), opt.get("theta", "fixed") == "fixed"))
            if opt.get("p", "householder") == "householder":
                specs.append((f"layers.{l}.pe.householder_v", (hd,), opt.get("householder", "fixed") == "fixed"))
    return specs


def frozen_names(cfg):
    """Names of the fixed (not trained) parameters."""
    return [n for n, _, frozen in encoding_specs(cfg) if frozen]


def theta_ladder(n, e):
    """The fixed frequencies 10000^(-2i/e), i < n, computed in float64."""
    return torch.tensor([10000.0 ** (-2.0 * i / e) for i in range(n)], dtype=torch.float64)


def init_params(cfg, gen):
    """Initial values (float32), drawn in table order from gen. Encoding parameters: pe.table
    N(0, w_std^2); theta the fixed ladder 10000^(-2j/hd) (no draw); householder_v N(0, 1)."""
    params = {}
    for name, shape, kind in param_specs(cfg):
        if name.endswith(".pe.theta"):
            params[name] = theta_ladder(shape[0], shape[0]).float()
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


# ----------------------------------------------------------------------------- encodings

def angles(T, theta, dtype):
    """cos and sin [T, n] of t * theta_j for positions t = 0..T-1, computed in float64 and
    rounded to dtype (differentiable in theta when it requires grad)."""
    a = torch.arange(T, dtype=torch.float64)[:, None] * theta.double()[None, :]
    return torch.cos(a).to(dtype), torch.sin(a).to(dtype)


def rope_tables(T, hd, P, l, cfg, dtype):
    """RoPE's cos and sin [T, hd // 2] at angles t * 10000^(-2i/hd)."""
    return angles(T, theta_ladder(hd // 2, hd), dtype)


def rope_apply(x, c, s):
    """RoPE on [B, H, T, hd]: half-split, x1 = x[:F], x2 = x[F:2F] (F = hd // 2) become
    [x1 cos - x2 sin, x2 cos + x1 sin]; an odd last coordinate passes."""
    F_ = c.shape[-1]
    x1, x2 = x[..., :F_], x[..., F_:2 * F_]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s, x[..., 2 * F_:]], dim=-1)


def unitary_tables(T, hd, P, l, cfg, dtype):
    """LRPE unitary's Householder unit vector u = v / (||v|| + 1e-6) (None when P = identity) and
    cos / sin [T, hd] of t * theta, theta = layers.l.pe.theta."""
    u = None
    if pe_options(cfg).get("p", "householder") == "householder":
        v = P[f"layers.{l}.pe.householder_v"]
        u = v / (torch.linalg.vector_norm(v) + 1e-6)
    c, s = angles(T, P[f"layers.{l}.pe.theta"], dtype)
    return u, c, s


def unitary_apply(x, u, c, s):
    """LRPE unitary on [B, H, T, hd]: x~ = x - 2 (x.u) u (skipped when u is None), then
    [x~ cos(t theta) | x~ sin(t theta)] per head (width 2 hd), one frequency per coordinate."""
    if u is not None:
        x = x - 2.0 * torch.matmul(x, u)[..., None] * u
    return torch.cat([x * c, x * s], dim=-1)


# relative encodings: name -> (tables(T, hd, P, layer, cfg, dtype), apply(x [B, H, T, hd], *tables)),
# applied to q and k alike
RELATIVE = {"none": None, "rope": (rope_tables, rope_apply), "lrpe-unitary": (unitary_tables, unitary_apply)}


def embed(P, tokens, cfg):
    """Token embeddings [B, T, C] plus the absolute encoding."""
    x = F.embedding(tokens.long(), P["wte"])
    T, C = tokens.shape[1], cfg.d_model
    if cfg.absolute == "sinusoidal":
        h = C // 2
        c, s = angles(T, theta_ladder(h, C), x.dtype)
        table = torch.cat([s, c, torch.zeros(T, C - 2 * h, dtype=x.dtype)], dim=-1)
        x = x * math.sqrt(C) + table
    elif cfg.absolute == "learned":
        x = x + P["pe.table"][:T]
    return x


# ----------------------------------------------------------------------------- attention

def causal_mask(T):
    """[T, T] True above the diagonal (the future keys of each query)."""
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def attention_softmax(q, k, v, cfg, encode=None):
    """Scaled dot-product softmax attention over [B, H, T, hd] views, causal when cfg.causal; the
    relative encoding (if any) is applied to q and k first; the scale is 1/sqrt(hd)."""
    T, hd = q.shape[-2], q.shape[-1]
    if encode:
        q, k = encode(q), encode(k)
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
    if cfg.causal:
        future = causal_mask(T)
        scores = scores.masked_fill(future, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def feature_map(q, k, cfg):
    """phi(q), phi(k) for linear attention: 1+elu or relu."""
    if cfg.feature_map == "1+elu":
        return 1.0 + F.elu(q), 1.0 + F.elu(k)
    if cfg.feature_map == "relu":
        return F.relu(q), F.relu(k)
    raise ValueError(f"{cfg.variant}: feature map {cfg.feature_map} is not implemented here")


def normalise_linear(out, fq, fk, cfg):
    """The denominator normaliser, out / max(phi(q_s).sum_{t<=s} phi(k_t), 1e-6) on the unencoded
    features; nothing for "layernorm" (the caller applies it: it has parameters)."""
    if cfg.normalizer == "denominator":
        ksum = torch.cumsum(fk, dim=-2) if cfg.causal else fk.sum(dim=-2, keepdim=True)
        z = (fq * ksum).sum(dim=-1, keepdim=True).clamp(min=1e-6)
        return out / z
    if cfg.normalizer != "layernorm":
        raise ValueError(f"{cfg.variant}: normalizer {cfg.normalizer} is not implemented here")
    return out


def attention_linear(q, k, v, cfg, encode=None):
    """Linear attention over [B, H, T, hd] views, in the masked quadratic form: q', k' = encode(phi(q)),
    encode(phi(k)); o_s = sum_{t<=s} (q'_s.k'_t) v_t (no scale), then normalise_linear."""
    fq, fk = feature_map(q, k, cfg)
    qe, ke = (encode(fq), encode(fk)) if encode else (fq, fk)
    T = q.shape[-2]
    scores = torch.matmul(qe, ke.transpose(-2, -1))
    if cfg.causal:
        scores = scores.masked_fill(causal_mask(T), 0.0)
    out = torch.matmul(scores, v)
    return normalise_linear(out, fq, fk, cfg)


def attention_linear_chunked(q, k, v, cfg, encode=None, chunk=LINEAR_CHUNK):
    """Linear attention as attention_linear, computed like core/attn_linear.c: causal in chunks of
    `chunk` tokens, O_i = tril(Q_i K_i^T) V_i + Q_i S_i with S_i = sum_{j<i} K_j^T V_j (the state at
    the chunk start: an exclusive cumsum of the per-chunk k^T v over chunks); T x T never formed.
    T is zero-padded to a multiple of the chunk (zero keys and values add nothing)."""
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

def forward(P, tokens, cfg, fast=False):
    """Logits [B*T, n_out] of the model with parameters P (a dict by table name); fast=True takes
    the fast path (chunked linear attention, encoding tables built once per layer)."""
    B, T = tokens.shape
    C, H = cfg.d_model, cfg.heads
    hd = C // H
    attention = (ATTENTION_FAST if fast else ATTENTION)[cfg.attention]
    rel = RELATIVE[cfg.encoding]
    lin_ln = cfg.attention == "linear" and cfg.normalizer == "layernorm"
    x = embed(P, tokens, cfg)
    for l in range(cfg.layers):
        p = lambda n: P[f"layers.{l}.{n}"]  # noqa: E731
        h = F.layer_norm(x, (C,), p("ln1_g"), p("ln1_b"), cfg.ln_eps)
        qkv = F.linear(h, p("qkv_w"), p("qkv_b"))
        q, k, v = qkv.split(C, dim=-1)
        heads = lambda t: t.reshape(B, T, H, hd).transpose(1, 2)  # noqa: E731
        encode = None
        if rel and fast:
            tables = rel[0](T, hd, P, l, cfg, x.dtype)
            encode = lambda t: rel[1](t, *tables)  # noqa: E731
        elif rel:
            encode = lambda t: rel[1](t, *rel[0](T, hd, P, l, cfg, t.dtype))  # noqa: E731
        a = attention(heads(q), heads(k), heads(v), cfg, encode).transpose(1, 2).reshape(B, T, C)
        if lin_ln:
            a = F.layer_norm(a, (C,), p("attn_ln_g"), p("attn_ln_b"), cfg.ln_eps)
        x = x + F.linear(a, p("proj_w"), p("proj_b"))
        h = F.layer_norm(x, (C,), p("ln2_g"), p("ln2_b"), cfg.ln_eps)
        x = x + F.linear(F.gelu(F.linear(h, p("fc_w"), p("fc_b"))), p("fcproj_w"), p("fcproj_b"))
    x = F.layer_norm(x, (C,), P["lnf_g"], P["lnf_b"], cfg.ln_eps)
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
