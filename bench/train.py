"""Training benchmarks on the demo model and the sample pairs, each against a baseline in the same run.

    .venv/bin/python bench/train.py            # a few minutes on 2 cores
    .venv/bin/python bench/train.py --steps 10

Claims (from the training issue):
  throughput — Nastavnik's pipeline (our rendering + answer-only masks, our callbacks) trains
               at ≥ 0.95× the tokens/s of a bare TRL SFTTrainer on the same model, data,
               LoRA settings and batch.
  packing    — packing (padding-free, best-fit) vs padded batches on short Russian pairs:
               goal ≥ 1.5× real tokens/s, with the same loss (the base model's loss on the
               same examples, packed vs padded, must agree: no attention across examples).
  tokenizer  — characters per token of the demo tokenizer on the sample data (reported).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def demo_model() -> Path:
    from core.train.demo_model import build_demo_model

    cached = sorted((REPO / ".cache" / "test-demo-model").glob("*/model.safetensors"))
    if cached:
        return cached[-1].parent
    out = REPO / "bench" / "out" / "demo"
    if not (out / "model.safetensors").exists():
        print("building the demo model for the benchmark…", flush=True)
        build_demo_model(out, steps=150)
    return out


def sample_pairs() -> list[list[dict]]:
    rows = []
    for line in (REPO / "datasets" / "sample_ru.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("split", "train") == "train":
            rows.append(rec["messages"])
    return rows


def lora():
    from peft import LoraConfig

    return LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM")


def fresh_model(path: Path, *, packing: bool = False):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from core.train.pipeline import without_kv_cache

    torch.manual_seed(0)
    extra = {}
    if packing:  # the attention the pipeline picks for packed rows (hf backend)
        from core.train.backends.hf import packed_attention

        extra["attn_implementation"] = packed_attention()
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, **extra)
    without_kv_cache(model)  # as the pipeline does: packed rows get block-diagonal masks
    return get_peft_model(model, lora())


def device_args() -> dict:
    """Precision and checkpointing as the pipeline sets them on this machine (hf backend)."""
    from core.train.backends import get_backend
    from core.train.config import TrainConfig

    return get_backend("hf").trainer_args(TrainConfig.from_preset("demo"))


def sft_args(out: Path, steps: int, batch: int, *, trl_defaults: bool = False, **kw):
    from trl import SFTConfig

    device = {"use_cpu": True} if trl_defaults else device_args()
    return SFTConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch, learning_rate=2e-3, logging_steps=1,
        save_strategy="no", report_to="none", disable_tqdm=True, seed=0, max_length=512,
        dataloader_num_workers=0, **device, **kw,
    )


def timed_train(trainer) -> tuple[float, float]:
    """(seconds of the training loop, final loss), excluding the first step (warm-up)."""
    from transformers import TrainerCallback

    marks = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 1:
                marks["t1"] = time.perf_counter()

    trainer.add_callback(Clock())
    trainer.train()
    seconds = time.perf_counter() - marks["t1"]
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return seconds, sum(losses[-3:]) / len(losses[-3:])


def bench_throughput(model_path: Path, convs, steps: int, batch: int, tmp: Path) -> float:
    from datasets import Dataset
    from trl import SFTTrainer

    from core.dataset import Example, encode_all, to_hf_dataset
    from core.train import pipeline
    from core.train.config import TrainConfig
    from core.train.demo_model import load_tokenizer
    from core.train.templates import get_template

    tok = load_tokenizer(model_path)
    # each step sees the same examples in both runs: real tokens per step are equal, so time decides
    n = steps * batch
    convs = (convs * (n // len(convs) + 1))[:n]

    # baseline: bare TRL with prompt–completion data (TRL tokenizes and masks the prompt itself)
    rows = {"prompt": [c[:-1] for c in convs], "completion": [c[-1:] for c in convs]}
    base_ds = Dataset.from_dict(rows)
    bare = SFTTrainer(model=fresh_model(model_path), args=sft_args(tmp / "bare", steps, batch), train_dataset=base_ds, processing_class=tok)
    bare_s, bare_loss = timed_train(bare)
    # for the record: bare TRL with its own defaults on a CPU (bf16 autocast, gradient checkpointing)
    slow = SFTTrainer(model=fresh_model(model_path), args=sft_args(tmp / "slow", min(steps, 6), batch, trl_defaults=True),
                      train_dataset=base_ds, processing_class=tok)
    slow_s, _ = timed_train(slow)

    # ours: the pipeline's steps (our template rendering, answer-only masks, metrics callback)
    from core.train.backends import get_backend

    cfg = TrainConfig.from_preset("demo", max_steps=steps, batch_size=batch, grad_accum=1, max_seq_len=512, lr=2e-3,
                                  logging_steps=1, save_steps=10_000)
    enc = encode_all(tok, get_template("gemma").jinja, [Example(None, c) for c in convs], max_len=512)
    ours_ds = to_hf_dataset(enc)
    sink_rows = []
    ours = SFTTrainer(
        model=fresh_model(model_path), args=pipeline.sft_config(cfg, get_backend("hf"), pipeline.RunPaths(tmp / "ours"), has_eval=False),
        train_dataset=ours_ds, processing_class=tok, callbacks=[pipeline.metrics_callback(sink_rows.append)],
    )
    ours_s, ours_loss = timed_train(ours)
    tokens = sum(len(e.input_ids) for e in enc[batch:])  # the timed steps (all but the first)
    print(f"throughput: bare TRL {tokens / bare_s:.0f} tok/s ({bare_s:.1f} s, loss {bare_loss:.3f}); "
          f"nastavnik {tokens / ours_s:.0f} tok/s ({ours_s:.1f} s, loss {ours_loss:.3f}); both fp32 without checkpointing, "
          f"as the pipeline runs on a CPU", flush=True)
    slow_tokens = sum(len(e.input_ids) for e in enc[batch:batch * min(steps, 6)])
    print(f"throughput: bare TRL with its CPU defaults (bf16 autocast, gradient checkpointing) {slow_tokens / slow_s:.0f} tok/s "
          f"— {tokens / ours_s / (slow_tokens / slow_s):.1f}× slower than the pipeline's settings", flush=True)
    return bare_s / ours_s


def loss_on(model, batch: dict) -> float:
    import torch

    with torch.no_grad():
        return float(model(**{k: v for k, v in batch.items() if k in ("input_ids", "labels", "attention_mask", "position_ids", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")}).loss)


def bench_packing(model_path: Path, convs, epochs_steps: int, tmp: Path) -> tuple[float, float, float]:
    from trl import SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from core.dataset import Example, encode_all, to_hf_dataset
    from core.train.demo_model import load_tokenizer
    from core.train.templates import get_template

    tok = load_tokenizer(model_path)
    enc = encode_all(tok, get_template("gemma").jinja, [Example(None, c) for c in convs], max_len=512)
    ds = to_hf_dataset(enc)
    real_tokens = sum(len(e.input_ids) for e in enc)

    # same examples, same model: padded vs packed loss must agree (masks keep examples apart)
    model = fresh_model(model_path)
    packed_model = fresh_model(model_path, packing=True)
    model.eval()
    packed_model.eval()
    few = [{"input_ids": e.input_ids, "labels": e.labels} for e in enc[:8]]
    padded = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)(few)
    packed = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id, padding_free=True)(few)
    l_pad, l_pack = loss_on(model, padded), loss_on(packed_model, packed)
    # the padded loss averages over all answer tokens of the batch too, so the two are comparable
    print(f"packing: loss of the same 8 examples padded {l_pad:.5f}, packed {l_pack:.5f}", flush=True)

    results = {}
    for name, kw, batch in (("padded", {}, 8), ("packed", {"packing": True, "packing_strategy": "bfd", "max_length": 512}, 2)):
        args = sft_args(tmp / name, -1, batch, num_train_epochs=3, **{k: v for k, v in kw.items() if k != "max_length"})
        trainer = SFTTrainer(model=fresh_model(model_path, packing=name == "packed"), args=args, train_dataset=ds, processing_class=tok)
        seconds, loss = timed_train(trainer)
        steps = trainer.state.global_step
        tokens = real_tokens * args.num_train_epochs * (steps - 1) / steps
        results[name] = (tokens / seconds, loss, steps)
        print(f"packing: {name} {tokens / seconds:.0f} real tok/s over {steps} steps, final loss {loss:.3f}", flush=True)
    # how much of a padded batch is padding: packing can win about 1 / (1 - that), plus fewer steps
    import random

    lengths = [len(e.input_ids) for e in enc]
    rnd, real, total = random.Random(0), 0, 0
    for _ in range(200):
        order = lengths[:]
        rnd.shuffle(order)
        for i in range(0, len(order), 8):
            batch = order[i:i + 8]
            real, total = real + sum(batch), total + len(batch) * max(batch)
    waste = 1 - real / total
    print(f"packing: padded batches of 8 are {waste:.0%} padding on this data (lengths {min(lengths)}–{max(lengths)} tokens, "
          f"median {sorted(lengths)[len(lengths) // 2]}): removing it alone gives at most {1 / (1 - waste):.2f}×", flush=True)
    return results["packed"][0] / results["padded"][0], l_pad, l_pack


def chars_per_token(model_path: Path, convs) -> float:
    from core.train.demo_model import load_tokenizer

    tok = load_tokenizer(model_path)
    texts = [m["content"] for c in convs for m in c]
    chars = sum(len(t) for t in texts)
    tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return chars / tokens


def main() -> None:
    import tempfile

    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model_path = demo_model()
    convs = sample_pairs()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cpt = chars_per_token(model_path, convs)
        print(f"tokenizer: {cpt:.2f} characters per token on {len(convs)} sample pairs (demo tokenizer)", flush=True)
        pack_ratio, l_pad, l_pack = bench_packing(model_path, convs, args.steps, tmp)
        same = abs(l_pad - l_pack) <= 1e-3 * max(1.0, abs(l_pad))
        print(f"packing: ratio={pack_ratio:.2f} goal=1.5 loss_unchanged={'yes' if same else 'NO'}", flush=True)
        ratio = bench_throughput(model_path, convs, args.steps, args.batch, tmp)
    print(f"chars_per_token: {cpt:.2f}")
    print(f"packing: ratio={pack_ratio:.2f} goal=1.5 loss_unchanged={'yes' if same else 'no'}")
    print(f"throughput: ratio={ratio:.2f} goal=0.95")


if __name__ == "__main__":
    main()
