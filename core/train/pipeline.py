"""One training run, top to bottom, like an Unsloth notebook:

    load base → add LoRA adapters → snapshot the dataset → format with the chat template
    → mask the loss to answer tokens → train with TRL's SFTTrainer → save the adapter

Each step is a small function; ``run`` calls them in order. The worker (``worker.py``)
wraps this with the store, a heartbeat and signals; a notebook or test can call the steps
directly. A DPO or ORPO run (``config.method``) goes through ``core.train.preference.run``,
which reuses these steps around TRL's preference trainers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from core.errors import UserError
from core.train.config import TrainConfig

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store

TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "chat_template.jinja")
MetricSink = Callable[[dict], None]
# what TRL's DPOTrainer/ORPOTrainer log → the store's metrics columns
REWARD_COLUMNS = {
    "rewards/chosen": "reward_chosen",
    "rewards/rejected": "reward_rejected",
    "rewards/margins": "margin",
    "rewards/accuracies": "accuracy",
}


@dataclass
class RunPaths:
    root: Path

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def dataset(self) -> Path:
        return self.root / "dataset.jsonl"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def log(self) -> Path:
        return self.root / "train.log"

    @property
    def evals(self) -> Path:
        """One JSON line per evaluation: step, eval loss, chrF of the answers, the answers, the best step."""
        return self.root / "evals.jsonl"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    def last_checkpoint(self) -> Path | None:
        if not self.checkpoints.exists():
            return None
        done = [p for p in self.checkpoints.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
        return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


@dataclass
class Result:
    adapter: Path
    steps: int
    train_loss: float | None
    eval_loss: float | None
    seconds: float
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- 1. load


def load_base(config: TrainConfig, base_path: str, device=None, *, log: Callable[[str], None] | None = None):
    """(backend, model, tokenizer, processing_class) — Unsloth is imported here, before TRL.

    ``auto`` resolved to Unsloth that then fails to import goes on with the hf backend after
    one warning line (``log``); an explicit ``--backend unsloth`` stops with that line.
    """
    from core.train import device as devices
    from core.train.backends import get_backend, resolve

    device = device or devices.current()
    name = resolve(config.backend, config)
    backend = get_backend(name, config)
    try:
        loaded = backend.load(config, base_path, device)
    except UserError as exc:
        if config.backend != "auto" or name != "unsloth" or not str(exc).startswith("Unsloth cannot be imported"):
            raise
        (log or print)(f"warning: {exc}; training with the hf backend instead")
        backend = get_backend("hf", config)
        loaded = backend.load(config, base_path, device)
    except OSError as exc:
        raise UserError(f"cannot load the base model {base_path}: {exc}", hint="check the path or `nastavnik models list`") from exc
    tokenizer = loaded.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    without_kv_cache(loaded.model)
    return backend, loaded.model, tokenizer, loaded.processing_class


def without_kv_cache(model) -> None:
    """Training never reuses keys and values, so no KV cache.

    This also keeps packed rows apart: given position ids and no cache, transformers sees
    where each packed example restarts at position 0 and builds a block-diagonal mask for
    sdpa/eager attention. With a cache it does not, and every packed example attends to
    the ones before it in the row (measured on the demo model: loss 6.07 packed vs 5.96
    padded with the cache, equal without it).
    """
    config = getattr(model, "config", None)
    if config is not None:
        config.use_cache = False
    generation = getattr(model, "generation_config", None)
    if generation is not None and hasattr(generation, "use_cache"):
        generation.use_cache = False


# ---------------------------------------------------------------------------- 2. adapters


def add_adapters(backend, model, config: TrainConfig, device=None):
    """A new LoRA adapter, initialised from the run's seed (the trainer seeds itself only later,
    so without this two runs with the same seed started from different random A matrices)."""
    from transformers import set_seed

    from core.train import device as devices

    set_seed(config.seed)
    return backend.add_adapters(model, config, device or devices.current())


# ---------------------------------------------------------------------------- 3. snapshot


def take_snapshot(store: Store, method: str = "sft"):
    """The data a run of ``method`` trains on: the approved pairs (SFT) or the preference pairs."""
    from core.train.config import PREFERENCE_METHODS

    if method in PREFERENCE_METHODS:
        from core.train.preference_data import snapshot as preference_snapshot

        return preference_snapshot(store)
    from core.train.dataset import snapshot

    return snapshot(store)


def read_snapshot(path: Path):
    from core.train.dataset import Snapshot
    from core.train.preference_data import PreferenceSnapshot, is_preference_snapshot

    return PreferenceSnapshot.read(path) if is_preference_snapshot(path) else Snapshot.read(path)


def snapshot_dataset(paths: RunPaths, store: Store | None = None, *, method: str = "sft"):
    """Take the snapshot from the store once; a resumed run reads the same file again."""
    if paths.dataset.exists():
        return read_snapshot(paths.dataset)
    if store is None:
        raise UserError(f"{paths.dataset} is missing and no store was given")
    snap = take_snapshot(store, method)
    snap.write(paths.dataset)
    return snap


# ---------------------------------------------------------------------------- 4+5. format and mask


def training_template(tokenizer, config: TrainConfig) -> str:
    """The Jinja chat template the examples are rendered with: the preset's, else the base's."""
    from core.train.dataset import template_source
    from core.train.templates import get_template

    return template_source(tokenizer, get_template(config.template) if config.template else None)


def format_and_mask(tokenizer, config: TrainConfig, snap):
    """(train, eval) ``datasets.Dataset`` of input_ids + labels masked to the answers."""
    from core.train.dataset import encode_all, to_hf_dataset

    source = training_template(tokenizer, config)
    train = encode_all(tokenizer, source, snap.train, max_len=config.max_seq_len)
    evals = encode_all(tokenizer, source, snap.eval, max_len=config.max_seq_len)
    train_ds = to_hf_dataset(train)
    if len(train_ds) == 0:
        raise UserError("no training example has an answer token left", hint="raise --max-seq-len")
    eval_ds = to_hf_dataset(evals) if evals else None
    return train_ds, (eval_ds if eval_ds is not None and len(eval_ds) else None)


# ---------------------------------------------------------------------------- 6. train


def agreed(stop: bool) -> bool:
    """Whether any process of a data-parallel run was asked to stop: all stop at the same step,
    or the others would wait for it forever in the next all-reduce. One process: ``stop``."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        return stop
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return stop
    flag = torch.tensor([1 if stop else 0], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def metrics_callback(sink: MetricSink, should_stop: Callable[[], bool] | None = None):
    """A TrainerCallback: one dict per logged step to ``sink`` (rank 0 only); stops when asked."""
    from transformers import TrainerCallback

    class Metrics(TrainerCallback):
        def __init__(self):
            self.sink = sink
            self.t0 = None
            self.tokens0 = 0
            self.step0 = 0

        def on_train_begin(self, args, state, control, **kw):
            if not state.is_world_process_zero:
                self.sink = None
            self.t0 = time.monotonic()
            self.tokens0 = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            self.step0 = state.global_step
            self.emit({"event": "begin", "max_steps": state.max_steps})

        def emit(self, row: dict) -> None:
            if self.sink is not None:
                self.sink(row)

        def on_log(self, args, state, control, logs=None, **kw):
            logs = dict(logs or {})
            now = time.monotonic()
            tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            row = {"step": state.global_step, "epoch": state.epoch}
            if "loss" in logs:
                row["loss"] = float(logs["loss"])
            if "learning_rate" in logs:
                row["lr"] = float(logs["learning_rate"])
            if logs.get("grad_norm") is not None:
                row["grad_norm"] = float(logs["grad_norm"])
            if "eval_loss" in logs:
                row["eval_loss"] = float(logs["eval_loss"])
            for key, column in REWARD_COLUMNS.items():  # DPO/ORPO: TRL's rewards, margin and accuracy
                if logs.get(key) is not None:
                    row[column] = float(logs[key])
            if self.t0 is not None and now > self.t0 and tokens > self.tokens0:
                row["tokens_per_s"] = (tokens - self.tokens0) / (now - self.t0)
            if "loss" in row or "eval_loss" in row:  # not the end-of-training summary
                self.emit(row)

        def on_step_end(self, args, state, control, **kw):
            if should_stop and agreed(should_stop()):
                control.should_training_stop = True
                control.should_save = True

    return Metrics()


def schedule_args(config: TrainConfig, backend, paths: RunPaths, device=None) -> dict:
    """The trainer arguments every method shares (SFT, DPO, ORPO): batches, the learning-rate
    schedule, steps, checkpoints, logging, seeds, and the backend's precision and device."""
    from core.train import device as devices

    kwargs = dict(
        output_dir=str(paths.checkpoints),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        lr_scheduler_type="linear",
        warmup_steps=float(config.warmup_ratio),  # a float in [0, 1) is a ratio of the total steps
        weight_decay=config.weight_decay,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps and config.max_steps > 0 else -1,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=config.seed,
        data_seed=config.seed,
        max_length=config.max_seq_len,
        dataloader_num_workers=0,
        dataset_num_proc=None,
    )
    kwargs.update(backend.trainer_args(config, device or devices.current()))
    return kwargs


def sft_config(config: TrainConfig, backend, paths: RunPaths, *, has_eval: bool, device=None):
    from trl import SFTConfig

    kwargs = schedule_args(config, backend, paths, device)
    # SFT only: the length-grouped sampler reads each example's input_ids, which a preference
    # pair (prompt, chosen, rejected) does not have
    kwargs["train_sampling_strategy"] = "group_by_length" if config.group_by_length else "random"
    if has_eval and config.eval_steps:
        kwargs.update(eval_strategy="steps", eval_steps=config.eval_steps)
        if config.eval_steps % config.save_steps:  # a checkpoint at every evaluation: the best one must be on disk
            kwargs["save_steps"] = config.eval_steps
    return SFTConfig(**kwargs, packing=config.packing, include_num_input_tokens_seen=True, remove_unused_columns=True)


def checkpoint_callbacks(config: TrainConfig, tokenizer, snap, paths: RunPaths, base_path: str, sink: MetricSink | None,
                         *, has_eval: bool, judge=None, rubric=None) -> list:
    """Every checkpoint made exportable (its chat template and ``nastavnik_run.json``); with
    evaluation steps and an eval split, the answers scored at each evaluation (by ``judge``, a
    loaded ``ModelRunner`` reading ``rubric``, too, when given), the best checkpoint kept and the
    early stop (``core.train.answer_eval``)."""
    from core.train.answer_eval import answer_eval_callback, checkpoint_meta_callback

    template = training_template(tokenizer, config)
    meta = {"base": base_path, "dataset_sha256": snap.sha256, "config": config.to_dict()}
    out = [checkpoint_meta_callback(template, meta, base_path=base_path, tokenizer=tokenizer)]
    if has_eval and config.eval_steps:
        examples = list(snap.eval[:config.answer_eval_max])
        out.append(answer_eval_callback(tokenizer, template, examples, metric=config.best_metric,
                                        patience=config.early_stop_patience, sink=sink, evals_file=paths.evals,
                                        judge=judge, rubric=rubric))
    return out


def make_trainer(model, processing_class, train_ds, eval_ds, args, callbacks):
    """TRL's SFTTrainer (Unsloth's, where Unsloth has patched TRL) on the encoded examples."""
    from trl import SFTTrainer

    from core.train.fused_head import route_other_devices

    route_other_devices()  # TRL's loss kernel is CUDA-only; the CPU gets the same sums in PyTorch
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=processing_class,
        callbacks=callbacks,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # its dicts would repeat our step lines in the log
    return trainer


def padding_free(trainer) -> bool:
    """Whether the trainer batches without padding (every row's examples in one flat sequence).

    Read from what TRL built, after construction: Unsloth's SFTTrainer on CUDA switches it on by
    itself (``padding_free=None`` means "auto" there), TRL turns it on for packing, and its DPO
    trainer turns a request for it off again.
    """
    for owner in (getattr(trainer, "data_collator", None), trainer, trainer.args):
        value = getattr(owner, "padding_free", None)
        if value is not None:
            return bool(value)
    return False


def precision(trainer, model) -> str:
    """The precision the steps really run in: the trainer's autocast, else the weights' own dtype.

    Read from the trainer's arguments after construction: Unsloth's trainer rewrites them (a
    float32 model on an Ampere card trains under bf16 autocast unless float32 is forced).
    """
    if trainer.args.bf16:
        return "bf16"
    if trainer.args.fp16:
        return "fp16"
    import torch

    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    weight = getattr(embeddings, "weight", None)
    dtype = weight.dtype if weight is not None and weight.is_floating_point() else \
        next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def attention(model) -> str | None:
    """The attention implementation the model runs (its config's, the text model's for a multimodal one)."""
    config = getattr(model, "config", None)
    value = getattr(config, "_attn_implementation", None)
    if value is None:
        value = getattr(getattr(config, "text_config", None), "_attn_implementation", None)
    return value if value is None else str(value)


def precision_note(config: TrainConfig, setup: dict) -> str | None:
    """A line for the log when the run computes in another precision than ``--dtype`` asked for."""
    asked = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(config.dtype)
    if asked is None or asked == setup.get("precision"):
        return None
    return (f"note: --dtype {config.dtype} was asked for; the {setup.get('backend')} trainer computes in {setup.get('precision')} "
            + ("(float32 weights under bf16 autocast: the trainer's choice on a card with bfloat16, as Unsloth's makes it)"
               if asked == "fp32" and setup.get("precision") == "bf16" else "(its autocast)"))


def describe(trainer, backend, device) -> dict:
    """What really trains: shown by ``runs show --json`` as ``setup``, so a user (and the tests) can
    see the 4-bit layers, the trainer class and where LoRA went, not just what was asked for; and
    what the trainer decided by itself once built: padding-free batches, the precision the steps
    compute in, the attention implementation."""
    from core.train.modules import lora_in_towers

    model = trainer.model
    from core.train.modules import is_non_text

    kinds: dict[str, int] = {}
    quantized_towers = 0
    for name, module in model.named_modules():
        cls_name = f"{type(module).__module__}.{type(module).__name__}"
        if cls_name.startswith("bitsandbytes.") and type(module).__name__ in ("Linear4bit", "Linear8bitLt"):  # not PEFT's wrappers
            kinds[cls_name] = kinds.get(cls_name, 0) + 1
            quantized_towers += is_non_text(name)
    tower, total = lora_in_towers(model)
    cls = type(trainer)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point() and p.requires_grad), None)
    return {
        "backend": backend.NAME,
        "device": device.torch_device,
        "world_size": device.world_size,
        "trainer": f"{cls.__module__}.{cls.__qualname__}",
        "quantized_layers": kinds,
        "quantized_in_towers": quantized_towers,
        "load_in_4bit": any("Linear4bit" in k for k in kinds),
        "lora_tensors": total,
        "lora_in_towers": tower,
        "trainable_dtype": str(dtype).replace("torch.", "") if dtype is not None else None,
        "bf16": bool(trainer.args.bf16),
        "fp16": bool(trainer.args.fp16),
        "packing": bool(getattr(trainer.args, "packing", False)),
        "padding_free": padding_free(trainer),
        "precision": precision(trainer, model),
        "attn_implementation": attention(getattr(model, "get_base_model", lambda: model)()),
        "model_class": type(getattr(model, "get_base_model", lambda: model)()).__name__,
        "processing_class": type(trainer.processing_class).__name__,
    }


def peak_memory(device) -> dict:
    """The run's peak memory: allocated on its GPU (what the VRAM estimate predicts), and the
    process's resident set (host RAM)."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"peak_rss_bytes": int(rss if sys.platform == "darwin" else rss * 1024)}
    if device.kind == "cuda":
        import torch

        out["peak_gpu_bytes"] = int(torch.cuda.max_memory_allocated(device.index))
    return out


def train(trainer, eval_ds, *, resume_from: Path | None = None):
    try:
        out = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except Exception as exc:  # OOM is a user problem: say what to change
        if _is_oom(exc):
            raise UserError(
                "the GPU ran out of memory while training",
                hint="lower --batch-size (raise --grad-accum to keep the effective batch), shorten --max-seq-len, or pick a smaller preset",
            ) from exc
        raise
    eval_loss = None
    done_at = trainer.state.global_step
    already = logged_eval_loss(trainer)
    if already is not None:  # the eval schedule just ran at the last step: the same number again would be waste
        eval_loss = already
    elif eval_ds is not None and done_at >= trainer.state.max_steps:  # not after a cancel
        try:
            eval_loss = float(trainer.evaluate()["eval_loss"])
        except Exception as exc:
            if _is_oom(exc):
                raise UserError("the GPU ran out of memory during evaluation", hint="lower --batch-size") from exc
            raise
    return out, eval_loss


def logged_eval_loss(trainer) -> float | None:
    """The eval loss the trainer already logged at its last step, if it did."""
    step = trainer.state.global_step
    found = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h and h.get("step") == step]
    return float(found[-1]) if found else None


def _is_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


# ---------------------------------------------------------------------------- 7. save


def save_adapter(model, tokenizer, paths: RunPaths, base_path: str, meta: dict, *, chat_template: str | None = None) -> Path:
    """The adapter plus the base's tokenizer files, written to a temp folder and renamed.

    ``chat_template`` (the one the run trained with) replaces the base's in the copied files,
    so the merged model and its GGUF prompt exactly as the model was trained. ``nastavnik_run.json``
    holds ``meta`` and the class of the model the adapter was saved from (``model_class``): its
    tensors are named after that class's modules, and the export merges into it
    (``core.export.merge``).
    """
    tmp = paths.root / "adapter.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    adapters = list(getattr(model, "peft_config", None) or ())
    if len(adapters) > 1 and "default" in adapters:  # a DPO run's frozen ``ref`` copy stays out
        model.save_pretrained(str(tmp), selected_adapters=["default"])
    else:
        model.save_pretrained(str(tmp))
    base_tokenizer_files(base_path, tmp, tokenizer, chat_template=chat_template)
    meta = {**meta, "model_class": type(getattr(model, "get_base_model", lambda: model)()).__name__}
    (tmp / "nastavnik_run.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    if paths.adapter.exists():
        shutil.rmtree(paths.adapter)
    os.replace(tmp, paths.adapter)
    return paths.adapter


def base_tokenizer_files(base_path: str, folder: Path, tokenizer, *, chat_template: str | None = None) -> None:
    """The base's tokenizer files, byte for byte, into ``folder`` (an adapter or a checkpoint: the
    converter to GGUF reads them; a re-saved tokenizer.json can lose what marks a special token),
    then the chat template the run trained with."""
    base = Path(base_path)
    if base.is_dir():
        for name in TOKENIZER_FILES:
            if (base / name).exists():
                shutil.copy2(base / name, folder / name)
    else:
        tokenizer.save_pretrained(str(folder))
    if chat_template is not None:
        set_chat_template(folder, chat_template)


def set_chat_template(folder: Path, chat_template: str) -> None:
    """Write ``chat_template`` where transformers and llama.cpp's converter read it.

    transformers 5 reads ``chat_template.jinja`` first; older files keep it in
    ``tokenizer_config.json``: both say the same afterwards.
    """
    (folder / "chat_template.jinja").write_text(chat_template, encoding="utf-8")
    config_file = folder / "tokenizer_config.json"
    if config_file.is_file():
        data = json.loads(config_file.read_text(encoding="utf-8"))
        if "chat_template" in data and data["chat_template"] != chat_template:
            data["chat_template"] = chat_template
            config_file.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


# ---------------------------------------------------------------------------- all of it


def quiet() -> None:
    """No progress bars or chatter in a detached worker's log."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from core.quiet import quiet_libraries

    quiet_libraries()  # deprecation notes and optional-kernel warnings, not for someone reading a run's log
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass


def run(
    config: TrainConfig,
    base_path: str,
    paths: RunPaths,
    *,
    store: Store | None = None,
    sink: MetricSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = False,
    on_snapshot: Callable[[object], None] | None = None,
    on_setup: Callable[[dict], None] | None = None,
    log: Callable[[str], None] | None = None,
    start_from: str | None = None,
    judge=None,
    rubric=None,
) -> Result:
    """The whole run. In a data-parallel run every process calls it; rank 0 alone reports and saves.

    ``start_from``: the adapter folder a DPO/ORPO run starts from (its ``--from-run``); ``judge``
    (a ``ModelRunner``, opened by the caller, who closes it) and ``rubric``: the judge that scores
    the answers at each evaluation beside chrF (``config.judge``)."""
    from core.train import device as devices

    if config.preference:
        from core.train import preference

        return preference.run(config, base_path, paths, store=store, sink=sink, should_stop=should_stop, resume=resume,
                              on_snapshot=on_snapshot, on_setup=on_setup, log=log, start_from=start_from)

    started = time.monotonic()
    quiet()
    device = devices.current()
    backend, model, tokenizer, processing_class = load_base(config, base_path, device, log=log)
    model = add_adapters(backend, model, config, device)
    snap = snapshot_dataset(paths, store)
    if on_snapshot and device.main:
        on_snapshot(snap)
    train_ds, eval_ds = format_and_mask(tokenizer, config, snap)
    args = sft_config(config, backend, paths, has_eval=eval_ds is not None, device=device)
    callbacks = [metrics_callback(sink or (lambda row: None), should_stop), *checkpoint_callbacks(config, tokenizer, snap, paths,
                                                                                                    base_path, sink, has_eval=eval_ds is not None,
                                                                                                    judge=judge, rubric=rubric)]
    resume_from = paths.last_checkpoint() if resume else None
    trainer = make_trainer(model, processing_class, train_ds, eval_ds, args, callbacks)
    setup = describe(trainer, backend, device)
    note = precision_note(config, setup)
    if note and device.main:
        (log or print)(note)
    if on_setup and device.main:
        on_setup(setup)
    out, eval_loss = train(trainer, eval_ds, resume_from=resume_from)
    setup.update(peak_memory(device))
    if on_setup and device.main:
        on_setup(setup)
    meta = {
        "base": base_path,
        "dataset_sha256": snap.sha256,
        "steps": trainer.state.global_step,
        "config": config.to_dict(),
        "setup": setup,
    }
    adapter = paths.adapter
    if device.main:
        adapter = save_adapter(trainer.model, tokenizer, paths, base_path, meta, chat_template=training_template(tokenizer, config))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    train_loss = losses[-1] if losses else None
    if train_loss is not None and not math.isfinite(train_loss):
        raise UserError("the training loss became NaN", hint="lower --lr; on Gemma 3 use bf16, not fp16")
    return Result(adapter, trainer.state.global_step, train_loss, eval_loss, time.monotonic() - started,
                  {"sha256": snap.sha256, "setup": setup, "main": device.main})
