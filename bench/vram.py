"""The VRAM estimate (core/train/vram.py), term by term, against memory measured on tiny replicas.

    .venv/bin/python bench/vram.py            # three replicas, two depths (~10 min on 2 busy cores)
    .venv/bin/python bench/vram.py --quick    # three replicas, one depth
    .venv/bin/python bench/vram.py --smoke    # the Llama replica only, one depth
    .venv/bin/python bench/vram.py --json out.json

Replicas: random-init models of the real classes and config shapes, scaled down (Llama 3.1:
``LlamaConfig``, GQA 4:1, untied; Qwen3: ``Qwen3Config``, q/k norms, untied; Gemma 3:
``Gemma3ForConditionalGeneration`` with a SigLIP vision tower, four norms per layer, sliding
window, tied embeddings), saved in bf16 and loaded back in 4-bit with bitsandbytes on the CPU —
no tokenizer, nothing downloaded. Each replica is loaded the way each backend loads it on a GPU:

- ``hf``: ``BitsAndBytesConfig(nf4, double quant)`` as core/train/backends/hf.py, PEFT's
  ``prepare_model_for_kbit_training`` (float32 upcast of everything not 4-bit), LoRA r=16 on the
  seven projections of the language model, HF gradient checkpointing (non-reentrant), TRL 1.15's
  fused LM head (routed to core/train/fused_head.py's chunked PyTorch path on the CPU), AdamW.
- ``unsloth``: the same load with Unsloth's skip list (``SKIP_QUANTIZATION_MODULES``, read from
  the installed unsloth_zoo source, not imported: importing Unsloth patches TRL for the process),
  no upcast, float32 LoRA, bitsandbytes ``AdamW8bit`` (the backend's ``adamw_8bit``).

How memory is measured (the CPU has no allocator statistics worth the name):
- weights, LoRA, gradients, optimizer: the bytes of every distinct storage — parameters,
  buffers, bitsandbytes quantization state (absmax, nested absmax, code tables), ``.grad`` and
  the optimizer's state tensors — after one optimizer step; exact, device-independent.
- activations: a ``TorchDispatchMode`` sees every tensor an operator creates during a training
  step (forward + backward), keeps a weak reference to its storage and adds its bytes while it
  lives (a view of a storage that was there before — a parameter, a 4-bit weight, optimizer
  state — is not new memory); the peak of that sum is compared with the estimate's activations
  plus the LoRA gradients the step creates. Run in float32 (bf16 matmuls are emulated and ~25×
  slower on this CPU): the estimate is evaluated with ``compute_bytes=4`` for it. Three steps:
  the backbone alone (checkpointed residuals, the recomputed layer, masks: a loss on the final
  hidden state), the whole step with TRL's fused head (on the CPU path), and the whole step
  with the full-logits loss of older stacks (what the published Hugging Face figures were
  measured with).

Not measurable here, printed as such: the CUDA context and allocator overhead, and Unsloth's
activations (its Triton kernels and host offload need CUDA) — both are calibrated against the
published totals, printed at the end (core/train/vram.py ``PUBLISHED``).

Each line: ``name: ratio=measured/estimated goal=…``.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import sys
import tempfile
import time
import weakref
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MiB = 2**20
R = 16  # LoRA rank: r × 256 = 4096 values, the smallest tensor bitsandbytes' 8-bit Adam quantizes
GOALS = {"exact": (0.97, 1.03), "activations": (0.8, 1.25)}


# ---------------------------------------------------------------------------- replicas


def replica_config(arch: str, layers: int):
    """A scaled-down config of the family's real class: (config, model class name)."""
    if arch == "llama3.1":
        from transformers import LlamaConfig

        return LlamaConfig(hidden_size=256, intermediate_size=896, num_hidden_layers=layers, num_attention_heads=4,
                           num_key_value_heads=1, head_dim=64, vocab_size=4096, tie_word_embeddings=False,
                           rope_theta=500000.0, max_position_embeddings=2048)
    if arch == "qwen3":
        from transformers import Qwen3Config

        return Qwen3Config(hidden_size=256, intermediate_size=768, num_hidden_layers=layers, num_attention_heads=4,
                           num_key_value_heads=1, head_dim=64, vocab_size=4096, tie_word_embeddings=False,
                           max_position_embeddings=2048)
    if arch == "gemma3":
        from transformers import Gemma3Config

        kinds = ["sliding_attention"] * (layers - 1) + ["full_attention"]
        return Gemma3Config(
            text_config=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=layers, num_attention_heads=2,
                             num_key_value_heads=1, head_dim=128, vocab_size=4096, sliding_window=64, layer_types=kinds,
                             max_position_embeddings=2048),
            vision_config=dict(hidden_size=64, intermediate_size=240, num_hidden_layers=2, num_attention_heads=2,
                               image_size=64, patch_size=8, vision_use_head=False),
            mm_tokens_per_image=16, image_token_index=4000, boi_token_index=4001, eoi_token_index=4002,
        )
    raise SystemExit(f"unknown arch {arch}")


def build(arch: str, layers: int, out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Gemma3ForConditionalGeneration

    cfg = replica_config(arch, layers)
    torch.manual_seed(0)
    model = Gemma3ForConditionalGeneration(cfg) if arch == "gemma3" else AutoModelForCausalLM.from_config(cfg)
    model.to(torch.bfloat16).save_pretrained(out)
    return out


def replica_preset(arch: str, layers: int, model):
    """The replica's shape as a Preset, so the estimate is evaluated on exactly its numbers."""
    from core.train.presets import Preset

    cfg = replica_config(arch, layers)
    text = cfg.get_text_config()
    vision_linear = vision_other = 0
    vision_layers = 0
    for name, p in model.named_parameters():
        if "vision_tower" in name or "multi_modal_projector" in name:
            if name.endswith(".weight") and any(k in name for k in ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")):
                vision_linear += math.prod(_logical_shape(p))
            else:
                vision_other += p.numel()
    if arch == "gemma3":
        vision_layers = cfg.vision_config.num_hidden_layers
    return Preset(
        f"replica-{arch}", "", "", 0.0, text.hidden_size, text.num_hidden_layers, text.vocab_size,
        intermediate=text.intermediate_size, heads=text.num_attention_heads, kv_heads=text.num_key_value_heads,
        head_dim=text.head_dim, tied_embeddings=bool(getattr(text, "tie_word_embeddings", False) or getattr(cfg, "tie_word_embeddings", False)),
        norms_per_layer=4 if arch == "gemma3" else 2, qk_norm=arch in ("gemma3", "qwen3"),
        sliding_window=(text.sliding_window or 0) if arch == "gemma3" else 0,
        vision_layers=vision_layers, vision_linear_m=vision_linear / 1e6, vision_other_m=vision_other / 1e6,
        lora_r=R, load_in_4bit=True,
    )


def _logical_shape(p):
    qs = getattr(p, "quant_state", None)
    return tuple(qs.shape) if qs is not None else tuple(p.shape)


def unsloth_skip_modules() -> list[str]:
    """``SKIP_QUANTIZATION_MODULES`` from the installed unsloth_zoo, read without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("unsloth_zoo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("unsloth_zoo is not installed: the unsloth layout needs its skip list")
    source = Path(list(spec.submodule_search_locations)[0], "peft_utils.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SKIP_QUANTIZATION_MODULES" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise SystemExit("SKIP_QUANTIZATION_MODULES not found in unsloth_zoo/peft_utils.py")


def load(path: Path, backend: str):
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    # Unsloth patches transformers 5's skip matching (re.match from the start of the name) to match
    # whole dotted components anywhere ("vision_tower" skips "model.vision_tower.…"); the same
    # rule here, written as patterns the unpatched matcher accepts
    extra = {"llm_int8_skip_modules": [rf"(.*\.)?{re.escape(k)}(?=\.|$)" for k in unsloth_skip_modules()]} if backend == "unsloth" else {}
    if backend == "hf":  # the hf backend's own skip list (core/train/backends/hf.py): the towers stay unquantized
        from core.train.modules import NOT_QUANTIZED

        extra = {"llm_int8_skip_modules": list(NOT_QUANTIZED)}
    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                           bnb_4bit_compute_dtype=torch.float32, **extra)
    model = AutoModelForCausalLM.from_pretrained(path, quantization_config=q, dtype=torch.bfloat16, device_map={"": "cpu"})
    if backend == "hf":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False})
    else:  # Unsloth keeps the loaded dtype; compute in float32 on this CPU (the estimate uses 4 bytes)
        for p in model.parameters():
            p.requires_grad_(False)
    return model


def add_lora(model):
    from peft import LoraConfig, get_peft_model

    names = "|".join(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    lora = LoraConfig(r=R, lora_alpha=R, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=rf"^(?!.*vision).*\.({names})$")  # the language model only
    model = get_peft_model(model, lora)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()  # PEFT and Unsloth both train float32 adapters
    return model


# ---------------------------------------------------------------------------- measuring


def storages_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        st = t.untyped_storage()
        if st.data_ptr() in seen or st.nbytes() == 0:
            continue
        seen.add(st.data_ptr())
        total += st.nbytes()
    return total


def quant_state_tensors(model):
    for p in model.parameters():
        qs = getattr(p, "quant_state", None)
        if qs is None:
            continue
        yield from (t for t in (qs.absmax, qs.code, getattr(qs, "offset", None)) if t is not None and hasattr(t, "untyped_storage"))
        s2 = getattr(qs, "state2", None)
        if s2 is not None:
            yield from (t for t in (s2.absmax, s2.code) if t is not None)


class LiveBytes:
    """A dispatch mode: bytes of the storages operators created inside it that are still alive.

    ``existing`` are tensors whose storage was there before (parameters, quantization state,
    gradients, optimizer state): a view of one (``w.t()``, a reshaped 4-bit weight) is not new memory.
    """

    def __new__(cls, existing=()):
        from torch.utils._python_dispatch import TorchDispatchMode

        known = {t.untyped_storage().data_ptr() for t in existing}

        class Mode(TorchDispatchMode):
            def __init__(self):
                super().__init__()
                self.live = self.peak = 0
                self._refs: dict[int, weakref.ref] = {}

            def _gone(self, key: int, n: int) -> None:
                if self._refs.pop(key, None) is not None:
                    self.live -= n

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                import torch
                from torch.utils._pytree import tree_flatten

                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    if not isinstance(t, torch.Tensor):
                        continue
                    st = t.untyped_storage()
                    key, n = st.data_ptr(), st.nbytes()
                    if n == 0 or key in self._refs or key in known:
                        continue
                    try:
                        self._refs[key] = weakref.ref(st, lambda _r, k=key, n=n: self._gone(k, n))
                    except TypeError:
                        continue
                    self.live += n
                    self.peak = max(self.peak, self.live)
                return out

        return Mode()


def batch(vocab: int, seq: int, b: int):
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(10, vocab - 200, (b, seq), generator=g)
    labels = ids.clone()
    labels[:, : seq // 4] = -100  # a prompt part that carries no loss, as with answer-only masks
    return ids, labels


def measure(arch: str, backend: str, layers: int, seq: int, b: int, tmp: Path) -> dict:
    """Measured terms and the estimate's, for one replica, layout and micro-batch."""
    import torch

    from core.train.fused_head import route_other_devices
    from core.train.vram import estimate_vram

    path = tmp / f"{arch}-{layers}"
    if not (path / "config.json").exists():
        build(arch, layers, path)
    model = load(path, backend)
    preset = replica_preset(arch, layers, model)
    model = add_lora(model)
    lm = model.get_base_model()
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p for p in model.parameters() if not p.requires_grad]
    if backend == "hf":
        optim = torch.optim.AdamW(trainable, lr=1e-4)  # the hf backend's adamw_torch
    else:
        import bitsandbytes as bnb

        optim = bnb.optim.AdamW8bit(trainable, lr=1e-4)  # the unsloth backend's adamw_8bit
    ids, labels = batch(preset.vocab, seq, b)
    out = {"arch": arch, "backend": backend, "layers": layers, "tokens": seq * b}

    def backbone_step():  # the decoder without the LM head: a loss on the final hidden state
        h = lm.model(input_ids=ids).last_hidden_state if hasattr(lm, "model") else None
        (h.float().pow(2).mean()).backward()

    def head_step():
        from trl.trainer.utils import add_fused_lm_head

        if not getattr(lm, "_vram_fused", False):
            route_other_devices()
            add_fused_lm_head(lm, outputs=("log_probs", "entropy", "is_top1"))
            lm._vram_fused = True
        model(input_ids=ids, labels=labels, fused_lm_head=True).loss.backward()

    def logits_step():
        model(input_ids=ids, labels=labels).loss.backward()

    if backend == "hf":
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    head_step()  # first step: optimizer state, then measure the second
    optim.step()
    optim.zero_grad(set_to_none=True)
    lora_params = storages_bytes(trainable)
    out["measured"] = {
        "weights": storages_bytes(list(frozen) + list(model.buffers()) + list(quant_state_tensors(model))),
        "lora.params": lora_params,
        "lora.optimizer": storages_bytes([v for s in optim.state.values() for v in s.values() if torch.is_tensor(v) and v.dim() > 0]),
    }
    if backend == "hf":
        peaks = {}
        existing = [*model.parameters(), *model.buffers(), *quant_state_tensors(model),
                    *(v for st in optim.state.values() for v in st.values() if torch.is_tensor(v))]
        for name, step in (("backbone", backbone_step), ("fused_head", head_step), ("logits", logits_step)):
            mode = LiveBytes(existing)
            with mode:
                step()
            peaks[name] = mode.peak  # with the LoRA gradients the step created
            out["measured"]["lora.grads"] = storages_bytes([p.grad for p in trainable if p.grad is not None])
            optim.zero_grad(set_to_none=True)
        out["measured"]["activations.backbone"] = peaks["backbone"]
        out["measured"]["activations.fused_head"] = peaks["fused_head"]
        out["measured"]["activations.full_logits"] = peaks["logits"]
    else:
        head_step()
        out["measured"]["lora.grads"] = storages_bytes([p.grad for p in trainable if p.grad is not None])
    est = estimate_vram(preset, backend=backend, max_seq_len=seq, batch_size=b, lora_r=R, load_in_4bit=True, compute_bytes=4)
    logits = estimate_vram(preset, backend=backend, max_seq_len=seq, batch_size=b, lora_r=R, load_in_4bit=True, compute_bytes=4, loss="logits")
    p = est.parts
    stream = 4
    out["estimated"] = {
        "weights": est.weights,
        "lora.params": p["lora.params"],
        "lora.grads": p["lora.grads"],
        "lora.optimizer": p["lora.optimizer"],
    }
    if backend == "hf":
        d = est.detail
        fixed = p["activations.residuals"] + p.get("activations.masks", 0) + p["lora.grads"]
        # the CPU path of the fused head (core/train/fused_head.py): the hidden states and their
        # gradient as on a GPU, then chunks of rows × vocab float32 values (CHUNK_ELEMENTS), about
        # four live at once while a chunk is recomputed and differentiated (logits, log-softmax,
        # its exp for the entropy, a gradient; measured) where TRL's CUDA kernel keeps one tile
        from core.train.fused_head import CHUNK_ELEMENTS

        rows = max(1, CHUNK_ELEMENTS // preset.vocab)
        trained = int((labels[:, 1:] != -100).sum())
        cpu_head = seq * b * preset.hidden * (stream + 4) + 4 * min(trained, rows) * preset.vocab * 4
        out["estimated"]["activations.backbone"] = fixed + d["activations.layer"]
        out["estimated"]["activations.fused_head"] = fixed + max(d["activations.layer"], cpu_head)
        out["estimated"]["activations.full_logits"] = fixed + max(d["activations.layer"], logits.detail["activations.head"])
    model = lm = optim = None  # the replica goes before the next one loads (the step closures hold these names)
    return out


# ---------------------------------------------------------------------------- report


def goal_for(term: str) -> tuple[float, float]:
    return GOALS["activations"] if term.startswith("activations") else GOALS["exact"]


def report(rows: list[dict]) -> list[str]:
    lines, bad = [], []
    for row in rows:
        for term, est in row["estimated"].items():
            got = row["measured"].get(term)
            if got is None or not est:
                continue
            ratio = got / est
            lo, hi = goal_for(term)
            name = f"{row['arch']}/{row['backend']}/L{row['layers']}/{row['tokens']}tok {term}"
            ok = lo <= ratio <= hi
            lines.append(f"{name}: ratio={ratio:.3f} goal={lo}–{hi}  (measured {got / MiB:.2f} MiB, estimated {est / MiB:.2f} MiB){'' if ok else '  OUTSIDE'}")
            if not ok:
                bad.append(name)
    lines.append("overhead (CUDA context, allocator): not measurable on the CPU — calibrated on the published totals below")
    lines.append("unsloth activations: not measurable on the CPU (Triton kernels, host offload) — calibrated on the published totals below")
    from core.train.vram import published_checks

    for c in published_checks():
        settings = ", ".join(f"{k}={v}" for k, v in c["settings"].items()) or "preset defaults"
        ok = 0.75 <= c["ratio"] <= 1.25
        lines.append(
            f"published {c['preset']}/{c['backend']} ({settings}): ratio={1 / c['ratio']:.3f} goal=0.8–1.33 "
            f"(published {c['published_gib']} GiB, estimated {c['estimate_gib']} GiB; {c['source']}){'' if ok else '  OUTSIDE'}"
        )
        if not ok:
            bad.append(f"published {c['preset']}/{c['backend']}")
    lines.append(f"vram: {len(bad)} outside their goal" + (": " + ", ".join(bad) if bad else ""))
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one depth per replica")
    ap.add_argument("--smoke", action="store_true", help="the Llama replica only, one depth, short")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    archs = ["llama3.1"] if args.smoke else ["llama3.1", "qwen3", "gemma3"]
    depths = [2] if (args.smoke or args.quick) else [2, 4]
    seq, b = (128, 2) if args.smoke else (256, 2)
    rows = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nastavnik-vram-") as tmp:
        for arch in archs:
            for layers in depths:
                for backend in ("hf", "unsloth"):
                    t = time.monotonic()
                    rows.append(measure(arch, backend, layers, seq, b, Path(tmp)))
                    print(f"measured {arch}/{backend}/L{layers} in {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    lines = report(rows)
    print("\n".join(lines))
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0 if lines[-1].startswith("vram: 0 ") else 1


if __name__ == "__main__":
    sys.exit(main())
