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

To add a variant (another attention kernel or positional encoding), write its attention function
(or encoding hook) and add an entry to VARIANTS; the model, training loop and file writer are
shared.
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


# kinds as in core/arena.h; weight decay applies to "weight" and "embed" only
def param_specs(cfg):
    """(name, shape, kind) of every parameter, in the order of core/model.c's parameter table."""
    C, Fd = cfg.d_model, cfg.ffn_mult * cfg.d_model
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
                  (p + "qkv_b", (3 * C,), "bias"),
                  (p + "proj_w", (C, C), "weight"),
                  (p + "proj_b", (C,), "bias"),
                  (p + "ln2_g", (C,), "norm"),
                  (p + "ln2_b", (C,), "norm"),
                  (p + "fc_w", (Fd, C), "weight"),
                  (p + "fc_b", (Fd,), "bias"),
                  (p + "fcproj_w", (C, Fd), "weight"),
                  (p + "fcproj_b", (C,), "bias")]
    return specs


def init_params(cfg, gen):
    """Non-trivial initial values (float32), drawn in table order from gen."""
    params = {}
    for name, shape, kind in param_specs(cfg):
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        if kind in ("weight", "embed"):
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

def attention_softmax(q, k, v, cfg):
    """Scaled dot-product softmax attention over [B, H, T, hd] views, causal when cfg.causal."""
    T, hd = q.shape[-2], q.shape[-1]
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
    if cfg.causal:
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def forward(P, tokens, cfg, attention):
    """Logits [B*T, n_out] of the model with parameters P (a dict by table name)."""
    B, T = tokens.shape
    C, H = cfg.d_model, cfg.heads
    hd = C // H
    x = F.embedding(tokens.long(), P["wte"])
    for l in range(cfg.layers):
        p = lambda n: P[f"layers.{l}.{n}"]  # noqa: E731
        h = F.layer_norm(x, (C,), p("ln1_g"), p("ln1_b"), cfg.ln_eps)
        qkv = F.linear(h, p("qkv_w"), p("qkv_b"))
        q, k, v = qkv.split(C, dim=-1)
        heads = lambda t: t.reshape(B, T, H, hd).transpose(1, 2)  # noqa: E731
        a = attention(heads(q), heads(k), heads(v), cfg).transpose(1, 2).reshape(B, T, C)
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


def run(cfg, P0, tokens, targets, attention, dtype):
    """Forward, backward and cfg.steps AdamW steps from parameters P0, computed in dtype.
    Returns a dict of float32/float64 tensors: logits, loss, grad.<name>, lrs, losses,
    grad_norms, final.<name>."""
    specs = param_specs(cfg)
    names = [n for n, _, _ in specs]
    P = {n: P0[n].to(dtype).clone().requires_grad_(True) for n in names}
    out = {}

    logits = forward(P, tokens, cfg, attention)
    loss = loss_fn(logits, targets)
    loss.backward()
    out["logits"] = logits.detach().clone()
    out["loss"] = loss.detach().reshape(1).clone()
    for n in names:
        out["grad." + n] = P[n].grad.detach().clone()

    decay = [P[n] for n, _, kind in specs if kind in ("weight", "embed")]
    no_decay = [P[n] for n, _, kind in specs if kind not in ("weight", "embed")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    lrs, losses, norms = [], [], []
    for step in range(cfg.steps):
        lr = lr_at(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(forward(P, tokens, cfg, attention), targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([P[n] for n in names], cfg.max_grad_norm)
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


def build_fixture(cfg, attention, check64=False):
    """Computes a variant's fixture; returns ([(name, tensor)], metadata)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    P0 = init_params(cfg, gen)
    tokens, targets = make_batch(cfg, gen)
    res = run(cfg, P0, tokens, targets, attention, torch.float32)
    if check64:
        report_float64(cfg, res, run(cfg, P0, tokens, targets, attention, torch.float64))
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


# variant name -> (config, attention function); one fixture file each
VARIANTS = {
    "softmax": (Config(variant="softmax", attention="softmax"), attention_softmax),
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
        cfg, attention = VARIANTS[name]
        tensors, meta = build_fixture(cfg, attention, args.check64)
        path = os.path.join(args.out_dir, f"golden_{name}.safetensors")
        write_safetensors(path, tensors, meta)
        back, back_meta = read_safetensors(path)
        assert back_meta == meta and list(back) == [n for n, _ in tensors]
        assert all(torch.equal(back[n], t) for n, t in tensors), "read-back mismatch"
        print(f"  wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
