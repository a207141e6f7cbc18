"""What a training run is asked to do: one dataclass, validated, stored as JSON with the run.

``method`` picks the objective: ``sft`` (the approved pairs, TRL's SFTTrainer), ``dpo`` or
``orpo`` (the preference pairs, TRL's DPOTrainer / ORPOTrainer; see core/train/preference.py
for what the policy starts from and what the reference is). ``from_run`` starts a preference
run from a finished run's adapter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from core.errors import UserError
from core.train.backends import NAMES as BACKEND_NAMES
from core.train.device import DTYPES
from core.train.presets import PRESETS, get_preset
from core.train.templates import TEMPLATES

BACKENDS = ("auto", *BACKEND_NAMES)  # what --backend and the Train form offer
METHODS = ("sft", "dpo", "orpo")
BEST_METRICS = ("chrf", "eval_loss", "judge")  # what picks a run's best checkpoint (core/train/answer_eval.py)
PREFERENCE_METHODS = ("dpo", "orpo")
#: what a preset sets in the config of a run made from it (besides its base, name and targets): its
#: training defaults, never a chat template: a base trains in its checkpoint's own format unless
#: the run names another on purpose (``template``), whichever preset filled the form first
PRESET_CARRIES = ("lr", "lora_r", "lora_alpha", "epochs", "max_seq_len", "batch_size", "grad_accum",
                  "load_in_4bit", "group_by_length")


def _help(text: str) -> dict[str, str]:
    """A field's help, said once: `nastavnik train --help` and the Train form's tooltips read it."""
    return {"help": text}


def field_help(name: str) -> str:
    """The help of the TrainConfig field ``name`` ("" for a field that has none)."""
    return TrainConfig.__dataclass_fields__[name].metadata.get("help", "")


@dataclass
class TrainConfig:
    base: str = field(metadata=_help("Base model: a name from `models list`, a folder, or a hub id."))
    preset: str | None = field(default=None, metadata=_help("Settings for a known base (default: demo)."))
    backend: str = field(default="auto", metadata=_help("auto: Unsloth on a CUDA GPU, else transformers+PEFT; unsloth also runs on the CPU."))
    template: str = field(default="", metadata=_help("Chat template to train in instead of the base's own (default: the base checkpoint's own)."))  # "" = the base's own
    epochs: float = field(default=1.0, metadata=_help("Passes over the train split."))
    max_steps: int = field(default=-1, metadata=_help("Stop after this many optimizer steps (overrides --epochs)."))  # > 0 overrides epochs
    lr: float = field(default=2e-4, metadata=_help("Learning rate."))
    lora_r: int = field(default=16, metadata=_help("LoRA rank."))
    lora_alpha: int = field(default=16, metadata=_help("LoRA alpha."))
    lora_dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    max_seq_len: int = field(default=2048, metadata=_help("Longest example in tokens (longer ones are cut)."))
    batch_size: int = field(default=2, metadata=_help("Examples per device per step."))
    grad_accum: int = field(default=4, metadata=_help("Steps of gradient accumulation."))
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    save_steps: int = field(default=50, metadata=_help("Checkpoint every N steps."))
    eval_steps: int = field(default=0, metadata=_help(
        "Evaluate every N steps on the eval split: eval loss, and chrF of greedy answers to a few of its questions; "
        "a checkpoint is kept at each (0: once at the end, eval loss only)."))
    answer_eval_max: int = field(default=8, metadata=_help(
        "Eval-split questions answered at each evaluation (the cost of an evaluation grows with it; 0: eval loss only)."))
    best_metric: str = field(default="chrf", metadata=_help(
        "What picks the best checkpoint: chrf (of the answers, higher is better), eval_loss (lower is better) "
        "or judge (the judge's mean 1–5 score of the answers, higher is better; needs --judge)."))
    judge: str = field(default="", metadata=_help(
        "A GGUF judge (a name from `models list` or a .gguf path) that also scores the answers at each evaluation, "
        "1–5 by the workspace's rubric (one short reply per answer: slower evaluations; default: none)."))
    early_stop_patience: int = field(default=0, metadata=_help(
        "Stop after N evaluations without a better best_metric (0: never stop early)."))
    logging_steps: int = 1
    seed: int = field(default=3407, metadata=_help("Random seed: the shuffle, the split of the batches and the LoRA weights' start."))
    load_in_4bit: bool = field(default=True, metadata=_help("QLoRA on a 4-bit (nf4) base, or LoRA on 16/32-bit weights (default: the preset's)."))
    dtype: str = field(default="auto", metadata=_help("Compute dtype (auto: bf16 on GPUs that have it, else fp16; fp32 on the CPU)."))
    packing: bool = field(default=False, metadata=_help("Pack short examples together (padding-free)."))
    # SFT: batch examples of similar length together (transformers' length-grouped sampler): less
    # padding to compute, each example still once per epoch, the order still shuffled per epoch
    group_by_length: bool = field(default=False, metadata=_help("SFT: batch examples of similar length together, less padding to compute (default: the preset's)."))
    num_gpus: int = field(default=1, metadata=_help("Data-parallel on N CUDA GPUs (hf backend, accelerate launch)."))
    num_processes: int = field(default=1, metadata=_help("Data-parallel in N CPU processes: the --gpus path without GPUs."))
    method: str = field(default="sft", metadata=_help("sft: the approved pairs (default); dpo or orpo: the preference pairs (`nastavnik prefs list`)."))
    from_run: int | None = field(default=None, metadata=_help("DPO/ORPO: start from run N's adapter, on its base with its settings; DPO keeps it, frozen, as the reference."))
    beta: float = field(default=0.1, metadata=_help("DPO: the KL strength β (0.1); ORPO: the weight λ of its odds-ratio term (0.1)."))
    sft_weight: float = field(default=1.0, metadata=_help("DPO: weight of the chosen answers' NLL added to the DPO loss (1.0; 0: plain DPO)."))

    @property
    def preference(self) -> bool:
        """Whether this run trains on the preference pairs (DPO, ORPO) rather than the approved pairs."""
        return self.method in PREFERENCE_METHODS

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "TrainConfig":
        p = get_preset(name)
        cfg = cls(base=p.base, preset=p.name, targets=list(p.targets), **{f: getattr(p, f) for f in PRESET_CARRIES})
        return cfg.with_(**{k: v for k, v in overrides.items() if v is not None})

    def with_(self, **changes) -> "TrainConfig":
        known = {f.name for f in fields(self)}
        bad = set(changes) - known
        if bad:
            raise UserError(f"unknown training setting(s): {', '.join(sorted(bad))}", code="train.unknown_setting",
                            params={"names": ", ".join(sorted(bad))})
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def validate(self) -> "TrainConfig":
        """Raise a UserError naming the first bad field and what to do.

        Each carries a code (``train.<what>``) and the bad value, so the app says it in its own
        language and names its form's fields where the English names the CLI's flags.
        """
        def bad(name: str, why: str, hint: str, code: str, **params) -> UserError:
            return UserError(f"{name}: {why}", hint=hint, code=f"train.{code}", params={"field": name, **params})

        if not self.base or not str(self.base).strip():
            raise bad("base", "no base model given", "pass --base NAME or --preset (see `nastavnik models list`)", "no_base")
        if self.preset is not None and self.preset not in PRESETS:
            raise bad("preset", f"unknown preset {self.preset!r}", "one of: " + ", ".join(PRESETS), "unknown_preset",
                      value=self.preset, allowed=", ".join(PRESETS))
        if self.backend not in BACKENDS:
            raise bad("backend", f"unknown backend {self.backend!r}", "one of: " + ", ".join(BACKENDS), "unknown_backend",
                      value=self.backend, allowed=", ".join(BACKENDS))
        if self.dtype not in DTYPES:
            raise bad("dtype", f"unknown dtype {self.dtype!r}", "one of: " + ", ".join(DTYPES), "unknown_dtype",
                      value=self.dtype, allowed=", ".join(DTYPES))
        if self.template and self.template not in TEMPLATES:
            raise bad("template", f"unknown chat template {self.template!r}", "one of: " + ", ".join(TEMPLATES),
                      "unknown_template", value=self.template, allowed=", ".join(TEMPLATES))
        if self.max_steps <= 0 and not self.epochs > 0:
            raise bad("epochs", "must be above 0 (or give --steps)", "try --epochs 1", "no_epochs", value=self.epochs)
        if self.epochs > 100:
            raise bad("epochs", f"{self.epochs} epochs is far too many", "1–5 epochs is usual for a small dataset",
                      "too_many_epochs", value=self.epochs)
        if not 0 < self.lr < 1:
            raise bad("lr", f"learning rate {self.lr} is out of range", "try 2e-4 for LoRA on a large model", "bad_lr",
                      value=self.lr)
        if not 1 <= self.lora_r <= 1024:
            raise bad("lora_r", f"rank {self.lora_r} is out of range", "8, 16 or 32 are usual", "bad_rank", value=self.lora_r)
        if self.lora_alpha < 1:
            raise bad("lora_alpha", "must be at least 1", "set it equal to the rank or twice it", "bad_alpha",
                      value=self.lora_alpha)
        if not 0 <= self.lora_dropout < 1:
            raise bad("lora_dropout", "must be in [0, 1)", "0 is usual", "bad_dropout", value=self.lora_dropout)
        if not 16 <= self.max_seq_len <= 131072:
            raise bad("max_seq_len", f"{self.max_seq_len} tokens is out of range", "512–4096 is usual", "bad_max_len",
                      value=self.max_seq_len)
        if self.batch_size < 1 or self.grad_accum < 1:
            raise bad("batch_size", "batch size and accumulation must be at least 1", "try --batch-size 2 --grad-accum 4",
                      "bad_batch", value=self.batch_size, accum=self.grad_accum)
        if self.save_steps < 1:
            raise bad("save_steps", "must be at least 1", "a checkpoint every 50 steps is usual", "bad_save_steps",
                      value=self.save_steps)
        if self.eval_steps < 0:
            raise bad("eval_steps", "must be 0 or more", "0 evaluates at the end only; 20–50 is usual", "eval_steps")
        if self.answer_eval_max < 0:
            raise bad("answer_eval_max", "must be 0 or more", "8 questions keep an evaluation cheap", "answer_eval_max")
        if self.best_metric not in BEST_METRICS:
            raise bad("best_metric", f"unknown metric {self.best_metric!r}", "one of: " + ", ".join(BEST_METRICS), "best_metric",
                      metric=str(self.best_metric))
        if self.best_metric == "chrf" and self.eval_steps and not self.answer_eval_max:
            raise bad("best_metric", "chrf needs answers: --answer-eval-max is 0",
                      "raise --answer-eval-max, or pick the best by --best-metric eval_loss", "chrf_needs_answers")
        if self.best_metric == "judge" and not self.judge:
            raise bad("best_metric", "judge needs a judge: --judge is not set",
                      "name a GGUF judge with --judge NAME, or pick the best by --best-metric chrf", "judge_needs_judge")
        if self.judge and not (self.eval_steps and self.answer_eval_max):
            raise bad("judge", "a judge scores the answers at evaluations: there are none",
                      "add --eval-steps N (and keep --answer-eval-max above 0), or leave out --judge", "judge_needs_answers")
        if self.judge and max(self.num_gpus, self.num_processes) > 1:
            raise bad("judge", "a judge runs beside a one-device run only", "leave out --gpus/--processes, or --judge",
                      "judge_one_device")
        if self.early_stop_patience < 0:
            raise bad("early_stop_patience", "must be 0 or more", "0 never stops early; 3 is usual", "patience")
        if self.early_stop_patience and not self.eval_steps:
            raise bad("early_stop_patience", "an early stop needs evaluations during the run",
                      "add --eval-steps N (and an eval split)", "patience_needs_eval")
        if not self.targets:
            raise bad("targets", "no LoRA target modules", "e.g. q_proj,k_proj,v_proj,o_proj", "no_targets")
        if self.num_gpus < 1:
            raise bad("num_gpus", "must be at least 1", "1 unless you have several GPUs", "bad_gpus", value=self.num_gpus)
        if self.num_processes < 1:
            raise bad("num_processes", "must be at least 1", "1, or 2 to try data-parallel training on the CPU",
                      "bad_processes", value=self.num_processes)
        if self.num_gpus > 1 and self.num_processes > 1:
            raise bad("num_processes", "--gpus and --processes cannot be combined", "--gpus N on GPUs, --processes N on the CPU",
                      "gpus_and_processes")
        if self.method not in METHODS:
            raise bad("method", f"unknown training method {self.method!r}", "one of: " + ", ".join(METHODS),
                      "unknown_method", value=self.method, allowed=", ".join(METHODS))
        if self.from_run is not None and not self.preference:
            raise bad("from_run", "--from-run starts a DPO or ORPO run from a finished run",
                      "add --method dpo or --method orpo, or leave out --from-run", "from_run_needs_preferences",
                      id=self.from_run)
        if self.preference:
            if not 0 < self.beta <= 10:
                raise bad("beta", f"beta {self.beta} is out of range", "0.1 is usual (0.01–0.5)", "bad_beta", value=self.beta)
            if not 0 <= self.sft_weight <= 10:
                raise bad("sft_weight", f"{self.sft_weight} is out of range", "1.0 keeps the chosen answers likely; 0 is plain DPO",
                          "bad_sft_weight", value=self.sft_weight)
            if max(self.num_gpus, self.num_processes) > 1:
                raise bad("num_gpus", f"--method {self.method} trains on one device",
                          "leave out --gpus/--processes (data-parallel runs are SFT only for now)", "preference_one_device",
                          method=self.method)
        return self
