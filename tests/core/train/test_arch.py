"""The memory estimate of any checkpoint, from its own config.json: the presets' numbers as
config.json fixtures give the same estimate, the architecture adds up to what transformers
builds from the config, the parameter count is right for bf16 and 4-bit weights, and a shape the
estimate does not know is said, not guessed."""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path

import pytest

from core.errors import UserError
from core.train.arch import arch_from_config, checkpoint_arch, safetensors_params
from core.train.config import TrainConfig
from core.train.presets import PRESETS, get_preset
from core.train.vram import GiB, base_arch, estimate_vram, param_counts, smallest_card

FIXTURES = Path(__file__).parent / "fixtures"  # config.json written from the numbers each preset cites
CHECKPOINTS = sorted(p.name for p in FIXTURES.iterdir() if (p / "config.json").is_file())


def _config(name: str) -> dict:
    return json.loads((FIXTURES / name / "config.json").read_text(encoding="utf-8"))


def test_every_preset_but_the_demo_has_a_config_fixture():
    assert CHECKPOINTS == sorted(n for n in PRESETS if n != "demo" and PRESETS[n].known)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_a_presets_config_json_gives_the_presets_estimate(name):
    arch, preset = checkpoint_arch(FIXTURES / name), get_preset(name)
    assert param_counts(arch) == {**param_counts(preset), "other": 0}
    assert arch.params_b == pytest.approx(preset.params_b, rel=0.01)  # the model card's figure
    for backend in ("unsloth", "hf"):
        for settings in ({}, {"max_seq_len": 512, "batch_size": 1}, {"max_seq_len": 8192, "lora_r": 64}):
            got = estimate_vram(arch, backend=backend, **settings).total
            assert got == pytest.approx(estimate_vram(preset, backend=backend, **settings).total, rel=1e-9)


def _meta_count(config: dict) -> int:
    """Parameters of transformers' own model built from ``config`` on the meta device (no memory)."""
    import torch
    import transformers

    cfg = transformers.AutoConfig.for_model(**copy.deepcopy(config))
    auto = transformers.AutoModelForImageTextToText if "vision_config" in config else transformers.AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(cfg)
    return sum(p.numel() for p in model.parameters())


GEMMA4 = {  # Gemma 4's classes at replica size (core/train/replicas.py), and what its configs can say
    "model_type": "gemma4", "tie_word_embeddings": True,
    "text_config": {"model_type": "gemma4_text", "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 6,
                    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 64, "vocab_size": 4096,
                    "vocab_size_per_layer_input": 4096, "hidden_size_per_layer_input": 0, "sliding_window": 32,
                    "layer_types": ["sliding_attention"] * 5 + ["full_attention"], "per_layer_config": {"5": {"head_dim": 128}}},
    "vision_config": {"model_type": "gemma4_vision", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                      "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 32, "patch_size": 16,
                      "position_embedding_size": 1024},
}
# Gemma 4 E2B/E4B's conformer audio tower at a tiny size (the replica has none): heads that do not
# divide the width, unequal subsampling channels, a kernel and output width of its own
GEMMA4_AUDIO = {"model_type": "gemma4_audio", "hidden_size": 36, "num_hidden_layers": 2, "num_attention_heads": 5,
                "subsampling_conv_channels": [24, 8], "conv_kernel_size": 3, "output_proj_dims": 48}
QWEN35 = {
    "model_type": "qwen3_5", "tie_word_embeddings": False,
    "text_config": {"model_type": "qwen3_5_text", "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 4,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 4096,
                    "layer_types": ["linear_attention"] * 3 + ["full_attention"], "linear_conv_kernel_dim": 4,
                    "linear_key_head_dim": 16, "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_value_head_dim": 16},
    "vision_config": {"model_type": "qwen3_5_vision", "depth": 1, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2,
                      "num_position_embeddings": 64, "out_hidden_size": 64, "patch_size": 16, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "in_channels": 3},
}


def _with(config: dict, **text) -> dict:
    out = copy.deepcopy(config)
    out["text_config"].update(text)
    for key in [k for k, v in text.items() if v is None]:
        del out["text_config"][key]
    return out


SHAPES = {
    **{name: _config(name) for name in CHECKPOINTS},
    "gemma4": GEMMA4,
    "gemma4-per-layer-embeddings": _with(GEMMA4, hidden_size_per_layer_input=16),
    "gemma4-kv-shared": _with(GEMMA4, num_kv_shared_layers=2),
    "gemma4-kv-shared-double-wide": _with(GEMMA4, num_kv_shared_layers=2, use_double_wide_mlp=True),
    "gemma4-keys-are-values": _with(GEMMA4, per_layer_config=None, attention_k_eq_v=True, global_head_dim=128,
                                    num_global_key_value_heads=1),
    "gemma4-audio": {**GEMMA4, "audio_config": GEMMA4_AUDIO},
    "gemma4-audio-defaults": {**GEMMA4, "audio_config": {"model_type": "gemma4_audio"}},  # transformers' defaults: E2B/E4B's size
    "qwen3.5": QWEN35,
    "qwen3.5-tied": {**QWEN35, "tie_word_embeddings": True},
    "qwen3-tied": {"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 1000,
                   "tie_word_embeddings": True},
    "qwen2-biases": {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000, "tie_word_embeddings": False},
    "mistral": {"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000, "tie_word_embeddings": False},
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_architecture_adds_up_to_what_transformers_builds_from_the_config(name):
    config = SHAPES[name]
    counted = sum(param_counts(arch_from_config(config, name=name, base=name)).values())
    assert counted == _meta_count(config)


# ---------------------------------------------------------------------------- weights: bf16 and 4-bit


def _safetensors(path: Path, tensors: dict[str, tuple[str, list[int], bytes | None]]) -> None:
    """A safetensors file: each tensor's dtype and shape, its bytes zero unless given."""
    sizes = {"BF16": 2, "F32": 4, "U8": 1}
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        n = sizes[dtype] * (1 if not shape else __import__("math").prod(shape))
        blob = data if data is not None else bytes(n)
        assert len(blob) == n
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        blobs.append(blob)
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def test_parameters_are_counted_from_shapes_not_bytes(tmp_path):
    bf16 = tmp_path / "bf16"
    bf16.mkdir()
    _safetensors(bf16 / "model-00001-of-00002.safetensors", {"a.weight": ("BF16", [64, 32], None)})
    _safetensors(bf16 / "model-00002-of-00002.safetensors", {"b.weight": ("BF16", [10], None)})
    assert safetensors_params(bf16) == 64 * 32 + 10  # bytes ÷ 4 said half of it
    state = json.dumps({"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [96, 64]}).encode()
    four = tmp_path / "four"
    four.mkdir()
    _safetensors(four / "model.safetensors", {
        "q.weight": ("U8", [96 * 64 // 2, 1], None),
        "q.weight.absmax": ("U8", [96], None),
        "q.weight.quant_map": ("F32", [16], None),
        "q.weight.nested_absmax": ("F32", [1], None),
        "q.weight.nested_quant_map": ("F32", [256], None),
        "q.weight.quant_state.bitsandbytes__nf4": ("U8", [len(state)], state),
        "embed.weight": ("BF16", [100, 64], None),
    })
    assert safetensors_params(four) == 96 * 64 + 100 * 64
    assert safetensors_params(tmp_path) is None  # no weights: the config's count stands


def test_a_replica_counts_the_same_in_bf16_weights_and_in_4_bit(replica):
    plain, quantized = replica("llama3.1"), replica("llama3.1", prequantized=True)
    arch, four = checkpoint_arch(plain), checkpoint_arch(quantized)
    assert four.params_b == arch.params_b == sum(param_counts(arch).values()) / 1e9
    old = sum(p.stat().st_size for p in quantized.glob("*.safetensors")) / 4 / 1e9  # what the bench used to count
    assert abs(old - four.params_b) > 0.1 * four.params_b


# ---------------------------------------------------------------------------- said, not guessed


@pytest.mark.parametrize("config, reason", [
    ({"model_type": "phi3", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 4}, "family"),
    ({"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 4}, "family"),
    (_with(GEMMA4, enable_moe_block=True, num_experts=8), "experts"),
    ({**GEMMA4, "audio_config": {"model_type": "whisper_encoder"}}, "audio"),
    ({**GEMMA4, "audio_config": {**GEMMA4_AUDIO, "subsampling_conv_channels": [24, 8, 4]}}, "audio"),
    ({**GEMMA4, "vision_config": {"model_type": "pixtral"}}, "vision"),
    ({**_config("gemma3-4b"), "vision_config": {**_config("gemma3-4b")["vision_config"], "vision_use_head": True}}, "vision"),
    (_with(QWEN35, layer_types=["linear_attention", "mamba", "linear_attention", "full_attention"]), "layer"),
    ({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10}, "missing"),
])
def test_a_shape_the_estimate_does_not_know_is_said(config, reason):
    with pytest.raises(UserError) as err:
        arch_from_config(config, name="x", base="x")
    assert err.value.code == "arch.unknown" and err.value.params["reason"] == reason
    assert "does not know" in str(err.value)


def test_weights_the_config_does_not_describe_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SHAPES["mistral"]), encoding="utf-8")
    _safetensors(tmp_path / "model.safetensors", {"w": ("BF16", [1000, 64], None)})  # far fewer than described
    with pytest.raises(UserError) as err:
        checkpoint_arch(tmp_path)
    assert err.value.params["reason"] == "mismatch"


# ---------------------------------------------------------------------------- the run's base, not its preset's


def test_the_estimate_follows_the_base_not_the_preset_that_filled_the_form(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    (small / "config.json").write_text(json.dumps(SHAPES["qwen3-tied"]), encoding="utf-8")
    cfg = TrainConfig.from_preset("gemma3-12b", base=str(small))
    arch = base_arch(cfg)
    assert arch.hidden == 64 and arch.vocab == 1000  # not Gemma 3 12B's numbers
    assert base_arch(TrainConfig.from_preset("gemma3-12b")) is get_preset("gemma3-12b")  # its own base, not fetched
    assert base_arch(TrainConfig(base="someone/not-here")) is None
    big = estimate_vram(get_preset("gemma3-12b"), backend="unsloth")
    assert estimate_vram(arch, backend="unsloth").total < big.total / 10 and smallest_card(big) == 12
    assert estimate_vram(arch, backend="unsloth").total < GiB


def test_a_run_without_a_preset_is_checked_on_its_base(tmp_path, monkeypatch):
    """check_vram skipped a run without a preset; now the base's config.json is estimated."""
    from core.train import runs
    from tests.support.nvidia import fake_nvidia_smi

    fake_nvidia_smi(tmp_path, monkeypatch, ["0, GPU-3333, NVIDIA GeForce RTX 3060, 11800, 12288"])
    cfg = TrainConfig(base=str(FIXTURES / "gemma3-12b"), backend="unsloth")
    assert cfg.preset is None and runs.check_vram(cfg)["total"] < 11.5
    with pytest.raises(UserError, match="hf backend"):
        runs.check_vram(cfg.with_(backend="hf"))
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "phi3", "hidden_size": 64}), encoding="utf-8")
    said = runs.check_vram(TrainConfig(base=str(odd), backend="unsloth"))
    assert "does not know the shape of phi3" in said["unknown"]


def test_tensors_transformers_does_not_load_are_not_counted(tmp_path):
    """Qwen 3.5's multi-token-prediction head and Gemma 4's KV-shared layers' keys and values ship
    in the weights and are dropped on load: they take no memory and do not make the shape doubtful."""
    from core.train.arch import not_loaded

    config = _with(GEMMA4, num_kv_shared_layers=2)
    skip = not_loaded(config)
    assert skip.search("model.language_model.layers.5.self_attn.k_proj.weight")
    assert not skip.search("model.language_model.layers.3.self_attn.k_proj.weight")  # not shared: loaded
    assert not skip.search("model.language_model.layers.5.self_attn.q_proj.weight")
    assert not_loaded(QWEN35).search("mtp.layers.0.mlp.up_proj.weight")
    (tmp_path / "config.json").write_text(json.dumps(SHAPES["mistral"]), encoding="utf-8")
    described = sum(param_counts(arch_from_config(SHAPES["mistral"], name="m", base="m")).values())
    _safetensors(tmp_path / "model.safetensors", {"all": ("BF16", [described], None), "mtp.fc.weight": ("BF16", [64, 128], None)})
    assert safetensors_params(tmp_path, skip=not_loaded(SHAPES["mistral"])) == described
    assert checkpoint_arch(tmp_path).params_b * 1e9 == described
