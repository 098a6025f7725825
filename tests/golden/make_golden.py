#!/usr/bin/python3
"""Golden fixtures for tests/test_golden.c: the lrpe transformer rebuilt in PyTorch.

Run from the repository root with Debian's PyTorch (python3-torch, 1.13):

    /usr/bin/python3 tests/golden/make_golden.py              # writes tests/fixtures/golden_*.safetensors
    /usr/bin/python3 tests/golden/make_golden.py --check64    # also reports float32 vs float64 errors
    /usr/bin/python3 tests/golden/make_golden.py softmax      # only the named variants

Each fixture is one safetensors file holding a tiny model's configuration (as metadata), its
parameters under exactly the names of the C parameter table (core/model.c: TOP_PARAMS and
LAYER_PARAMS), one batch (tokens, targets; I32), the logits and mean cross-entropy of a forward
pass, every gradient ("grad.<name>"), and a short AdamW run on the same batch: the learning rate,
loss and gradient norm (before clipping) of every step and the final parameters ("final.<name>").

The model is written independently of the C code from its description: token embedding; pre-LN
blocks x += proj(attention(qkv(ln1(x)))), x += fcproj(gelu(fc(ln2(x)))) with the fused qkv weight
[3C, C] (q = rows 0..C-1, k = C..2C-1, v = 2C..3C-1; head h uses columns h*hd..(h+1)*hd-1 of each),
exact erf GELU and LayerNorm eps 1e-5; final LayerNorm; linear LM head; mean cross-entropy over
targets >= 0. Computation is float32, like the C code; --check64 reruns everything in float64 and
prints how far float32 PyTorch itself is from exact, which is the scale the C test tolerances are
chosen against.

Deterministic: one thread, fixed seeds, a header written in a fixed order; rerunning on the same
machine and PyTorch build rewrites byte-identical files (the script checks its own output by
reading it back).

Attention and encodings (shared/spec/encodings.md, sections 2 to 4; layouts as encodings/pe.h
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
Angles t * theta are computed in float64 (spec section 2) and their cos / sin rounded to the
working precision. Fixed parameters (a frozen Householder vector or theta) are ordinary fixture
tensors that the C side copies in by name; PyTorch keeps them out of autograd and the optimizer,
writes zeros as their gradient and their initial values as their final values, and lists them
in the metadata key "frozen" (the C test checks its table's frozen flags against it). Encoding
parameters (kind "pos") get no weight decay, like the C default (adamw_defaults).

To add a variant (another attention kernel or positional encoding), write its attention function
(ATTENTION) or encoding (absolute: embed; relative: RELATIVE; parameters of either in
encoding_specs) and add an entry to VARIANTS; the model, training loop and file writer are shared. Metadata keys a variant does not
use are not written (feature_map / normalizer only for linear attention, absolute / encoding only
when not "none", pe_opt only with a relative encoding, frozen only when something is), so adding
variants leaves the existing fixtures byte-identical.
"""

import argparse
import json
import math
import os
import struct
import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

FIXTURE_DIR = os.path.join("tests", "fixtures")


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """A tiny model, its batch and its training run."""
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
    """(name, shape, kind) of every parameter, in the order of core/model.c's parameter table:
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
    """The encoding options as a dict, checked against what this script implements."""
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
    """Non-trivial initial values (float32), drawn in table order from gen. Encoding parameters:
    pe.table N(0, w_std^2); theta the fixed ladder 10000^(-2j/hd) (no draw); householder_v N(0, 1)."""
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


def make_batch(cfg, gen):
    """Random tokens [B, T] and targets [B, T] (int32) with cfg.ignored targets set to -1."""
    tokens = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, cfg.n_out, (cfg.batch, cfg.seq), generator=gen, dtype=torch.int64)
    for b, t in cfg.ignored:
        targets[b, t] = -1
    return tokens.to(torch.int32), targets.to(torch.int32)


# ----------------------------------------------------------------------------- the model

def angles(T, theta, dtype):
    """cos and sin [T, n] of t * theta_j for positions t = 0..T-1, computed in float64 and
    rounded to dtype (differentiable in theta when it requires grad)."""
    a = torch.arange(T, dtype=torch.float64)[:, None] * theta.double()[None, :]
    return torch.cos(a).to(dtype), torch.sin(a).to(dtype)


def encode_rope(x, P, l, cfg):
    """RoPE on [B, H, T, hd]: half-split, x1 = x[:F], x2 = x[F:2F] (F = hd // 2) become
    [x1 cos - x2 sin, x2 cos + x1 sin] at angles t * 10000^(-2i/hd); an odd last coordinate passes."""
    hd = x.shape[-1]
    F_ = hd // 2
    c, s = angles(x.shape[-2], theta_ladder(F_, hd), x.dtype)
    x1, x2 = x[..., :F_], x[..., F_:2 * F_]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s, x[..., 2 * F_:]], dim=-1)


def encode_lrpe_unitary(x, P, l, cfg):
    """LRPE unitary on [B, H, T, hd]: x~ = P x (Householder I - 2 u u^T, u = v / (||v|| + 1e-6), or
    identity), then [x~ cos(t theta) | x~ sin(t theta)] per head (width 2 hd), one frequency per
    coordinate, theta = layers.l.pe.theta."""
    if pe_options(cfg).get("p", "householder") == "householder":
        v = P[f"layers.{l}.pe.householder_v"]
        u = v / (torch.linalg.vector_norm(v) + 1e-6)
        x = x - 2.0 * torch.matmul(x, u)[..., None] * u
    c, s = angles(x.shape[-2], P[f"layers.{l}.pe.theta"], x.dtype)
    return torch.cat([x * c, x * s], dim=-1)


# relative encodings: name -> function(x [B, H, T, hd], P, layer, cfg) applied to q and k alike
RELATIVE = {"none": None, "rope": encode_rope, "lrpe-unitary": encode_lrpe_unitary}


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


def attention_linear(q, k, v, cfg, encode=None):
    """Linear attention over [B, H, T, hd] views, in the masked quadratic form: q', k' = encode(phi(q)),
    encode(phi(k)); o_s = sum_{t<=s} (q'_s.k'_t) v_t (no scale). With the denominator normaliser
    o_s /= max(phi(q_s).sum_{t<=s} phi(k_t), 1e-6) on the unencoded features; the LayerNorm
    normaliser is applied by the caller (it has parameters)."""
    if cfg.feature_map == "1+elu":
        fq, fk = 1.0 + F.elu(q), 1.0 + F.elu(k)
    elif cfg.feature_map == "relu":
        fq, fk = F.relu(q), F.relu(k)
    else:
        raise ValueError(f"{cfg.variant}: feature map {cfg.feature_map} is not implemented here")
    qe, ke = (encode(fq), encode(fk)) if encode else (fq, fk)
    T = q.shape[-2]
    scores = torch.matmul(qe, ke.transpose(-2, -1))
    if cfg.causal:
        scores = scores.masked_fill(causal_mask(T), 0.0)
    out = torch.matmul(scores, v)
    if cfg.normalizer == "denominator":
        ksum = torch.cumsum(fk, dim=-2) if cfg.causal else fk.sum(dim=-2, keepdim=True)
        z = (fq * ksum).sum(dim=-1, keepdim=True).clamp(min=1e-6)
        out = out / z
    elif cfg.normalizer != "layernorm":
        raise ValueError(f"{cfg.variant}: normalizer {cfg.normalizer} is not implemented here")
    return out


# attention kernels by model_config.attention
ATTENTION = {"softmax": attention_softmax, "linear": attention_linear}


def forward(P, tokens, cfg):
    """Logits [B*T, n_out] of the model with parameters P (a dict by table name)."""
    B, T = tokens.shape
    C, H = cfg.d_model, cfg.heads
    hd = C // H
    attention, rel = ATTENTION[cfg.attention], RELATIVE[cfg.encoding]
    lin_ln = cfg.attention == "linear" and cfg.normalizer == "layernorm"
    x = embed(P, tokens, cfg)
    for l in range(cfg.layers):
        p = lambda n: P[f"layers.{l}.{n}"]  # noqa: E731
        h = F.layer_norm(x, (C,), p("ln1_g"), p("ln1_b"), cfg.ln_eps)
        qkv = F.linear(h, p("qkv_w"), p("qkv_b"))
        q, k, v = qkv.split(C, dim=-1)
        heads = lambda t: t.reshape(B, T, H, hd).transpose(1, 2)  # noqa: E731
        encode = (lambda t: rel(t, P, l, cfg)) if rel else None  # noqa: E731
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


def run(cfg, P0, tokens, targets, dtype):
    """Forward, backward and cfg.steps AdamW steps from parameters P0, computed in dtype.
    Returns a dict of float32/float64 tensors: logits, loss, grad.<name>, lrs, losses,
    grad_norms, final.<name>. Frozen parameters take no gradient (zeros are reported) and are not
    updated."""
    specs = param_specs(cfg)
    names = [n for n, _, _ in specs]
    frozen = set(frozen_names(cfg))
    train = [n for n in names if n not in frozen]
    P = {n: P0[n].to(dtype).clone().requires_grad_(n not in frozen) for n in names}
    out = {}

    logits = forward(P, tokens, cfg)
    loss = loss_fn(logits, targets)
    loss.backward()
    out["logits"] = logits.detach().clone()
    out["loss"] = loss.detach().reshape(1).clone()
    for n in names:
        out["grad." + n] = P[n].grad.detach().clone() if n not in frozen else torch.zeros_like(P[n])

    decay = [P[n] for n, _, kind in specs if kind in ("weight", "embed") and n not in frozen]
    no_decay = [P[n] for n, _, kind in specs if kind not in ("weight", "embed") and n not in frozen]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    lrs, losses, norms = [], [], []
    for step in range(cfg.steps):
        lr = lr_at(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(forward(P, tokens, cfg), targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([P[n] for n in train], cfg.max_grad_norm)
        opt.step()
        lrs.append(lr)
        losses.append(loss.item())
        norms.append(norm.item())
    out["lrs"] = torch.tensor(lrs, dtype=dtype)
    out["losses"] = torch.tensor(losses, dtype=dtype)
    out["grad_norms"] = torch.tensor(norms, dtype=dtype)
    for n in names:
        out["final." + n] = P[n].detach().clone()
    return out


# ----------------------------------------------------------------------------- safetensors

def write_safetensors(path, tensors, metadata):
    """Writes [(name, tensor)] (float32 or int32, in this order) and a str->str metadata dict:
    8-byte little-endian header length, JSON header padded with spaces to 8 bytes, raw data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors:
        t = t.detach().contiguous()
        if t.dtype == torch.float32:
            dtype, data = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.int32:
            dtype, data = "I32", t.numpy().astype("<i4").tobytes()
        else:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Reads a file written by write_safetensors: ({name: tensor}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = {"F32": torch.float32, "I32": torch.int32}[info["dtype"]]
        out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=dt).reshape(info["shape"])
    return out, meta


# ----------------------------------------------------------------------------- fixtures

def metadata(cfg):
    """The configuration as string metadata (read by tests/test_golden.c)."""
    keys = ["variant", "attention", "seed", "vocab", "n_out", "batch", "seq", "layers", "d_model",
            "heads", "ffn_mult", "causal", "ln_eps", "steps", "lr", "min_lr", "warmup",
            "total_steps", "beta1", "beta2", "eps", "weight_decay", "max_grad_norm"]
    meta = {"format": "lrpe-golden-1", "generator": "tests/golden/make_golden.py",
            "torch": torch.__version__}
    for k in keys:
        meta[k] = repr(getattr(cfg, k)) if isinstance(getattr(cfg, k), float) else str(getattr(cfg, k))
    meta["decay"] = "weights,embeddings"
    # model options the C test reads only when present (absent: not used / "none")
    if cfg.attention == "linear":
        meta["feature_map"], meta["normalizer"] = cfg.feature_map, cfg.normalizer
    if cfg.absolute != "none":
        meta["absolute"] = cfg.absolute
    if cfg.encoding != "none":
        meta["encoding"] = cfg.encoding
        meta["pe_opt"] = ",".join(f"{k}={v}" for k, v in cfg.pe_opt)
    if frozen_names(cfg):
        meta["frozen"] = ",".join(frozen_names(cfg))
    meta.update(cfg.extra_meta)
    return meta


def report_float64(cfg, res32, res64):
    """Prints, per quantity, the largest |float32 - float64| and that over the largest |float64|."""
    print(f"  float32 PyTorch vs float64 ({cfg.variant}):  max abs err   max abs err / max|ref|")
    groups = {}
    for key in res32:
        group = key.split(".")[0] if "." in key else key
        a, b = res32[key].double(), res64[key]
        err = (a - b).abs().max().item()
        scale = b.abs().max().item()
        ea, er = groups.get(group, (0.0, 0.0))
        groups[group] = (max(ea, err), max(er, err / scale if scale else 0.0))
    for g, (ea, er) in groups.items():
        print(f"    {g:12s} {ea:12.3e} {er:12.3e}")


def build_fixture(cfg, check64=False):
    """Computes a variant's fixture; returns ([(name, tensor)], metadata)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    P0 = init_params(cfg, gen)
    tokens, targets = make_batch(cfg, gen)
    res = run(cfg, P0, tokens, targets, torch.float32)
    if check64:
        report_float64(cfg, res, run(cfg, P0, tokens, targets, torch.float64))
    names = [n for n, _, _ in param_specs(cfg)]
    tensors = [("tokens", tokens), ("targets", targets)]
    tensors += [(n, P0[n]) for n in names]
    tensors += [("logits", res["logits"]), ("loss", res["loss"])]
    tensors += [("grad." + n, res["grad." + n]) for n in names]
    tensors += [("lrs", res["lrs"].float()), ("losses", res["losses"].float()),
                ("grad_norms", res["grad_norms"].float())]
    tensors += [("final." + n, res["final." + n]) for n in names]
    print(f"  {cfg.variant}: loss {res['loss'].item():.6f}; losses "
          + " ".join(f"{x:.6f}" for x in res["losses"].tolist())
          + "; grad norms " + " ".join(f"{x:.4f}" for x in res["grad_norms"].tolist()))
    return tensors, metadata(cfg)


# variant name -> config; one fixture file each
VARIANTS = {
    "softmax": Config(variant="softmax", attention="softmax"),
    # the paper's LM configuration: causal linear attention, 1+elu, LayerNorm normaliser, the
    # sinusoidal absolute encoding kept, LRPE unitary with a fixed Householder P and learned theta
    "linear_lrpe_unitary": Config(variant="linear_lrpe_unitary", attention="linear", feature_map="1+elu",
                                  normalizer="layernorm", absolute="sinusoidal", encoding="lrpe-unitary",
                                  pe_opt=(("p", "householder"), ("theta", "learned"),
                                          ("householder", "fixed"))),
    # linear attention with the denominator (on unencoded features) and rope, no absolute encoding
    "linear_rope_denominator": Config(variant="linear_rope_denominator", attention="linear",
                                      feature_map="1+elu", normalizer="denominator", encoding="rope",
                                      pe_opt=(("axes", "sum"),)),
    # softmax with rope and a learned absolute table (whose gradient is compared too)
    "softmax_rope": Config(variant="softmax_rope", attention="softmax", absolute="learned", encoding="rope",
                           pe_opt=(("axes", "sum"),)),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="*", help="variants to write (default: all of " + ", ".join(VARIANTS) + ")")
    ap.add_argument("--out-dir", default=FIXTURE_DIR)
    ap.add_argument("--check64", action="store_true", help="report float32 vs float64 errors")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.variants or list(VARIANTS):
        if name not in VARIANTS:
            sys.exit(f"make_golden.py: unknown variant '{name}' (known: {', '.join(VARIANTS)})")
        cfg = VARIANTS[name]
        tensors, meta = build_fixture(cfg, args.check64)
        path = os.path.join(args.out_dir, f"golden_{name}.safetensors")
        write_safetensors(path, tensors, meta)
        back, back_meta = read_safetensors(path)
        assert back_meta == meta and list(back) == [n for n, _ in tensors]
        assert all(torch.equal(back[n], t) for n, t in tensors), "read-back mismatch"
        print(f"  wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
