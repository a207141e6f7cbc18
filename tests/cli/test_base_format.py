"""A base trains in its own chat format, whatever preset filled the settings first; a template
named on purpose is kept, and `train --preview` and `runs show` say which one a run trains in."""

from __future__ import annotations

QWEN3_TURN = "<|im_start|>user\n"
GEMMA_TURN = "<start_of_turn>user\n"


def _qwen3_home(store, cli, replica) -> str:
    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved", split="train")
    folder = replica("qwen3")
    assert cli("models", "add", str(folder), "--name", folder.name).code == 0
    return folder.name


def test_a_gemma_preset_then_a_qwen3_base_previews_qwen3_turns(store, cli, replica):
    """The issue's walk: preset gemma3-4b, then base demo-qwen3 rendered Gemma's turns for Qwen3."""
    base = _qwen3_home(store, cli, replica)
    r = cli("train", "--preview", "--preset", "gemma3-4b", "--base", base, "--json")
    assert r.code == 0, r.err
    text = r.json()["samples"][0]["text"]
    assert text.startswith(QWEN3_TURN) and "<start_of_turn>" not in text
    assert r.json()["format"] == {"named": False, "template": "", "turns": "<|im_start|>user … <|im_end|>",
                                  "own": "<|im_start|>user … <|im_end|>", "has_own": True, "here": True}
    shown = cli("train", "--preview", "--preset", "gemma3-4b", "--base", base)
    assert shown.code == 0 and "chat template: the base's own (<|im_start|>user … <|im_end|>)" in shown.out


def test_a_template_named_on_purpose_is_kept_and_said(store, cli, replica):
    base = _qwen3_home(store, cli, replica)
    r = cli("train", "--preview", "--preset", "gemma3-4b", "--base", base, "--template", "gemma", "--json")
    assert r.code == 0, r.err
    assert r.json()["samples"][0]["text"].startswith(GEMMA_TURN)  # Qwen3 has no BOS to write
    assert r.json()["format"]["named"] and r.json()["format"]["template"] == "gemma"
    shown = cli("train", "--preview", "--base", base, "--template", "gemma")
    assert ("chat template: gemma (<start_of_turn>user … <end_of_turn>), named with --template in place of the base's own "
            "(<|im_start|>user … <|im_end|>)") in shown.out


def test_runs_show_says_the_format_a_run_trains_in(store, cli, replica):
    from core.train.config import TrainConfig

    folder = replica("qwen3")
    own = store.create_run(base="demo-qwen3", preset="gemma3-4b", backend="hf",
                           config=TrainConfig.from_preset("gemma3-4b", base=str(folder)).to_dict(), status="failed")
    named = store.create_run(base="demo-qwen3", preset=None, backend="hf",
                             config=TrainConfig(base=str(folder), template="chatml").to_dict(), status="failed")
    assert "template: the base's own (<|im_start|>user … <|im_end|>)" in cli("runs", "show", str(own.id)).out
    out = cli("runs", "show", str(named.id)).out
    assert "template: chatml (<|im_start|>user … <|im_end|>), named with --template in place of the base's own" in out


def test_a_preset_carries_defaults_never_a_format():
    from core.train.config import PRESET_CARRIES, TrainConfig
    from core.train.presets import PRESETS

    assert "template" not in PRESET_CARRIES
    for name in PRESETS:
        cfg = TrainConfig.from_preset(name, base="elsewhere")
        assert cfg.template == "" and cfg.lr == PRESETS[name].lr
