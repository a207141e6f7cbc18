"""Preference training on the CPU demo: corrections recorded through the real path, an SFT run on
some of their pairs, a DPO run on top of it on all of them (cancelled and resumed on the way) and an
ORPO run on the base, in the detached worker; what they log, what they change in greedy answers, and
that the DPO run exports into its SFT parent's base.

The rejected answers are the demo model's own greedy answers, generated with transformers
(the chat template the model was trained with, as the app's chat renders it); each is stored
as a chat answer and corrected with `nastavnik correct --approve`, which records the pair and
its preference. The user's loop: four answers corrected, an SFT run on those four pairs, four
more corrected, then DPO from that run on all eight preferences. The SFT run may learn its four
word for word (on some CPUs it does, on others nearly): what DPO must not do is lose them; the
four it never saw are where it must raise the answers. The runs are shared by the tests of this
module (built once per session).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.paths import REPO

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("preference"), pytest.mark.learning]

# eval-split questions of the sample data with a mentor's short corrections
CORRECTIONS = [
    ("Зачем дообучать маленькую модель, если есть большие?", "Маленькая модель работает локально и дёшево."),
    ("Что такое системный промпт?", "Первое сообщение, которое задаёт модели роль."),
    ("Что такое loss при обучении языковой модели?", "Кросс-энтропия на правильных токенах."),
    ("На что смотреть в лицензии модели перед дообучением?", "На разрешение коммерческого использования."),
    ("Зачем нужен параметр lora_alpha?", "Это коэффициент масштабирования адаптера."),
    ("Что значит «слить адаптер с моделью»?", "Прибавить поправку LoRA к весам модели."),
    ("Почему для LoRA ставят learning rate выше, чем для полного дообучения?", "Обучается мало параметров."),
    ("Какую долю данных отложить в eval?", "Обычно от 5 до 15 процентов."),
]
SEEN, NEW = CORRECTIONS[:4], CORRECTIONS[4:]  # corrected before the SFT run; corrected after it
# every step sees all 8 pairs (batch 8): each logged margin is the mean over the 8 corrected prompts
SHAPE = ("--lora-r", "16", "--lora-alpha", "32", "--batch-size", "8", "--max-seq-len", "96", "--backend", "hf", "--save-steps", "100")
SFT = ("--steps", "40", "--lr", "1e-2", *SHAPE)
DPO_STEPS, ORPO_STEPS = 40, 80
DPO = ("--steps", str(DPO_STEPS), "--lr", "5e-3")  # the rest from run 1
ORPO = ("--steps", str(ORPO_STEPS), "--lr", "1e-2", *SHAPE)
BETA = 0.1  # TRL's default, for DPO and ORPO


def ok(home: Path, *args: str) -> str:
    code, out, err = run_cli(home, *args)
    assert code == 0, f"nastavnik {' '.join(args)}: {err}{out}"
    return out


def greedy(base: Path, adapter: str | None, prompts: list[str], *, tokens: int = 40) -> list[str]:
    """Greedy answers of the base (with an adapter) to each prompt, rendered with the model's own template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.train.templates import render

    tok = AutoTokenizer.from_pretrained(str(adapter or base))
    model = AutoModelForCausalLM.from_pretrained(str(base))
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    answers = []
    for q in prompts:
        text = render(tok.chat_template, [{"role": "user", "content": q}], add_generation_prompt=True,
                      bos_token=tok.bos_token, eos_token=tok.eos_token)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=tokens, do_sample=False, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
        answers.append(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
    return answers


def mean_chrf(answers: list[str], pairs: list[tuple[str, str]] = CORRECTIONS) -> float:
    """Mean chrF of ``answers`` against the corrections (``chosen``) of ``pairs``."""
    from core.eval.evaluate import chrf

    return sum(chrf(a, ref) for a, (_, ref) in zip(answers, pairs, strict=True)) / len(pairs)


def wait_step(home: Path, run_id: int, step: int, timeout: float = 300.0):
    from tests.support.data import run_state

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = run_state(home, run_id)
        if run is not None and (run.step >= step or run.status in ("done", "failed")):
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not reach step {step}")


@pytest.fixture(scope="session")
def pref_runs(tmp_path_factory, demo_model):
    """Eight answers of the base; four corrected, SFT run 1 on their pairs; the other four corrected,
    DPO run 2 from run 1 on all eight preferences; ORPO run 3 on the base."""
    from core.workspace import Workspace

    home = tmp_path_factory.mktemp("pref-home")
    ok(home, "models", "add", str(demo_model), "--name", "demo")
    rejected = greedy(demo_model, None, [q for q, _ in CORRECTIONS])
    with Workspace.open(home).store() as store:
        messages = []
        for (question, _), answer in zip(CORRECTIONS, rejected):
            conv = store.add_conversation(["demo"])
            store.add_message(conv.id, "user", question)
            messages.append(store.add_message(conv.id, "assistant", answer, model="demo").id)
    for msg, (_, fixed) in zip(messages[:4], SEEN):
        ok(home, "correct", str(msg), "--answer", fixed, "--approve")
    ok(home, "train", "--base", "demo", *SFT)
    for msg, (_, fixed) in zip(messages[4:], NEW):
        ok(home, "correct", str(msg), "--answer", fixed, "--approve")

    # DPO, detached: cancelled past step 10 and resumed from the checkpoint the cancel saved
    started = json.loads(ok(home, "train", "--method", "dpo", "--from-run", "1", *DPO, "--json"))
    assert started["method"] == "dpo" and started["from_run"] == 1 and started["base"] == "demo"
    wait_step(home, started["id"], 10)
    cancelled = json.loads(ok(home, "runs", "cancel", str(started["id"]), "--json"))
    ok(home, "runs", "resume", str(started["id"]))
    ok(home, "train", "--method", "orpo", "--base", "demo", *ORPO)
    shows = {i: json.loads(ok(home, "runs", "show", str(i), "--json")) for i in (1, 2, 3)}
    return {"home": home, "rejected": rejected, "cancelled_at": cancelled["step"], "runs": shows, "demo": demo_model}


def _margins(show: dict, steps: int) -> list[float]:
    rows = [m for m in show["metrics"] if m["loss"] is not None]
    assert [m["step"] for m in rows] == list(range(1, steps + 1))  # every step, once, across the resume
    return [m["margin"] for m in rows]


def test_corrections_recorded_eight_preferences_of_the_models_own_answers(pref_runs):
    home = pref_runs["home"]
    prefs = json.loads(ok(home, "prefs", "list", "--json"))
    assert [(p["prompt"], p["chosen"]) for p in prefs] == CORRECTIONS
    assert [p["rejected"] for p in prefs] == pref_runs["rejected"] and all(p["model"] == "demo" for p in prefs)
    sft, dpo = pref_runs["runs"][1], pref_runs["runs"][2]
    assert sft["method"] == "sft" and sft["train_pairs"] == 4  # the pairs of the first four corrections
    assert dpo["train_pairs"] == 8 and dpo["eval_pairs"] == 0
    assert dpo["dataset_sha256"] != sft["dataset_sha256"]  # the preference pairs, not the pairs


def test_dpo_raises_the_margin_and_the_chrf_of_greedy_answers(pref_runs):
    """The issue's measurement: mean reward margin (TRL's, over all 8 pairs at each step) up by
    at least 0.5 from the start, and the mean chrF of greedy answers against `chosen` up."""
    home, runs = pref_runs["home"], pref_runs["runs"]
    dpo = runs[2]
    assert dpo["status"] == "done" and dpo["steps"] == DPO_STEPS
    assert dpo["setup"]["method"] == "dpo" and dpo["setup"]["reference"] == "run 1's adapter, frozen"
    assert dpo["setup"]["trainer"].endswith("NastavnikDPOTrainer")
    margins = _margins(dpo, DPO_STEPS)
    assert margins[0] == pytest.approx(0.0, abs=1e-6)  # the policy starts as its reference
    rows = [m for m in dpo["metrics"] if m["loss"] is not None]
    assert all(m["reward_chosen"] is not None and m["reward_rejected"] is not None and m["accuracy"] is not None for m in rows)
    assert rows[-1]["margin"] == pytest.approx(rows[-1]["reward_chosen"] - rows[-1]["reward_rejected"], abs=1e-4)
    # resumed from the checkpoint of the cancel: the margin goes on from there (a resume that
    # lost the trained adapter would fall back to about 0)
    k = pref_runs["cancelled_at"]
    assert 10 <= k < DPO_STEPS and margins[k] > margins[k - 1] - 0.05, (k, margins)
    assert "resume from checkpoint-" in (home / "runs" / "2" / "train.log").read_text()

    prompts = [q for q, _ in CORRECTIONS]
    before = greedy(pref_runs["demo"], runs[1]["adapter_path"], prompts)
    after = greedy(pref_runs["demo"], dpo["adapter_path"], prompts)
    seen_before, seen_after = mean_chrf(before[:4], SEEN), mean_chrf(after[:4], SEEN)
    new_before, new_after = mean_chrf(before[4:], NEW), mean_chrf(after[4:], NEW)
    print(f"\nDPO: margin {margins[0]:.3f} -> {margins[-1]:.3f}; chrF vs chosen, the four run 1 learnt "
          f"{seen_before:.1f} -> {seen_after:.1f}, the four it never saw {new_before:.1f} -> {new_after:.1f}")
    assert margins[-1] - margins[0] >= 0.5, margins
    assert new_after >= new_before + 20, (before[4:], after[4:])  # raised where run 1 did not know the answer
    assert seen_after >= seen_before - 5, (before[:4], after[:4])  # and what run 1 knew, kept


def test_orpo_raises_its_margin_and_the_chrf_of_greedy_answers(pref_runs):
    """ORPO has no reference: TRL logs rewards = β · mean token log-prob under the policy, so
    its margin / β is the per-token log-prob gap between chosen and rejected; it widens by at
    least 0.5 nats a token."""
    runs = pref_runs["runs"]
    orpo = runs[3]
    assert orpo["status"] == "done" and orpo["method"] == "orpo" and orpo["from_run"] is None and orpo["base"] == "demo"
    assert orpo["setup"]["trainer"].endswith("NastavnikORPOTrainer") and orpo["setup"]["reference"].startswith("none")
    assert orpo["setup"]["start"] == "a new LoRA adapter on the base"
    margins = _margins(orpo, ORPO_STEPS)
    assert all(m["accuracy"] is not None for m in orpo["metrics"])
    prompts = [q for q, _ in CORRECTIONS]
    chrf_before = mean_chrf(greedy(pref_runs["demo"], None, prompts))  # it starts as the base
    chrf_after = mean_chrf(greedy(pref_runs["demo"], orpo["adapter_path"], prompts))
    print(f"\nORPO: margin {margins[0]:.3f} -> {margins[-1]:.3f} (gap {margins[0] / BETA:.2f} -> {margins[-1] / BETA:.2f} "
          f"nats/token); chrF vs chosen {chrf_before:.1f} -> {chrf_after:.1f}")
    assert (margins[-1] - margins[0]) / BETA >= 0.5, margins
    assert chrf_after > chrf_before


def test_a_dpo_run_exports_into_its_sft_parents_base(pref_runs, monkeypatch):
    import fcntl

    from core.export.source import resolve_source
    from core.workspace import Workspace

    home, runs = pref_runs["home"], pref_runs["runs"]
    ws = Workspace.open(home)
    sft, dpo = resolve_source(ws, "1"), resolve_source(ws, "2")
    assert dpo.model_dir == sft.model_dir == Path(pref_runs["demo"]).resolve()
    assert dpo.adapter_dir == Path(runs[2]["adapter_path"]) and dpo.base == "demo"
    saved = sorted(p.name for p in dpo.adapter_dir.iterdir())
    assert "ref" not in saved and "adapter_model.safetensors" in saved  # the trained adapter alone

    cache = Path(os.environ.get("NASTAVNIK_LLAMACPP_CACHE", REPO / ".cache"))
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("NASTAVNIK_LLAMACPP_CACHE", str(cache))
    with open(cache / "converter.lock", "w") as lock:  # as the export tests fetch it: once
        fcntl.flock(lock, fcntl.LOCK_EX)
        from core.infer.llamacpp import converter_dir

        converter_dir(cache)
        fcntl.flock(lock, fcntl.LOCK_UN)
    # f16: the GGUF answers token for token as the merged HF model (a Q8_0 copy of this sharply
    # trained tiny model may flip a near tie, which the parity check reports)
    report = json.loads(ok(home, "export", "2", "--merged", "--quant", "f16", "--json"))  # the merged model below
    assert report["run_id"] in (2, "2") and report["base"] == "demo"
    assert report["parity"]["ok"], report["parity"]["warnings"]
    gguf = Path(report["files"][0]["path"])
    assert gguf.is_file() and gguf.stat().st_size > 0
    # the merged model answers as the DPO adapter on the base does
    merged = greedy(Path(report["merged_dir"]), None, [CORRECTIONS[0][0]])
    assert merged == greedy(pref_runs["demo"], runs[2]["adapter_path"], [CORRECTIONS[0][0]])
