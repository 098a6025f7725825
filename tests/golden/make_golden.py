#!/usr/bin/python3
"""Golden fixtures for tests/test_golden.c: the lrpe transformer rebuilt in PyTorch.

Run from the repository root with Debian's PyTorch (python3-torch, 1.13):

    /usr/bin/python3 tests/golden/make_golden.py              # writes tests/fixtures/golden_*.safetensors
    /usr/bin/python3 tests/golden/make_golden.py --check64    # also reports float32 vs float64 errors
    /usr/bin/python3 tests/golden/make_golden.py softmax      # only the named variants

Each fixture is one safetensors file holding a tiny model's configuration (as metadata), its
parameters under exactly the names of the C parameter table (model/model.c: TOP_PARAMS and
LAYER_PARAMS), one batch (tokens, targets; I32), the logits and mean cross-entropy of a forward
pass, every gradient ("grad.<name>"), and a short AdamW run on the same batch: the learning rate,
loss and gradient norm (before clipping) of every step and the final parameters ("final.<name>").

The model, its encodings and attention kernels live in tests/golden/lrpe_torch.py (shared with the
PyTorch peer benchmark, bench/torch_peer.py), written independently of the C code from its
description and the spec; this script uses its golden path (forward without fast=True: linear
attention in the masked quadratic form). Computation is float32, like the C code; --check64 reruns
everything in float64 and prints how far float32 PyTorch itself is from exact, which is the scale
the C test tolerances are chosen against.

Deterministic: one thread, fixed seeds, a header written in a fixed order; rerunning on the same
machine and PyTorch build rewrites byte-identical files (the script checks its own output by
reading it back).

Fixed parameters (a frozen Householder vector or theta) are ordinary fixture tensors that the C
side copies in by name; PyTorch keeps them out of autograd and the optimizer, writes zeros as their
gradient and their initial values as their final values, and lists them in the metadata key
"frozen" (the C test checks its table's frozen flags against it). Encoding parameters (kind "pos")
get no weight decay, like the C default (adamw_defaults).

To add a variant (another attention kernel or positional encoding), add it to lrpe_torch.py (see
its docstring) and add an entry to VARIANTS; the model, training loop and file writer are shared.
Metadata keys a variant does not use are not written (feature_map / normalizer only for linear
attention, absolute / encoding only when not "none", pe_opt only with a relative encoding, frozen
only when something is), so adding variants leaves the existing fixtures byte-identical.
"""

import argparse
import json
import os
import struct
import sys

import torch

from lrpe_torch import Config, adamw, forward, frozen_names, init_params, loss_fn, lr_at, param_specs, trainable

FIXTURE_DIR = os.path.join("tests", "fixtures")


# ----------------------------------------------------------------------------- the batch and the run

def make_batch(cfg, gen):
    """Random tokens [B, T] and targets [B, T] (int32) with cfg.ignored targets set to -1."""
    tokens = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, cfg.n_out, (cfg.batch, cfg.seq), generator=gen, dtype=torch.int64)
    for b, t in cfg.ignored:
        targets[b, t] = -1
    return tokens.to(torch.int32), targets.to(torch.int32)


def run(cfg, P0, tokens, targets, dtype):
    """Forward, backward and cfg.steps AdamW steps from parameters P0, computed in dtype.
    Returns a dict of float32/float64 tensors: logits, loss, grad.<name>, lrs, losses,
    grad_norms, final.<name>. Frozen parameters take no gradient (zeros are reported) and are not
    updated."""
    names = [n for n, _, _ in param_specs(cfg)]
    frozen = set(frozen_names(cfg))
    train = [n for n in names if n not in frozen]
    P = trainable(cfg, P0, dtype)
    out = {}

    logits = forward(P, tokens, cfg)
    loss = loss_fn(logits, targets)
    loss.backward()
    out["logits"] = logits.detach().clone()
    out["loss"] = loss.detach().reshape(1).clone()
    for n in names:
        out["grad." + n] = P[n].grad.detach().clone() if n not in frozen else torch.zeros_like(P[n])

    opt = adamw(cfg, P)
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
