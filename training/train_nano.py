#!/usr/bin/env python3
"""Train the embedded ``nano`` model: a tiny Mistral-architecture causal LM.

The model is trained from scratch on the corpus built by ``training/corpus.py``
(``.cache/corpus/{train,valid}.jsonl``), tokenized with Mistral's v3
SentencePiece tokenizer as shipped in ``mistral-common`` (ids identical to
``MistralTokenizer.v3()``).  Documents are wrapped in BOS/EOS, concatenated and
cut into packed sequences of ``--seq-len`` tokens.

Training stops at whichever budget is reached first: ``--max-minutes`` of wall
clock (cumulative over resumed runs) or ``--max-tokens`` training tokens.  The
cosine learning-rate schedule follows the fraction of the budget used, so it
decays to its floor at the end whichever budget binds.  A checkpoint is written
to ``--ckpt-dir`` periodically and at the end; rerunning the script resumes from
it (``--fresh`` starts over).

At the end the script measures held-out perplexity of the saved bf16 model and
of a unigram baseline (add-one smoothed unigram distribution over the training
tokens, scored on the same held-out tokens), writes the model to
``src/llmlingstral/assets/nano/`` with ``save_pretrained`` (bf16 safetensors)
and the numbers to ``training/results/nano_metrics.json``.

Usage::

    python training/train_nano.py --max-minutes 50
    python training/train_nano.py --max-minutes 1 --out /tmp/nano --ckpt-dir /tmp/nano_ckpt --fresh
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import random
import sys
import time
from pathlib import Path

# OpenMP threads that sleep instead of spinning while waiting: on a small shared
# CPU, spinning workers of two busy processes slow each other down several-fold.
# Must be set before torch is imported; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def tune_malloc() -> None:
    """Keep freed memory in the glibc heap instead of returning it to the OS.

    Each step allocates and frees several large (hundreds of MB) logits buffers;
    with the default settings each one is a fresh mmap and pays its page faults
    again, which roughly doubles the step time on this kind of machine.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_max = -1, -2, -4
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 2**31 - 1)
    libc.mallopt(m_top_pad, 1 << 30)


tune_malloc()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MACHINE = "2-core x86-64 CPU, no GPU"
BOS_ID, EOS_ID = 1, 2


def log(msg: str) -> None:
    tqdm.write(f"[train_nano {time.strftime('%H:%M:%S')}] {msg}", file=sys.stdout)
    sys.stdout.flush()


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def tokenizer_path() -> Path:
    import mistral_common

    p = Path(mistral_common.__file__).parent / "data" / "mistral_instruct_tokenizer_240323.model.v3"
    if not p.exists():
        raise SystemExit(f"Mistral v3 tokenizer model not found at {p}")
    return p


def load_docs(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def tokenize_docs(docs: list[str], sp) -> list[np.ndarray]:
    out = []
    for i in range(0, len(docs), 1024):
        for ids in sp.encode(docs[i : i + 1024]):
            out.append(np.asarray([BOS_ID, *ids, EOS_ID], dtype=np.int32))
    return out


def check_tokenizer_matches(sp, sample: list[str]) -> None:
    """Make sure raw sentencepiece gives the same ids as mistral_common."""
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    raw = MistralTokenizer.v3().instruct_tokenizer.tokenizer
    for text in sample:
        a = raw.encode(text, bos=True, eos=True)
        b = [BOS_ID, *sp.encode(text), EOS_ID]
        if a != b:
            raise SystemExit("sentencepiece and mistral_common tokenizations differ")


def epoch_sequences(docs: list[np.ndarray], seq_len: int, seed: int, epoch: int) -> np.ndarray:
    """Shuffle documents (per-epoch seed), concatenate, cut into packed sequences, shuffle those."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(docs))
    stream = np.concatenate([docs[i] for i in order])
    n = len(stream) // seq_len
    seqs = stream[: n * seq_len].reshape(n, seq_len)
    return seqs[rng.permutation(n)]


def valid_chunks(docs: list[np.ndarray], seq_len: int) -> list[np.ndarray]:
    stream = np.concatenate(docs)
    return [stream[i : i + seq_len] for i in range(0, len(stream), seq_len) if len(stream[i : i + seq_len]) > 1]


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


def build_config(args):
    from transformers import MistralConfig

    return MistralConfig(
        vocab_size=32768,
        hidden_size=args.hidden_size,
        intermediate_size=args.intermediate_size,
        num_hidden_layers=args.layers,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        sliding_window=None,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=None,
        initializer_range=0.02,
        use_cache=True,
    )


def param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    seen = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        # No decay on norms or on the (tied) embedding matrix.
        if p.ndim < 2 or "norm" in name or "embed_tokens" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_at(step: int, progress: float, args) -> float:
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    p = min(max(progress, 0.0), 1.0)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1.0 + math.cos(math.pi * p))


@torch.inference_mode()
def evaluate(model, chunks: list[np.ndarray], batch: int, autocast: bool) -> tuple[float, int]:
    """Mean next-token NLL (nats) over all predicted positions of the held-out chunks."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    by_len: dict[int, list[np.ndarray]] = {}
    for c in chunks:
        by_len.setdefault(len(c), []).append(c)
    for _, group in sorted(by_len.items()):
        for i in range(0, len(group), batch):
            x = torch.from_numpy(np.stack(group[i : i + batch]).astype(np.int64))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(input_ids=x, use_cache=False).logits
            logits = logits[:, :-1].float()
            tgt = x[:, 1:]
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), reduction="sum").item()
            count += tgt.numel()
    if was_training:
        model.train()
    return total / count, count


def unigram_nll(train_docs: list[np.ndarray], chunks: list[np.ndarray], vocab: int) -> float:
    counts = np.zeros(vocab, dtype=np.float64)
    for d in train_docs:
        counts += np.bincount(d, minlength=vocab)
    logp = np.log(counts + 1.0) - np.log(counts.sum() + vocab)
    tgt = np.concatenate([c[1:] for c in chunks])
    return float(-logp[tgt].mean())


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------


def save_ckpt(path: Path, model, opt, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "state": state,
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
        },
        tmp,
    )
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description="Train the nano Mistral-architecture model.")
    ap.add_argument("--corpus", type=Path, default=ROOT / ".cache" / "corpus")
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "llmlingstral" / "assets" / "nano")
    ap.add_argument("--metrics", type=Path, default=ROOT / "training" / "results" / "nano_metrics.json")
    ap.add_argument("--ckpt-dir", type=Path, default=ROOT / ".cache" / "nano_ckpt")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--max-minutes", type=float, default=50.0, help="wall-clock budget (cumulative)")
    ap.add_argument("--max-tokens", type=int, default=20_000_000, help="training-token budget")
    ap.add_argument("--reserve-minutes", type=float, default=1.0,
                    help="part of --max-minutes kept for the final evaluation and saving")
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=8, help="sequences per optimizer step")
    ap.add_argument("--micro-batch", type=int, default=2, help="sequences per forward/backward")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--min-lr", type=float, default=1.5e-4)
    ap.add_argument("--warmup-steps", type=int, default=60)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--intermediate-size", type=int, default=704)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every-minutes", type=float, default=5.0)
    ap.add_argument("--ckpt-every-minutes", type=float, default=5.0)
    ap.add_argument("--no-bf16", action="store_true", help="train in fp32 instead of bf16 autocast")
    ap.add_argument("--max-model-mb", type=float, default=30.0)
    args = ap.parse_args()

    if args.batch_size % args.micro_batch:
        raise SystemExit("--batch-size must be a multiple of --micro-batch")
    autocast = not args.no_bf16
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    import sentencepiece as spm
    from transformers import MistralForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()

    # ---- data ----
    t_data = time.time()
    train_file, valid_file = args.corpus / "train.jsonl", args.corpus / "valid.jsonl"
    if not train_file.exists() or not valid_file.exists():
        raise SystemExit(f"corpus not found in {args.corpus}; run `python training/corpus.py` first")
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_path()))
    if sp.get_piece_size() != 32768:
        raise SystemExit("unexpected tokenizer vocabulary size")
    train_texts, valid_texts = load_docs(train_file), load_docs(valid_file)
    check_tokenizer_matches(sp, train_texts[:: max(1, len(train_texts) // 50)] + valid_texts[:10])
    train_docs = tokenize_docs(train_texts, sp)
    valid_docs = tokenize_docs(valid_texts, sp)
    del train_texts, valid_texts
    n_train_tokens = int(sum(len(d) for d in train_docs))
    vchunks = valid_chunks(valid_docs, args.seq_len)
    log(f"data: {len(train_docs)} train docs / {n_train_tokens:,} tokens (incl. BOS/EOS), "
        f"{len(valid_docs)} valid docs / {sum(len(d) for d in valid_docs):,} tokens "
        f"in {len(vchunks)} chunks [{time.time() - t_data:.1f}s]")

    # ---- model / optimizer ----
    config = build_config(args)
    config.dtype = torch.float32
    model = MistralForCausalLM(config)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    n_emb = model.model.embed_tokens.weight.numel()
    log(f"model: {n_params:,} parameters ({n_emb:,} embedding, tied with the LM head; "
        f"{n_params - n_emb:,} other), {args.layers} layers, hidden {args.hidden_size}")
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.95),
                            eps=1e-8, fused=False)

    state = {"step": 0, "tokens": 0, "elapsed": 0.0, "epoch": 0, "pos": 0, "history": [],
             "last_train_loss": None, "runs": 0}
    ckpt_path = args.ckpt_dir / "last.pt"
    if ckpt_path.exists() and not args.fresh:
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        state = ck["state"]
        torch.set_rng_state(ck["torch_rng"])
        random.setstate(ck["python_rng"])
        log(f"resumed from {ckpt_path}: step {state['step']}, {state['tokens']:,} tokens, "
            f"{state['elapsed'] / 60:.1f} min used")
    state["runs"] = state.get("runs", 0) + 1

    budget_s = args.max_minutes * 60.0
    train_budget_s = max(0.0, budget_s - args.reserve_minutes * 60.0)
    tokens_per_step = args.batch_size * args.seq_len

    seqs = epoch_sequences(train_docs, args.seq_len, args.seed, state["epoch"])
    run_start = time.time()
    elapsed0 = state["elapsed"]

    def elapsed() -> float:
        return elapsed0 + (time.time() - run_start)

    def progress() -> float:
        return max(state["tokens"] / args.max_tokens, elapsed() / train_budget_s if train_budget_s else 1.0)

    last_eval = time.time()
    last_ckpt = time.time()
    ema_loss = None
    bar = tqdm(total=args.max_tokens, initial=state["tokens"], unit="tok", unit_scale=True,
               dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0,
               desc="nano")
    step_t = time.time()
    while state["tokens"] + tokens_per_step <= args.max_tokens and elapsed() < train_budget_s:
        lr = lr_at(state["step"], progress(), args)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss_sum = 0.0
        n_micro = args.batch_size // args.micro_batch
        for _ in range(n_micro):
            if state["pos"] + args.micro_batch > len(seqs):
                state["epoch"] += 1
                state["pos"] = 0
                seqs = epoch_sequences(train_docs, args.seq_len, args.seed, state["epoch"])
                log(f"starting epoch {state['epoch']}")
            x = torch.from_numpy(seqs[state["pos"] : state["pos"] + args.micro_batch].astype(np.int64))
            state["pos"] += args.micro_batch
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                out = model(input_ids=x, labels=x, use_cache=False)
            loss = out.loss / n_micro
            loss.backward()
            loss_sum += loss.item()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip).item()
        opt.step()
        state["step"] += 1
        state["tokens"] += tokens_per_step
        state["last_train_loss"] = loss_sum
        ema_loss = loss_sum if ema_loss is None else 0.95 * ema_loss + 0.05 * loss_sum
        now = time.time()
        tps = tokens_per_step / max(now - step_t, 1e-9)
        step_t = now
        bar.update(tokens_per_step)
        bar.set_postfix(loss=f"{ema_loss:.3f}", lr=f"{lr:.2e}", tok_s=f"{tps:,.0f}",
                        min=f"{elapsed() / 60:.1f}", refresh=False)
        if state["step"] % 25 == 0 or state["step"] <= 3:
            log(f"step {state['step']} tokens {state['tokens']:,} loss {loss_sum:.4f} (ema {ema_loss:.4f}) "
                f"lr {lr:.2e} grad_norm {grad_norm:.3f} {tps:,.0f} tok/s elapsed {elapsed() / 60:.1f} min")
        if not math.isfinite(loss_sum):
            raise SystemExit("loss is not finite; stopping")
        if now - last_eval >= args.eval_every_minutes * 60:
            vl, _ = evaluate(model, vchunks, 4, autocast)
            state["history"].append({"step": state["step"], "tokens": state["tokens"],
                                     "minutes": round(elapsed() / 60, 2), "train_loss_ema": round(ema_loss, 4),
                                     "valid_loss": round(vl, 4), "valid_ppl": round(math.exp(vl), 2)})
            log(f"eval step {state['step']}: held-out loss {vl:.4f}, ppl {math.exp(vl):.2f}")
            last_eval = time.time()
        if now - last_ckpt >= args.ckpt_every_minutes * 60:
            state["elapsed"] = elapsed()
            save_ckpt(ckpt_path, model, opt, state)
            log(f"checkpoint saved ({ckpt_path})")
            last_ckpt = time.time()
    bar.close()
    state["elapsed"] = elapsed()
    train_minutes = state["elapsed"] / 60
    save_ckpt(ckpt_path, model, opt, state)
    log(f"training stopped at step {state['step']}, {state['tokens']:,} tokens, {train_minutes:.1f} min; "
        f"checkpoint saved")

    # ---- final evaluation ----
    vl_train_weights, n_eval = evaluate(model, vchunks, 4, autocast)
    uni = unigram_nll(train_docs, vchunks, config.vocab_size)
    log(f"held-out loss (fp32 weights, {'bf16 autocast' if autocast else 'fp32'}): {vl_train_weights:.4f} "
        f"ppl {math.exp(vl_train_weights):.2f}; unigram ppl {math.exp(uni):.2f} on {n_eval:,} tokens")

    # ---- save bf16 model ----
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
        if (args.out / stale).exists():
            (args.out / stale).unlink()
    model.eval()
    model = model.to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.config.use_cache = True
    model.generation_config.bos_token_id = BOS_ID
    model.generation_config.eos_token_id = EOS_ID
    model.save_pretrained(args.out, safe_serialization=True)
    st_file = args.out / "model.safetensors"
    for f in args.out.iterdir():
        if f.is_file():
            f.chmod(0o644)
    size_mb = st_file.stat().st_size / 1e6
    if size_mb > args.max_model_mb:
        raise SystemExit(f"model.safetensors is {size_mb:.1f} MB > {args.max_model_mb} MB")

    from safetensors import safe_open

    with safe_open(str(st_file), "pt") as f:
        dtypes = {str(f.get_slice(k).get_dtype()) for k in f.keys()}
        n_saved = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
    # Reload exactly as a user would, and score the held-out set with the shipped weights.
    reloaded = MistralForCausalLM.from_pretrained(args.out)
    reloaded.eval()
    vl_saved, _ = evaluate(reloaded, vchunks, 4, autocast=False)
    log(f"saved {st_file} ({size_mb:.2f} MB, dtypes {sorted(dtypes)}, {n_saved:,} stored values); "
        f"reloaded dtype {reloaded.dtype}: held-out loss {vl_saved:.4f} ppl {math.exp(vl_saved):.2f}")

    metrics = {
        "model": "nano",
        "architecture": "MistralForCausalLM",
        "params": n_params,
        "params_embedding": n_emb,
        "params_non_embedding": n_params - n_emb,
        "config": {"hidden_size": config.hidden_size, "intermediate_size": config.intermediate_size,
                   "num_hidden_layers": config.num_hidden_layers,
                   "num_attention_heads": config.num_attention_heads,
                   "num_key_value_heads": config.num_key_value_heads, "vocab_size": config.vocab_size,
                   "max_position_embeddings": config.max_position_embeddings,
                   "tie_word_embeddings": True},
        "tokenizer": "Mistral v3 SentencePiece (mistral_common mistral_instruct_tokenizer_240323.model.v3)",
        "train_corpus_tokens": n_train_tokens,
        "valid_tokens_scored": n_eval,
        "tokens_seen": state["tokens"],
        "epochs_over_corpus": round(state["tokens"] / n_train_tokens, 3),
        "steps": state["step"],
        "seq_len": args.seq_len,
        "batch_sequences": args.batch_size,
        "tokens_per_step": tokens_per_step,
        "optimizer": {"name": "AdamW", "lr_peak": args.lr, "lr_min": args.min_lr,
                      "warmup_steps": args.warmup_steps, "schedule": "cosine over the budget fraction used",
                      "betas": [0.9, 0.95], "weight_decay": args.weight_decay, "grad_clip": args.grad_clip},
        "precision": "bf16 autocast, fp32 master weights" if autocast else "fp32",
        "seed": args.seed,
        "wall_time_minutes": round(train_minutes, 2),
        "runs": state["runs"],
        "max_minutes": args.max_minutes,
        "max_tokens": args.max_tokens,
        "train_loss_last_step": round(state["last_train_loss"], 4) if state["last_train_loss"] is not None else None,
        "train_loss_ema": round(ema_loss, 4) if ema_loss is not None else None,
        "heldout_loss": round(vl_saved, 4),
        "heldout_ppl": round(math.exp(vl_saved), 2),
        "heldout_ppl_fp32_weights": round(math.exp(vl_train_weights), 2),
        "unigram_heldout_loss": round(uni, 4),
        "unigram_ppl": round(math.exp(uni), 2),
        "eval_history": state["history"],
        "saved_dtype": sorted(dtypes),
        "safetensors_mb": round(size_mb, 2),
        "machine": MACHINE,
        "torch": torch.__version__,
    }
    import transformers

    metrics["transformers"] = transformers.__version__
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2) + "\n")
    log(f"metrics written to {args.metrics}")
    if not vl_saved < uni:
        log("WARNING: held-out perplexity is not below the unigram baseline")


if __name__ == "__main__":
    main()
