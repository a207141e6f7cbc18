"""Training benchmarks, each against a baseline or a limit measured in the same run.

    .venv/bin/python bench/train.py            # full sizes (about 8 minutes on 2 cores, 2026-12-02, and 5 for demo)
    .venv/bin/python bench/train.py --quick    # smaller sizes, the same code (under 2 minutes on a quiet machine)
    .venv/bin/python bench/train.py --smoke    # seconds of training: only that it runs
    .venv/bin/python bench/train.py --only throughput,packing
    .venv/bin/python bench/train.py --only demo     # the default demo run, start to end (about 5 minutes)

Claims, one ``name: ratio=… goal=…`` line each:
  throughput        the training worker exactly as ``nastavnik train`` starts it (a detached
                    ``core.train.worker`` process: our rendering and answer-only masks, metrics
                    and heartbeat written to the store) vs a bare TRL ``SFTTrainer`` in this
                    process (TRL tokenizes the prompt–completion rows and masks the prompt
                    itself), on the demo model, the same examples in the same order (the
                    worker's own dataset snapshot, the same seed and sampler), the same LoRA
                    and optimizer settings and device settings (fp32, no gradient
                    checkpointing on a CPU). Tokens are the trainer's own count
                    (``num_input_tokens_seen``; the worker's from its checkpoint); each step
                    after the first is timed from the previous step's end to its own (the
                    worker's from the step times it wrote to the store), by the faster of two
                    runs of each side (both train the same batches, so step k is the same
                    work in every run; a spike of load in one run does not count).
                    ratio = ours tokens/s ÷ bare tokens/s, goal ≥ 0.95.
                    The first step's loss and token count must be equal on both sides (the
                    same batch through the same base): printed, and a warning if not.
  packing-sample    padded batches vs packed (padding-free, the attention ``--packing`` uses:
  packing-longtail  ``core.train.varlen``) at the SAME examples per step — the same batches of
                    B examples, so the optimizer takes the same steps; the first step's loss
                    must agree (the same computation on the same weights; later steps start
                    from weights a rounding apart, and the drift is printed). Two runs a side,
                    each step timed by the faster. The bound is what removing padding allows on that data: the
                    FLOPs of the padded batches (every row as long as the longest, attention
                    quadratic in it) ÷ the FLOPs of the examples alone. ratio = measured
                    speed-up ÷ that bound, goal ≥ 0.9. On the sample pairs (demo model) and on
                    a long-tail set (lengths 20–1500 tokens: hand-written pairs with a few long
                    answers) on a random-initialised Llama replica with 2048 positions.
  demo-run          the demo as a new user meets it: ``nastavnik demo`` (sample pairs, demo base)
                    then ``nastavnik train --preset demo`` with its defaults, in a fresh
                    workspace, timed start to end (the command returns when the run is done)
                    ÷ the 3 minutes docs/demo.md promises; goal ≤ 1. Then ``export`` and
                    ``eval --split train`` print what it learnt (chrF of the tuned model and of
                    the base; tests/e2e/test_demo_learns.py holds those to ≥ 85 and < 10).
                    --quick and --smoke train a few steps only: their ratio says nothing.
  mfu               CPU model FLOP utilisation of the worker (``nastavnik train``) on a
                    Llama-shaped replica with ~100M non-embedding parameters (the demo model
                    is too small: its steps are overhead): the FLOPs a LoRA step does per token
                    (forward and activation gradients through the frozen weights ≈ 4·N, the
                    adapters 6 per weight, the LM head, attention; embeddings excluded) ×
                    tokens/s ÷ the matmul FLOP/s measured on this CPU in this run, in the same
                    dtype (fp32) with the same threads. Goal ≥ 0.3.

Also printed: characters per token of the demo tokenizer on the sample data; in the full run,
bare TRL with its own CPU defaults (bf16 autocast, gradient checkpointing) for the record.

A bare-TRL baseline on a CPU needs ``core.train.fused_head.route_other_devices()``: TRL 1.15
computes the SFT loss with a Triton-only fused LM head, which fails off CUDA; the pipeline
routes it to the same sums in PyTorch, and so does the baseline here (the same code path).
Replicas are built locally (``benchlib.build_replica``); nothing comes from a hub.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import benchlib
from benchlib import REPO, claim, pick, say

SEED = 0


def sample_conversations(split: str = "train") -> list[list[dict]]:
    rows = []
    for line in (REPO / "datasets" / "sample_ru.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("split", "train") == split:
            rows.append(rec["messages"])
    return rows


def demo_config():
    from core.train.config import TrainConfig

    return TrainConfig.from_preset("demo")


def device():
    """This process's training device, as the pipeline picks it."""
    from core.train import device as devices

    return devices.current()


def hf_trainer_args(cfg) -> dict:
    """The SFTConfig device settings the pipeline's hf backend uses here (fp32, no gradient
    checkpointing on a CPU)."""
    from core.train.backends import get_backend

    return get_backend("hf").trainer_args(cfg, device())


# ---------------------------------------------------------------------------- the worker, as the CLI starts it


def nastavnik(home: Path, *args: str) -> str:
    """``nastavnik --home HOME ARGS…`` in a child process; its stdout."""
    code = "import sys; from tui.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    out = subprocess.run([sys.executable, "-c", code, "--home", str(home), *args], capture_output=True, text=True, cwd=REPO, env=env)
    if out.returncode != 0:
        raise SystemExit(f"nastavnik {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return out.stdout


def workspace_with_sample(home: Path):
    from core.train.demo import import_sample
    from core.workspace import Workspace

    ws = Workspace.open(home)
    with ws.store() as store:
        import_sample(store)
    return ws


def worker_run(ws, base: Path, *, steps: int, batch: int, max_len: int) -> dict:
    """Start ``nastavnik train`` (detached, as a user would), wait for it, and read what it
    recorded: per-step times from the store, per-step token counts from its checkpoint."""
    from core.train.runs import wait

    run = json.loads(nastavnik(ws.home, "train", "--base", str(base), "--preset", "demo", "--steps", str(steps),
                               "--batch-size", str(batch), "--grad-accum", "1", "--max-seq-len", str(max_len),
                               "--save-steps", str(steps), "--seed", str(SEED), "--json"))
    done = wait(ws, run["id"], timeout=7200, poll=0.5)
    if done.status != "done":
        raise SystemExit(f"the training worker ended {done.status}: {done.error}; see {done.run_dir}/train.log")
    with ws.store() as store:
        metrics = [m for m in store.run_metrics(done.id) if m.loss is not None]
    state = json.loads((Path(done.run_dir) / "checkpoints" / f"checkpoint-{steps}" / "trainer_state.json").read_text())
    seen = {h["step"]: h["num_input_tokens_seen"] for h in state["log_history"] if "loss" in h}
    times = {m.step: datetime.fromisoformat(m.time).timestamp() for m in metrics}
    losses = {m.step: m.loss for m in metrics}
    return {"times": times, "seen": seen, "losses": losses, "run_dir": Path(done.run_dir), "pid": done.pid}


def step_times(res: dict) -> dict[int, float]:
    """Seconds of each step after the first (the step's end minus the previous step's end)."""
    t = res["times"]
    return {k: t[k] - t[k - 1] for k in sorted(t) if k - 1 in t}


def best_steps(runs: list[dict]) -> tuple[float, int, float]:
    """(tokens/s, tokens, seconds) over every step after the first, each step timed by the
    fastest of ``runs`` at it: the runs train the same batches in the same order, so step k costs
    the same work in each, and a spike of the machine's load in one run does not count."""
    times = [step_times(r) for r in runs]
    seen = runs[0]["seen"]
    steps = sorted(set.intersection(*(set(t) for t in times)))
    seconds = sum(min(t[k] for t in times) for k in steps)
    tokens = sum(seen[k] - seen[k - 1] for k in steps)
    return tokens / seconds, tokens, seconds


def rate(res: dict) -> tuple[float, int, float]:
    """(tokens/s, tokens, seconds) from the first logged step to the last."""
    first, last = min(res["times"]), max(res["times"])
    tokens = res["seen"][last] - res["seen"][first]
    seconds = res["times"][last] - res["times"][first]
    return tokens / seconds, tokens, seconds


# ---------------------------------------------------------------------------- bare TRL


def bare_trl(base: Path, convs: list[list[dict]], out: Path, *, steps: int, batch: int, max_len: int, trl_defaults: bool = False) -> dict:
    """TRL's SFTTrainer with prompt–completion rows, configured like the worker's run."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from core.train.fused_head import route_other_devices

    route_other_devices()  # TRL 1.15's loss kernel is Triton-only: a CPU run fails without this
    cfg = demo_config()
    tok = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    model.config.use_cache = False  # training reuses no keys and values
    from core.train.modules import split_targets

    lora_names, full = split_targets(cfg.targets)  # as the pipeline: embeddings/head trained in full
    model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                             target_modules=lora_names, modules_to_save=full or None, bias="none",
                                             task_type="CAUSAL_LM"))
    data = Dataset.from_dict({"prompt": [c[:-1] for c in convs], "completion": [c[-1:] for c in convs]})
    settings = {"use_cpu": True} if trl_defaults else hf_trainer_args(cfg)
    args = SFTConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch, gradient_accumulation_steps=1,
        learning_rate=cfg.lr, lr_scheduler_type="linear", warmup_steps=float(cfg.warmup_ratio), weight_decay=cfg.weight_decay,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",  # the preset's batches
        seed=SEED, data_seed=SEED, max_length=max_len, logging_steps=1, save_strategy="no", report_to="none",
        disable_tqdm=True, include_num_input_tokens_seen=True, dataloader_num_workers=0, **settings,
    )
    times: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                times[state.global_step] = time.perf_counter()

    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, callbacks=[Clock()])
    quiet(trainer)
    trainer.train()
    hist = [h for h in trainer.state.log_history if "loss" in h]
    return {"times": times, "seen": {h["step"]: h["num_input_tokens_seen"] for h in hist},
            "losses": {h["step"]: h["loss"] for h in hist}}


def quiet(trainer) -> None:
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # no dict per step on the bench's output


def bench_throughput(mode: str, tmp: Path) -> list[str]:
    steps, batch = pick(mode, 150, 40, 4), 4
    from core.train.dataset import Snapshot

    demo = benchlib.demo_model_dir()
    ws = workspace_with_sample(tmp / "home-throughput")
    # worker, bare, bare, worker, each step timed by the faster run of each side (drift in the
    # machine's load hits both sides alike)
    order = ["ours", "bare", "bare", "ours"] if mode != "smoke" else ["ours", "bare"]
    runs: dict[str, list[dict]] = {"ours": [], "bare": []}
    convs = None
    for n, who in enumerate(order):
        if who == "ours":
            runs["ours"].append(worker_run(ws, demo, steps=steps, batch=batch, max_len=512))
            wait_for_exit(runs["ours"][-1]["pid"])  # the run is done before its process has exited
            if convs is None:  # the worker's own examples, in its order
                convs = [ex.messages for ex in Snapshot.read(runs["ours"][-1]["run_dir"] / "dataset.jsonl").train]
        else:
            runs["bare"].append(bare_trl(demo, convs, tmp / f"bare-{n}", steps=steps, batch=batch, max_len=512))
    ours, bare = runs["ours"][0], runs["bare"][0]
    o_rate, o_tok, o_s = best_steps(runs["ours"])
    b_rate, b_tok, b_s = best_steps(runs["bare"])
    o_dt, b_dt = step_times(ours), step_times(bare)
    per_step = sorted(b_dt[k] / o_dt[k] for k in o_dt if k in b_dt and o_dt[k] > 0)
    # the same batches: the trainers' token counts agree at every step (the same examples, in the
    # same order, tokenized to the same ids). The losses differ a little by design: TRL also
    # trains the newline after the end-of-turn marker, the pipeline does not.
    same = ours["seen"] == bare["seen"]
    say(f"throughput: worker (nastavnik train) {o_rate:.0f} tok/s ({o_tok} tokens in {o_s:.2f} s, steps 1→{max(ours['times'])}); "
        f"bare TRL {b_rate:.0f} tok/s ({b_tok} tokens in {b_s:.2f} s); tokens per step "
        f"{'equal at every step' if same else 'DIFFER'}; first-step loss {ours['losses'][1]:.4f} vs {bare['losses'][1]:.4f} "
        "(TRL also trains the newline after <end_of_turn>); each step timed by the fastest of "
        f"{len(runs['ours'])} and {len(runs['bare'])} runs; per-step ratio (first runs) median {benchlib.median(per_step):.3f}, "
        f"quartiles {benchlib.pct(per_step, 0.25):.3f}–{benchlib.pct(per_step, 0.75):.3f}")
    if not same:
        say("WARNING: the worker and bare TRL did not see the same batches: " + str({k: (ours['seen'].get(k), bare['seen'].get(k))
                                                                                    for k in sorted(set(ours['seen']) | set(bare['seen']))[:5]}))
    if mode == "full":  # for the record: what TRL's own CPU defaults cost
        slow = bare_trl(demo, convs, tmp / "slow", steps=6, batch=batch, max_len=512, trl_defaults=True)
        s_rate, _, _ = rate(slow)
        say(f"throughput: bare TRL with its own CPU defaults (bf16 autocast, gradient checkpointing) {s_rate:.0f} tok/s, "
            f"{o_rate / s_rate:.1f}× slower than the worker's settings")
    return [claim("throughput", o_rate / b_rate, ">=0.95", f"{o_rate:.0f} vs {b_rate:.0f} tok/s"
                  + ("" if same else "; BATCHES DIFFER"))]


# ---------------------------------------------------------------------------- packing


def long_tail(tok, template: str, n: int, seed: int = 1) -> list:
    """``n`` encoded examples whose lengths spread over 20–1500 tokens: most answers short,
    a few long (the sample pairs' own answers strung together)."""
    from core.train.dataset import encode

    rng = random.Random(seed)
    convs = sample_conversations()
    answers = [c[-1]["content"] for c in convs]
    out = []
    for i in range(n):
        target = rng.uniform(600, 1500) if rng.random() < 0.08 else min(600.0, max(20.0, rng.lognormvariate(math.log(90), 0.7)))
        question = convs[i % len(convs)][-2]["content"]
        words: list[str] = []
        while True:
            enc = encode(tok, template, [{"role": "user", "content": question}, {"role": "assistant", "content": " ".join(words) or "Да."}],
                         max_len=2048)
            if len(enc.input_ids) >= target or len(enc.input_ids) >= 1500:
                break
            words += rng.choice(answers).split()[: max(1, int((target - len(enc.input_ids)) / 2))]
        out.append(enc)
    return out


class _Recorder:
    """Per training step: the real length of each example, the padded row length (0 for a
    padding-free row) and the number of trained tokens."""

    def __init__(self, packed: bool) -> None:
        self.packed = packed
        self.steps: list[tuple[list[int], int, int]] = []

    def take(self, inputs) -> None:
        ids = inputs["input_ids"]
        trained = int((inputs["labels"] != -100).sum())
        if not self.packed:  # right-padded rows: the mask marks the real tokens
            lengths = inputs["attention_mask"].sum(1).tolist()
            self.steps.append(([int(x) for x in lengths], int(ids.shape[1]), trained))
        else:  # one padding-free row: examples restart at position 0
            pos = inputs["position_ids"].reshape(-1).tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
            self.steps.append(([b - a for a, b in zip(starts[:-1], starts[1:])], 0, trained))


def train_in_process(model_path: Path, encoded: list, *, batch: int, steps: int, packed: bool, attention: str | None, out: Path) -> dict:
    """``steps`` LoRA steps of ``batch`` examples: padded rows, or one padding-free row
    (``packed``) as ``--packing`` trains them; ``attention`` None is transformers' default
    (sdpa with a padding mask: the pipeline without ``--packing``)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from core.train.dataset import to_hf_dataset
    from core.train.fused_head import route_other_devices

    route_other_devices()
    cfg = demo_config()
    tok = AutoTokenizer.from_pretrained(str(model_path))
    extra = {"attn_implementation": attention} if attention else {}
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32, **extra)
    model.config.use_cache = False
    torch.manual_seed(SEED)  # the same adapters on every side: the losses of each step must agree
    from core.train.modules import split_targets

    lora_names, full = split_targets(cfg.targets)
    model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                             target_modules=lora_names, modules_to_save=full or None, bias="none",
                                             task_type="CAUSAL_LM"))
    args = SFTConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch, learning_rate=cfg.lr, lr_scheduler_type="linear",
        seed=SEED, data_seed=SEED, max_length=None, logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, padding_free=packed, **hf_trainer_args(cfg),
    )
    rec = _Recorder(packed)
    times: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times[state.global_step] = time.perf_counter()

    class Recording(SFTTrainer):
        def training_step(self, model, inputs, *a, **kw):
            rec.take(inputs)
            return super().training_step(model, inputs, *a, **kw)

    trainer = Recording(model=model, args=args, train_dataset=to_hf_dataset(encoded), processing_class=tok, callbacks=[Clock()])
    quiet(trainer)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"times": times, "steps": rec.steps, "losses": losses, "config": model.config}


def fastest_steps(runs: list[dict], steps) -> float:
    """Seconds of ``steps`` (each from the previous step's end to its own), each step timed by
    the fastest of ``runs``."""
    return sum(min(r["times"][k + 1] - r["times"][k] for r in runs) for k in steps)


def bench_packing(name: str, model_path: Path, encoded: list, *, batch: int, steps: int, tmp: Path, app_padded: bool) -> str:
    """Packed vs padded at the same batches; both with the attention ``--packing`` uses
    (``core.train.varlen``: causal sdpa per example, which on a padded row is plain causal
    sdpa), so the only difference is the padding. ``app_padded``: also time the pipeline's
    own padded path (transformers' default attention with a padding mask), for the record."""
    from core.train.backends.hf import packed_attention

    kernel = packed_attention(device())
    # padded, packed, packed, padded: each step timed by the faster run of its side (the same
    # batches in both runs), so drift in the machine's load hits both sides alike
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for n, packs in enumerate((False, True, True, False)):
        runs[packs].append(train_in_process(model_path, encoded, batch=batch, steps=steps, packed=packs, attention=kernel,
                                            out=tmp / f"{name}-{'packed' if packs else 'padded'}-{n}"))
    padded, packed = runs[False][0], runs[True][0]
    config = padded["config"]
    r = demo_config().lora_r
    timed = range(1, steps)  # every step but the first (warm-up)
    same_batches = all(sorted(padded["steps"][i][0]) == sorted(packed["steps"][i][0]) for i in range(steps))
    real = sum(sum(padded["steps"][i][0]) for i in timed)
    t_pad = fastest_steps(runs[False], timed)
    t_pack = fastest_steps(runs[True], timed)
    speedup = t_pad / t_pack

    def cost(length: int) -> float:  # FLOPs of one causal sequence of ``length`` tokens in a training step
        return length * benchlib.lora_train_flops_per_token(config, r, length)

    head = benchlib.lm_head_train_flops(config) * sum(padded["steps"][i][2] for i in timed)  # the same on both sides
    pad_flops = sum(len(padded["steps"][i][0]) * cost(padded["steps"][i][1]) for i in timed) + head
    real_flops = sum(cost(n) for i in timed for n in padded["steps"][i][0]) + head
    bound = pad_flops / real_flops
    token_bound = sum(len(padded["steps"][i][0]) * padded["steps"][i][1] for i in timed) / real
    diffs = [abs(a - b) for a, b in zip(padded["losses"], packed["losses"])]
    loss_diff = max(diffs)
    # the first step is the same computation on the same weights (padding aside): it must agree.
    # Later steps start from weights a rounding apart (the matmuls differ in shape), which the
    # demo preset's learning rate and fully trained embeddings amplify step by step.
    first_diff = diffs[0]
    drift = ", ".join(f"{d:.1e}" for d in diffs[:: max(1, len(diffs) // 6)])
    lengths = [len(e.input_ids) for e in encoded]
    say(f"packing {name}: {len(encoded)} examples, lengths {min(lengths)}–{max(lengths)} (median {sorted(lengths)[len(lengths) // 2]}), "
        f"batch {batch}, {steps} steps each: padded {real / t_pad:.0f} real tok/s, packed {real / t_pack:.0f} real tok/s "
        f"({speedup:.2f}×); bound from removing padding {bound:.2f}× (tokens alone {token_bound:.2f}×); "
        f"loss per step padded vs packed: first step |Δ| {first_diff:.2e}, max |Δ| {loss_diff:.2e} (|Δ| along the run: {drift}), "
        f"last {padded['losses'][-1]:.4f} vs {packed['losses'][-1]:.4f}")
    if app_padded:
        app = train_in_process(model_path, encoded, batch=batch, steps=steps, packed=False, attention=None, out=tmp / f"{name}-app")
        t_app = app["times"][steps] - app["times"][1]
        say(f"packing {name}: the pipeline without --packing (default attention, padding mask) {real / t_app:.0f} real tok/s: "
            f"--packing is {t_app / t_pack:.2f}× faster than that")
    note = f"{speedup:.2f}× of a {bound:.2f}× bound"
    if not same_batches:
        note += "; BATCHES DIFFER"
    if first_diff > 1e-4 * max(1.0, abs(padded["losses"][0])):
        note += "; FIRST-STEP LOSS DIFFERS"
    return claim(f"packing-{name}", speedup / bound, ">=0.9", note)


def bench_packing_all(mode: str, tmp: Path) -> list[str]:
    from transformers import AutoTokenizer

    from core.train.dataset import Example, encode_all
    from core.train.templates import get_template

    template = get_template(demo_config().template).jinja
    demo = benchlib.demo_model_dir()
    tok = AutoTokenizer.from_pretrained(str(demo))
    sample = encode_all(tok, template, [Example(None, c) for c in sample_conversations()], max_len=512)
    batch = 8
    lines = [bench_packing("sample", demo, sample, batch=batch, steps=pick(mode, 48, 16, 3), tmp=tmp, app_padded=mode != "smoke")]
    long_steps = pick(mode, 16, 5, 2)
    replica = benchlib.build_replica(benchlib.replica_shape(mode, "long"))
    longs = long_tail(AutoTokenizer.from_pretrained(str(replica)), template, n=max(batch * long_steps, 64) if mode != "smoke" else batch * long_steps)
    lines.append(bench_packing("longtail", replica, longs, batch=batch, steps=long_steps, tmp=tmp, app_padded=mode == "full"))
    return lines


# ---------------------------------------------------------------------------- MFU


def bench_mfu(mode: str, tmp: Path) -> list[str]:
    import torch

    shape = benchlib.replica_shape(mode)
    replica = benchlib.build_replica(shape)
    info = json.loads((replica / "replica.json").read_text())
    ws = workspace_with_sample(tmp / "home-mfu")
    steps, batch = pick(mode, 12, 5, 2), 8
    threads = torch.get_num_threads()
    # the peak before the run and after it, the higher: measured once after the worker, it read
    # 53 GFLOP/s where a quiet moment gives 113 (the finished worker still exiting beside it)
    peaks = [machine_peak(threads)]
    res = worker_run(ws, replica, steps=steps, batch=batch, max_len=512)
    wait_for_exit(res["pid"])
    peaks.append(machine_peak(threads))
    tok_s, tokens, seconds = rate(res)
    config = json.loads((replica / "config.json").read_text())
    first, last = min(res["times"]), max(res["times"])
    row = tokens / ((last - first) * batch)  # the average padded row length of the timed steps
    # the LM head is left out (on the trained positions only; 2% of the FLOPs here): a lower bound
    per_token = benchlib.lora_train_flops_per_token(config, demo_config().lora_r, row)
    peak = max(peaks)
    achieved = per_token * tok_s
    say(f"mfu: replica with {info['non_embedding'] / 1e6:.1f}M non-embedding parameters, {threads} threads: "
        f"worker {tok_s:.0f} tok/s × {per_token / 1e9:.2f} GFLOP/token = {achieved / 1e9:.1f} GFLOP/s; "
        f"fp32 matmul on this CPU {peak / 1e9:.1f} GFLOP/s (before the run {peaks[0] / 1e9:.1f}, after {peaks[1] / 1e9:.1f})")
    return [claim("mfu", achieved / peak, ">=0.3", f"{achieved / 1e9:.1f} of {peak / 1e9:.1f} GFLOP/s (fp32)")]


def machine_peak(threads: int) -> float:
    """fp32 matmul FLOP/s with ``threads`` threads: the best of square sizes 1024–2048 (the
    rate differs by size by a tenth on this CPU), each timed for 2 s."""
    return max(benchlib.matmul_flops("float32", threads=threads, n=n, seconds=2.0) for n in (1024, 1536, 2048))


def wait_for_exit(pid: int | None, timeout: float = 60.0) -> None:
    """Until the worker process is gone: its run is marked done before it has exited."""
    from core.train.runs import pid_alive

    deadline = time.monotonic() + timeout
    while pid and pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


# ---------------------------------------------------------------------------- the demo, end to end

DEMO_LIMIT_S = 180.0  # docs/demo.md: "against a limit of 3 minutes"


def bench_demo(mode: str, tmp: Path) -> list[str]:
    home = tmp / "demo-home"
    nastavnik(home, "demo")  # the sample pairs and the demo base, as `make run` does on first use
    steps = pick(mode, [], ["--steps", "60"], ["--steps", "3"])
    started = time.perf_counter()
    nastavnik(home, "train", "--preset", "demo", *steps)  # follows the run to its end
    seconds = time.perf_counter() - started
    run = json.loads(nastavnik(home, "runs", "list", "--json"))[0]
    if run["status"] != "done":
        raise SystemExit(f"the demo run ended {run['status']}: see {home}/runs/{run['id']}/train.log")
    nastavnik(home, "export", str(run["id"]), "--quant", "q8_0", "--no-parity", "--name", "run")
    nastavnik(home, "export", "demo", "--quant", "q8_0", "--no-parity", "--name", "base")
    report = json.loads(nastavnik(home, "eval", "run-q8_0", "base-q8_0", "--split", "train", "--json"))
    chrf = {s["model"]: s["chrf"] for s in report["summaries"]}
    note = (f"{seconds:.0f} s for `nastavnik train --preset demo` {' '.join(steps) or '(its defaults)'}, "
            f"{run['step']} steps; train-split chrF {chrf['run-q8_0']:.1f} (base {chrf['base-q8_0']:.1f})")
    return [claim("demo-run", seconds / DEMO_LIMIT_S, "<=1" if mode == "full" else "none", note)]


def chars_per_token() -> float:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(benchlib.demo_model_dir()))
    texts = [m["content"] for c in sample_conversations() for m in c]
    return sum(map(len, texts)) / sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)


PARTS = ("throughput", "packing", "mfu", "demo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_mode_args(parser)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    args = parser.parse_args()
    mode = benchlib.mode_of(args)
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    bad = [p for p in only if p not in PARTS]
    if bad:
        parser.error(f"unknown part(s) {', '.join(bad)}; choose from {', '.join(PARTS)}")
    say(f"train bench ({mode}); tokenizer: {chars_per_token():.2f} characters per token on the sample pairs (demo tokenizer)")
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nastavnik-train-bench-") as tmp:
        tmp = Path(tmp)
        if "throughput" in only:
            lines += bench_throughput(mode, tmp)
        if "packing" in only:
            lines += bench_packing_all(mode, tmp)
        if "mfu" in only:
            lines += bench_mfu(mode, tmp)
        if "demo" in only:
            lines += bench_demo(mode, tmp)
    for line in lines:  # every claim again, together, the last lines of the output
        print(line, flush=True)


if __name__ == "__main__":
    main()
