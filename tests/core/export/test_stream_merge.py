"""The streaming merge writes what PEFT's ``merge_and_unload`` + ``save_pretrained`` write, tensor for tensor.

Each case trains nothing: it gives a replica of a real family a LoRA whose B is random (a
trained adapter changes the weights; B = 0 would merge to nothing) and, where the case says
so, the embeddings and the output head trained in full (``modules_to_save``, the demo
preset's), then merges it both ways — in memory (``merge_in_memory``, PEFT's own merge) and
tensor by tensor (``stream_merge``) — and compares every tensor with ``torch.equal`` and its
dtype: the same names, the same values, no tolerance. The cases cover the layouts the stream
has to find its way through: the Gemma 3/4 and Qwen 3.5 towers and renamed checkpoint keys,
the tied embeddings of Gemma 3/4 (trained in full: untied on save), 4-bit bases dequantized
one tensor at a time, a bf16 base (the float32 delta added with one rounding), rsLoRA and
per-module rank and alpha patterns.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.export.source import Source

PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _tensors(folder: Path) -> dict:
    from safetensors import safe_open

    out = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():
                out[key] = f.get_tensor(key)
    return out


def _adapter(model_dir: Path, out: Path, *, full: bool = False, **lora) -> Path:
    """A LoRA on every projection of the language model (random B), saved as a run saves it."""
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    from core.train.modules import lora_targets

    cls_name = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["architectures"][0]
    model = getattr(transformers, cls_name).from_pretrained(str(model_dir), dtype=torch.float32)
    targets, _ = lora_targets(model, PROJECTIONS)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets,
                                             modules_to_save=["embed_tokens", "lm_head"] if full else None, **lora))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
            elif "modules_to_save" in name:
                p.add_(torch.randn(p.shape, generator=generator) * 0.01)
    model.save_pretrained(str(out))
    (out / "nastavnik_run.json").write_text(json.dumps({"model_class": cls_name}), encoding="utf-8")
    return out


def _bf16_copy(src: Path, out: Path) -> Path:
    """The replica stored in bf16, as today's checkpoints are."""
    import torch
    import transformers

    cls_name = json.loads((src / "config.json").read_text(encoding="utf-8"))["architectures"][0]
    getattr(transformers, cls_name).from_pretrained(str(src), dtype=torch.bfloat16).save_pretrained(str(out))
    for item in src.iterdir():
        if item.is_file() and not (out / item.name).exists():
            shutil.copy2(item, out / item.name)
    return out


CASES = {
    "llama3.1": dict(arch="llama3.1"),
    "qwen3": dict(arch="qwen3"),
    "gemma3-full-rslora": dict(arch="gemma3", full=True, lora={"use_rslora": True}),  # tied embeddings trained in full
    "gemma4": dict(arch="gemma4"),
    "qwen3.5-full": dict(arch="qwen3.5", full=True),
    "llama3.1-4bit-full": dict(arch="llama3.1", four_bit=True, full=True),
    "gemma3-4bit": dict(arch="gemma3", four_bit=True),
    "llama3.1-bf16-patterns": dict(arch="llama3.1", bf16=True,
                                   lora={"rank_pattern": {"q_proj": 2}, "alpha_pattern": {"down_proj": 3}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_streaming_merge_equals_peft_merge_and_unload_tensor_for_tensor(case, replica, tmp_path):
    import torch

    from core.export.merge import merge_in_memory
    from core.export.stream_merge import stream_merge

    spec = CASES[case]
    plain = replica(spec["arch"])
    base = _bf16_copy(plain, tmp_path / "bf16") if spec.get("bf16") else replica(spec["arch"], prequantized=spec.get("four_bit", False))
    adapter = _adapter(base if spec.get("bf16") else plain, tmp_path / "adapter", full=spec.get("full", False), **spec.get("lora", {}))
    model_class = json.loads((base / "config.json").read_text(encoding="utf-8"))["architectures"][0]
    source = Source("case", model_dir=base.resolve(), adapter_dir=adapter, model_class=model_class)

    expected = _tensors(merge_in_memory(source, tmp_path / "peft"))
    streamed_dir = stream_merge(source, tmp_path / "stream")
    got = _tensors(streamed_dir)

    assert sorted(got) == sorted(expected)
    unequal = [k for k in expected if got[k].dtype != expected[k].dtype or not torch.equal(got[k], expected[k])]
    assert unequal == []
    # the adapter did change the weights (an equal pair of unmerged bases would pass the above)
    stored = _tensors(plain)
    down = next(k for k in expected if k.endswith("layers.0.mlp.down_proj.weight") and "vision" not in k and "visual" not in k)
    assert float((got[down].float() - stored[down].float()).abs().max()) > 1e-3
    peft_config = json.loads((tmp_path / "peft" / "config.json").read_text(encoding="utf-8"))
    assert json.loads((streamed_dir / "config.json").read_text(encoding="utf-8")) == peft_config
    info = json.loads((streamed_dir / "nastavnik_merge.json").read_text(encoding="utf-8"))
    assert info["streamed"] is True and info["how"] == ("dequantized" if spec.get("four_bit") else "base")


def test_what_cannot_be_streamed_is_merged_in_memory_and_the_export_says_why(replica, tmp_path):
    """A DoRA adapter rescales each merged weight by its magnitude vector: the export falls back to PEFT's
    merge and the merge record (the export log's line) says so."""
    from core.export.merge import merge
    from core.export.siblings import describe_merge

    base = replica("llama3.1")
    adapter = _adapter(base, tmp_path / "dora", use_dora=True)
    out = merge(Source("dora", model_dir=base.resolve(), adapter_dir=adapter, model_class="LlamaForCausalLM"), tmp_path / "out")
    info = describe_merge(out)
    assert info["streamed"] is False and "DoRA" in info["fallback"]
    assert "merged in memory" in info["message"] and "DoRA" in info["message"]
    assert list(out.glob("*.safetensors"))
