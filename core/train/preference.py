"""Preference training: DPO and ORPO with TRL on the preference pairs.

    load base → the start adapter → snapshot the preferences → tokenize with the chat template
    → TRL's DPOTrainer / ORPOTrainer → save the adapter

What the policy starts from and what it is compared with:

* ``--from-run N`` (N a finished run, usually SFT): the run trains on N's base with N's
  settings, and the policy starts from N's adapter, loaded trainable. For DPO the
  reference is that same adapter at the start, frozen: TRL 1.15's DPOTrainer, given a PEFT
  model with an adapter and ``ref_model=None``, copies the adapter into a second one named
  ``ref`` (requires_grad off) and runs the reference forward passes with ``ref`` active. The
  reference is thus exactly the SFT model, it shares the (4-bit) base weights with the
  policy — no second copy of the model in memory — and costs only a second set of LoRA
  weights. (``ref_adapter_name``/``model_adapter_name`` are gone from TRL 1.x; disabling the
  adapter would compare with the bare base, not with the SFT model.)
* no ``--from-run``: a new LoRA adapter on the base; its B matrices start at zero, so the
  policy starts as the base and the reference (the ``ref`` copy, equal to the base) is the
  base.
* ORPO has no reference by design (its odds-ratio term compares the chosen with the
  rejected answer under the policy itself); it starts from the same place.

Either way only the trained adapter (``default``) is saved, in checkpoints too (a resumed run
rebuilds ``ref`` from the start adapter), and its ``adapter_config.json`` names the base N
trained on — so ``nastavnik export`` merges a DPO/ORPO run into the same base as its SFT
parent, and the run's row keeps that base.

The DPO loss is TRL's sigmoid (DPO) loss plus ``sft_weight`` × the NLL of the chosen answer
(TRL's ``loss_type=["sigmoid", "sft"]``; the recipe of RPO, Pang et al. 2024, and of Llama 3's
preference rounds). Measured on the CPU demo (tests/core/train/test_preference.py): plain DPO
raises the margin by pushing the rejected answer down and lets the chosen one fall too —
greedy answers drift away from the corrections — while with the NLL term both the margin and
the chrF of greedy answers against the corrections rise. ``--sft-weight 0`` is plain DPO.
ORPO (``trl.experimental.orpo`` — TRL 1.15 is pinned by constraints.txt) has an NLL term of
its own (TRL computes it over prompt and answer); ``beta`` is its λ.

Tokens: both trainers get the token ids ``core.train.preference_data`` renders with the run's chat
template, exactly as an SFT run renders its answers (``--preview`` shows them); the
subclasses below only skip TRL's own tokenization and keep the ``ref`` adapter out of the
saved folders.

Devices: DPOTrainer computes log-probabilities through TRL's fused LM head, whose only kernel
is Triton (CUDA/XPU); ``core.train.fused_head.route_other_devices`` sends the CPU to the same
computation in PyTorch, as for SFT. ORPOTrainer builds the logits itself and needs no kernel.
On CUDA the Unsloth backend runs the same code on Unsloth's patched trainers: ``import
unsloth`` (first, in the worker) rewrites TRL's trainers, ``trl.experimental.orpo`` included;
``PatchDPOTrainer()`` is kept for older releases (a no-op in 2026.10). Unsloth's CPU fallback
covers SFT only, so the unsloth backend refuses DPO/ORPO without a GPU (``--backend hf`` runs
the same TRL trainers there). The CUDA path is untested here (no GPU).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from core.errors import UserError
from core.train.config import TrainConfig

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store

REF_ADAPTER = "ref"
TRAINED_ADAPTER = "default"


# ---------------------------------------------------------------------------- the trainers


def _only_trained_adapter(model):
    """While saving: ``save_pretrained`` writes the trained adapter alone (not the frozen ``ref``)."""
    peft_config = getattr(model, "peft_config", None)
    if not peft_config or len(peft_config) < 2 or TRAINED_ADAPTER not in peft_config:
        return contextlib.nullcontext()
    original = model.save_pretrained
    # Unsloth installs its own save_pretrained on the instance (unsloth/save.py): put that one back,
    # not the class's method
    own = model.__dict__.get("save_pretrained")

    @contextlib.contextmanager
    def only_default():
        def save(*args, **kwargs):
            kwargs["selected_adapters"] = [TRAINED_ADAPTER]
            return original(*args, **kwargs)

        model.save_pretrained = save
        try:
            yield
        finally:
            if own is not None:
                model.save_pretrained = own
            else:
                del model.save_pretrained  # the bound method of the class again

    return only_default()


def trainer_class(method: str):
    """TRL's trainer for ``method`` (Unsloth's patched one where ``import unsloth`` ran first),
    subclassed to take our token ids as they are and to save the trained adapter alone."""
    if method == "dpo":
        from trl import DPOTrainer as Base
    elif method == "orpo":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TRLExperimentalWarning: ORPO is pinned with TRL itself
            from trl.experimental.orpo import ORPOTrainer as Base
    else:
        raise ValueError(f"not a preference method: {method!r}")

    class Trainer(Base):
        _nastavnik_base = Base

        def _save(self, output_dir=None, state_dict=None):
            # a checkpoint with both adapters would resume only ``ref`` (transformers loads the
            # sub-folders when there are any): keep the trained one at the top, alone
            with _only_trained_adapter(self.accelerator.unwrap_model(self.model)):
                return super()._save(output_dir, state_dict)

    if method == "dpo":
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            if "prompt_ids" in dataset.column_names:  # tokenized by core.train.preference_data: as it is
                return dataset
            return Base._prepare_dataset(self, dataset, processing_class, args, dataset_name)

        Trainer._prepare_dataset = _prepare_dataset
    else:
        def tokenize_row(self, feature, model=None):
            if "prompt_ids" not in feature:
                return Base.tokenize_row(self, feature, model)
            prompt = list(feature["prompt_ids"])
            row = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
            for side in ("chosen", "rejected"):
                answer = list(feature[f"{side}_ids"])
                row[f"{side}_input_ids"] = prompt + answer
                row[f"{side}_attention_mask"] = [1] * (len(prompt) + len(answer))
                row[f"{side}_labels"] = [-100] * len(prompt) + answer
            return row

        def __init__(self, *args, **kwargs):
            Base.__init__(self, *args, **kwargs)
            ours = [c for c in ("prompt_ids", "chosen_ids", "rejected_ids") if c in self.train_dataset.column_names]
            if ours:  # tokenize_row made TRL's columns from them; the collator need not carry them
                self.train_dataset = self.train_dataset.remove_columns(ours)

        Trainer.tokenize_row = tokenize_row
        Trainer.__init__ = __init__  # type: ignore[method-assign]  # the subclass made above, given its own __init__
    Trainer.__name__ = Trainer.__qualname__ = f"Nastavnik{Base.__name__}"
    return Trainer


def preference_args(config: TrainConfig, backend, paths, device=None):
    """DPOConfig / ORPOConfig with the run's settings (the same schedule and logging as SFT)."""
    from core.train.pipeline import schedule_args

    kwargs = dict(schedule_args(config, backend, paths, device), beta=config.beta)
    if config.method == "dpo":
        from trl import DPOConfig

        losses = ["sigmoid"] + (["sft"] if config.sft_weight > 0 else [])
        return DPOConfig(**kwargs, loss_type=losses, loss_weights=[1.0] + ([config.sft_weight] if config.sft_weight > 0 else []),
                         precompute_ref_log_probs=False, include_num_input_tokens_seen=True, remove_unused_columns=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl.experimental.orpo import ORPOConfig
    # ORPO's batches have no input_ids column for the trainer to count tokens by
    return ORPOConfig(**kwargs, include_num_input_tokens_seen=False, remove_unused_columns=False)


def make_trainer(config: TrainConfig, model, processing_class, train_ds, args, callbacks):
    from core.train.fused_head import route_other_devices

    if config.method == "dpo":
        route_other_devices()  # DPOTrainer's log-probs go through TRL's Triton-only fused LM head
    cls = trainer_class(config.method)
    kwargs = dict(model=model, args=args, train_dataset=train_ds, processing_class=processing_class, callbacks=callbacks)
    if config.method == "dpo":
        kwargs["ref_model"] = None  # the frozen ``ref`` copy of the start adapter (see above)
    trainer = cls(**kwargs)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def reference_of(config: TrainConfig, trainer) -> str:
    """What the DPO reference is, in words, for ``runs show``."""
    if config.method != "dpo":
        return "none (ORPO compares the answers under the policy itself)"
    model = trainer.accelerator.unwrap_model(trainer.model)
    has_ref = REF_ADAPTER in getattr(model, "peft_config", {})
    if config.from_run is not None:
        return f"run {config.from_run}'s adapter, frozen" if has_ref else f"the base (adapters disabled), not run {config.from_run}"
    return "the base (the new adapter's frozen copy starts equal to it)" if has_ref else "the base (adapters disabled)"


# ---------------------------------------------------------------------------- the start


def start_adapter(backend, model, config: TrainConfig, device, adapter_dir: str | Path | None):
    """The policy: the start run's adapter, loaded trainable, or a new LoRA adapter."""
    if adapter_dir is None:
        from core.train.pipeline import add_adapters

        return add_adapters(backend, model, config, device)
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise UserError(f"run {config.from_run} has no adapter at {adapter_dir}",
                        hint=f"`nastavnik runs show {config.from_run}`; start from a finished run, or leave out --from-run")
    return backend.continue_adapter(model, str(adapter_dir), config, device)


# ---------------------------------------------------------------------------- all of it


def run(config: TrainConfig, base_path: str, paths, *, store: Store | None = None, sink=None, should_stop=None, resume: bool = False,
        on_snapshot=None, on_setup=None, log: Callable[[str], None] | None = None, start_from: str | None = None):
    """The whole preference run (one process): like ``pipeline.run`` for SFT."""
    import math

    from core.train.preference_data import encode_all, to_hf_dataset
    from core.train import device as devices
    from core.train import pipeline

    started = time.monotonic()
    pipeline.quiet()
    device = devices.current()
    backend, model, tokenizer, processing_class = pipeline.load_base(config, base_path, device, log=log)
    model = start_adapter(backend, model, config, device, start_from)
    snap = pipeline.snapshot_dataset(paths, store, method=config.method)
    if on_snapshot and device.main:
        on_snapshot(snap)
    source = pipeline.training_template(tokenizer, config)
    encoded, dropped = encode_all(tokenizer, source, snap, max_len=config.max_seq_len)
    if not encoded:
        raise UserError(f"every preference pair's prompt is longer than {config.max_seq_len} tokens", hint="raise --max-seq-len")
    if dropped and log:
        log(f"warning: {len(dropped)} preference pair(s) left out, their prompt alone is longer than {config.max_seq_len} tokens")
    train_ds = to_hf_dataset(encoded)
    args = preference_args(config, backend, paths, device)
    callbacks = [pipeline.metrics_callback(sink or (lambda row: None), should_stop)]
    resume_from = paths.last_checkpoint() if resume else None
    trainer = make_trainer(config, model, processing_class, train_ds, args, callbacks)
    setup = pipeline.describe(trainer, backend, device)
    setup.update(method=config.method, reference=reference_of(config, trainer), start=(
        f"run {config.from_run}'s adapter" if config.from_run is not None else "a new LoRA adapter on the base"))
    note = pipeline.precision_note(config, setup)
    if note and device.main:
        (log or print)(note)
    if on_setup and device.main:
        on_setup(setup)
    pipeline.train(trainer, None, resume_from=resume_from)
    meta = {"base": base_path, "dataset_sha256": snap.sha256, "steps": trainer.state.global_step, "config": config.to_dict(),
            "setup": setup, "method": config.method, "from_run": config.from_run}
    adapter = paths.adapter
    if device.main:
        adapter = pipeline.save_adapter(trainer.model, tokenizer, paths, base_path, meta, chat_template=source)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    train_loss = losses[-1] if losses else None
    if train_loss is not None and not math.isfinite(train_loss):
        raise UserError("the training loss became NaN", hint="lower --lr or --beta")
    return pipeline.Result(adapter, trainer.state.global_step, train_loss, None, time.monotonic() - started,
                           {"sha256": snap.sha256, "setup": setup, "main": device.main})
