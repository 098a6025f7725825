#!/usr/bin/python3
"""PyTorch peer of `lrpe bench`: trains the lrpe transformer in PyTorch on the CPU (or an NVIDIA GPU
with --device cuda) and prints its training throughput and peak memory, for bench/peer.sh
(`make bench-peer`) and scripts/gpu-check.sh to set beside lrpe's.

The model is tests/golden/lrpe_torch.py's (the one the golden fixtures are made with) on its fast
path: the same widths, FFN and head count as lrpe, float32, no dropout; softmax attention as
q k^T / sqrt(hd) + causal mask + softmax + @ v, causal linear attention chunked like lrpe's kernel
(chunks of 64 where lrpe's CPU kernel takes 32: PyTorch ran no faster at 32; a running k^T v
state), 1+elu features and the LayerNorm normaliser; encodings none, rope and lrpe-unitary (fixed
Householder P and fixed theta; q and k become 2 hd wide). A step is what lrpe's is: forward, mean
cross-entropy of a causal byte LM (vocab 256) on random tokens, backward, global gradient-norm
clipping at 1.0 and an AdamW step (weights and embeddings decayed).

    /usr/bin/python3 bench/torch_peer.py --d-model 256 --layers 4 --heads 4 --seq-len 256 \\
        --batch 16 --attention linear --encoding rope --steps 20 --warmup 3 --threads 2
    /usr/bin/python3 bench/torch_peer.py --selfcheck     # fast path == golden path, then exit
    python3 bench/torch_peer.py --device cuda --d-model 512 --layers 6 --heads 8 --seq-len 1024 --batch 32

--device cuda (PyTorch 2 with CUDA): the same model, initial weights and batches (drawn on the CPU and
copied over), float32 with TF32 off for matrix products and cuDNN, the device synchronised before each
step's clock starts and before it stops; peak_dev_mb is torch.cuda.max_memory_allocated over the model's
creation and every step (peak_dev_reserved_mb: the caching allocator's max_memory_reserved; neither
counts the CUDA context). --softmax-kernel sdpa computes softmax attention with
F.scaled_dot_product_attention (PyTorch 2.1 or later; same function, fused kernels, no T x T scores
kept) instead of the default matmul + mask + softmax composition.

Output: one tab-separated header line and one data line (see COLUMNS). tokens_per_s is batch *
seq_len over the median step time (min and max from the slowest and fastest step); peak_rss_mb is
the process's peak resident set (ru_maxrss), PyTorch's own runtime included (base_rss_mb: the peak
after importing torch, before the model exists). Threads: torch.set_num_threads(--threads), one
inter-op thread; PyTorch's BLAS (the system's libblas.so.3 alternative) follows
OPENBLAS_NUM_THREADS, which bench/peer.sh sets to the same count; the blas column names it (on
CUDA: cublas, and blas_core the GPU's name).
"""

import argparse
import contextlib
import ctypes
import math
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
import lrpe_torch as lt  # noqa: E402

COLUMNS = ["impl", "attention", "encoding", "d_model", "layers", "heads", "seq_len", "batch", "steps",
           "tokens_per_s", "tokens_per_s_min", "tokens_per_s_max", "step_ms", "peak_rss_mb", "base_rss_mb",
           "loss", "threads", "torch_version", "blas", "blas_core",
           "device", "peak_dev_mb", "peak_dev_reserved_mb", "softmax_kernel"]


def peak_rss_mb():
    """Peak resident set size of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def blas_info():
    """(library, core) of the OpenBLAS PyTorch loaded: the folder of the mapped libblas.so.3 (as
    openblas-pthread / openblas-openmp) and OpenBLAS's core name; "?" where unknown."""
    lib, core = "?", "?"
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libblas.so" in line or "libopenblas" in line}
        dirs = sorted({os.path.basename(os.path.dirname(p)) for p in paths})
        lib = "+".join(dirs) or "?"
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_corename.restype = ctypes.c_char_p
        core = ob.openblas_get_corename().decode()
    except (OSError, AttributeError):
        pass
    return lib, core


def fp32_exact():
    """Float32 matrix products and cuDNN without TF32 (PyTorch 2.9 and later spell it fp32_precision
    = "ieee" and deprecate allow_tf32; earlier versions only have allow_tf32)."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.fp32_precision = "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def attention_sdpa(q, k, v, cfg, encode=None, extra=None):
    """lrpe_torch.attention_softmax through F.scaled_dot_product_attention: the relative encoding on q
    and k first, scale 1/sqrt(hd) of the unencoded width, causal when cfg.causal (no score bias or
    key padding: the benchmark's models have neither)."""
    if extra and (extra["bias"] is not None or extra["valid"] is not None):
        return lt.attention_softmax(q, k, v, cfg, encode, extra)
    scale = 1.0 / math.sqrt(q.shape[-1])
    if encode:
        q, k = encode(q), encode(k)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=bool(cfg.causal), scale=scale)


def model_config(args):
    """The benchmark's Config: lrpe's model at the given sizes, small initial weights, lrpe's
    AdamW defaults (weight decay 0.01) at a constant learning rate."""
    return lt.Config(variant="peer", attention=args.attention, feature_map="1+elu", normalizer="layernorm",
                     encoding=args.encoding, seed=args.seed, vocab=256, n_out=256, batch=args.batch,
                     seq=args.seq_len, layers=args.layers, d_model=args.d_model, heads=args.heads,
                     ffn_mult=args.ffn_mult, causal=1, w_std=0.02, b_std=0.0, ln_std=0.0,
                     lr=3e-4, weight_decay=0.01, max_grad_norm=1.0)


def bench(args):
    """Runs args.warmup + args.steps training steps; returns the result row as a dict."""
    base_rss = peak_rss_mb()
    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    cfg = model_config(args)
    gen = torch.Generator().manual_seed(cfg.seed)
    P = lt.trainable(cfg, lt.init_params(cfg, gen))  # on the CPU: the same initial weights everywhere
    if cuda:
        P = {n: t.detach().to("cuda").requires_grad_(t.requires_grad) for n, t in P.items()}
    # the model's own tables (masks, angles) are made inside forward: on the GPU there (only there: AdamW
    # keeps its step counts on the CPU unless capturable)
    on_device = (lambda: torch.device("cuda")) if cuda else contextlib.nullcontext
    train = [t for t in P.values() if t.requires_grad]
    opt = lt.adamw(cfg, P)
    times, loss = [], float("nan")
    for step in range(args.warmup + args.steps):
        seq = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq + 1), generator=gen, device="cpu")
        if cuda:
            seq = seq.to("cuda")
        tokens, targets = seq[:, :-1], seq[:, 1:]
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with on_device():
            loss_t = lt.loss_fn(lt.forward(P, tokens, cfg, fast=True), targets)
        loss_t.backward()
        torch.nn.utils.clip_grad_norm_(train, cfg.max_grad_norm)
        opt.step()
        sync()
        dt = time.perf_counter() - t0
        loss = loss_t.item()
        if step >= args.warmup:
            times.append(dt)
    tokens_per_step = cfg.batch * cfg.seq
    med = statistics.median(times)
    if cuda:
        lib, core = "cublas", torch.cuda.get_device_name()
        peak_dev = f"{torch.cuda.max_memory_allocated() / 1048576:.1f}"
        peak_res = f"{torch.cuda.max_memory_reserved() / 1048576:.1f}"
    else:
        (lib, core), peak_dev, peak_res = blas_info(), "NA", "NA"
    return {"impl": "torch", "attention": cfg.attention, "encoding": cfg.encoding, "d_model": cfg.d_model,
            "layers": cfg.layers, "heads": cfg.heads, "seq_len": cfg.seq, "batch": cfg.batch,
            "steps": args.steps, "tokens_per_s": f"{tokens_per_step / med:.1f}",
            "tokens_per_s_min": f"{tokens_per_step / max(times):.1f}",
            "tokens_per_s_max": f"{tokens_per_step / min(times):.1f}", "step_ms": f"{med * 1e3:.2f}",
            "peak_rss_mb": f"{peak_rss_mb():.1f}", "base_rss_mb": f"{base_rss:.1f}", "loss": f"{loss:.4f}",
            "threads": torch.get_num_threads(), "torch_version": torch.__version__, "blas": lib,
            "blas_core": core, "device": args.device, "peak_dev_mb": peak_dev, "peak_dev_reserved_mb": peak_res,
            "softmax_kernel": args.softmax_kernel}


def run_selfcheck():
    """Compares the fast path with the golden one (logits, loss, every gradient) for each attention
    x encoding, learned lrpe-unitary parameters and the denominator normaliser, on a small model whose
    T (150) is not a multiple of the chunk; returns an exit code."""
    learned = (("theta", "learned"), ("householder", "learned"))
    cases = [(a, e, "layernorm", ()) for a in ("linear", "softmax") for e in ("none", "rope", "lrpe-unitary")]
    cases += [("linear", "lrpe-unitary", "layernorm", learned), ("linear", "rope", "denominator", ())]
    worst = 0.0
    for attention, encoding, normalizer, pe_opt in cases:
        cfg = lt.Config(variant="selfcheck", attention=attention, encoding=encoding, normalizer=normalizer,
                        pe_opt=pe_opt, vocab=256, n_out=256, batch=2, seq=150, layers=2, d_model=32, heads=4)
        gen = torch.Generator().manual_seed(7)
        seq = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq + 1), generator=gen)
        err, scale = lt.selfcheck(cfg, seq[:, :-1], seq[:, 1:])
        worst = max(worst, err)
        what = f"{attention} {encoding}" + (f" {normalizer}" if attention == "linear" else "")
        what += "".join(f" {k}={v}" for k, v in pe_opt)
        print(f"selfcheck {what:62s} max |fast - golden| {err:.2e} (largest value {scale:.2e})")
    ok = worst <= 1e-5
    print(f"selfcheck: {'ok' if ok else 'FAILED'} (worst {worst:.2e}, limit 1e-5)")
    return 0 if ok else 1


def main():
    """Parses the command line, sets the threads, runs the self-check or the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn-mult", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--attention", choices=("linear", "softmax"), default="linear")
    ap.add_argument("--encoding", choices=("none", "rope", "lrpe-unitary"), default="none")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where the model trains (cuda: float32, TF32 off, synchronised timing, peak_dev_mb)")
    ap.add_argument("--softmax-kernel", choices=("matmul", "sdpa"), default="matmul",
                    help="softmax attention as matmul + mask + softmax (default) or scaled_dot_product_attention")
    ap.add_argument("--selfcheck", action="store_true", help="check the fast path against the golden one and exit")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.threads < 1 or args.d_model % args.heads:
        ap.error("need steps >= 1, warmup >= 0, threads >= 1 and heads dividing d_model")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    if args.softmax_kernel == "sdpa":
        if not hasattr(torch.nn.functional, "scaled_dot_product_attention") or torch.__version__ < "2.1":
            sys.exit(f"torch_peer: --softmax-kernel sdpa needs PyTorch 2.1 or later (this is {torch.__version__})")
        lt.ATTENTION_FAST["softmax"] = attention_sdpa
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit(f"torch_peer: --device cuda: PyTorch {torch.__version__} sees no CUDA GPU "
                     f"(built with CUDA {torch.version.cuda or 'none'})")
        fp32_exact()
    if args.selfcheck:
        sys.exit(run_selfcheck())
    row = bench(args)
    print("\t".join(COLUMNS))
    print("\t".join(str(row[c]) for c in COLUMNS))


if __name__ == "__main__":
    main()
