"""The data of a preference run without training: its snapshot and hash, its tokens as the trainer
gets them (`train --preview`), the refusals before a run starts, and the rewards the metrics
callback keeps."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from core.errors import UserError

PAIRS = [
    ("Что такое эпоха?", "Один проход по всем данным.", "Это библиотека модель."),
    ("Что такое LoRA?", "Малые матрицы поверх замороженных весов.", "Это — 16."),
]


def _fill(store, pairs=PAIRS):
    for prompt, chosen, rejected in pairs:
        store.add_preference(prompt, chosen, rejected, model="demo", source="chat:1")


def test_the_snapshot_hash_follows_the_preference_pairs_not_their_ids(store, tmp_path):
    from core.train.preference_data import PreferenceSnapshot, is_preference_snapshot, snapshot
    from core.workspace import Workspace

    with pytest.raises(UserError, match="no preference pairs"):
        snapshot(store)
    _fill(store, PAIRS[:1])
    one = snapshot(store)
    _fill(store, PAIRS[1:])
    two = snapshot(store)
    assert one.sha256 != two.sha256 and len(two.examples) == 2
    assert two.examples[0].prompt == [{"role": "user", "content": PAIRS[0][0]}]
    store.delete_preferences([2])
    assert snapshot(store).sha256 == one.sha256  # the trash is not trained on
    store.restore_preferences([2])
    assert snapshot(store).sha256 == two.sha256

    other = Workspace.open(tmp_path / "other").store()  # the same text elsewhere: the same hash
    store_ids = [p.id for p in store.live_preferences()]
    other.add_preference("лишнее", "а", "б")
    other.delete_preferences([1])
    _fill(other)
    assert [p.id for p in other.live_preferences()] != store_ids and snapshot(other).sha256 == two.sha256
    other.close()

    path = two.write(tmp_path / "dataset.jsonl")
    assert is_preference_snapshot(path)
    back = PreferenceSnapshot.read(path)
    assert back.sha256 == two.sha256 and [e.chosen for e in back.examples] == [p[1] for p in PAIRS]
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    assert lines[0]["chosen"] == [{"role": "assistant", "content": PAIRS[0][1]}]  # TRL's conversational record


def test_a_pair_is_tokenized_as_an_sft_answer_and_cut_to_max_len(demo_model):
    from transformers import AutoTokenizer

    from core.train.dataset import encode as encode_sft
    from core.train.preference_data import PreferenceExample, encode

    tok = AutoTokenizer.from_pretrained(str(demo_model))
    source = tok.chat_template
    ex = PreferenceExample(7, [{"role": "system", "content": "Отвечай кратко."}, {"role": "user", "content": PAIRS[0][0]}],
                           PAIRS[0][1], PAIRS[0][2])
    enc = encode(tok, source, ex)
    sft = encode_sft(tok, source, ex.messages(ex.chosen))
    trained = [i for i, label in zip(sft.input_ids, sft.labels) if label != -100]
    assert enc.chosen_ids == trained  # the answer and its end marker, as SFT trains them
    assert enc.prompt_ids + enc.chosen_ids == sft.input_ids[: len(enc.prompt_ids) + len(enc.chosen_ids)]
    assert tok.decode(enc.prompt_ids, skip_special_tokens=False).startswith("<s><start_of_turn>user\nОтвечай кратко.")
    assert tok.decode(enc.chosen_ids, skip_special_tokens=False) == PAIRS[0][1] + "<end_of_turn>"
    assert tok.decode(enc.rejected_ids, skip_special_tokens=False) == PAIRS[0][2] + "<end_of_turn>"

    room = 3
    cut = encode(tok, source, ex, max_len=len(enc.prompt_ids) + room)
    assert cut.truncated and cut.prompt_ids == enc.prompt_ids and cut.chosen_ids == enc.chosen_ids[:room]
    assert encode(tok, source, ex, max_len=len(enc.prompt_ids)) is None  # nothing of the answers would be left


def test_preview_shows_a_pair_as_the_trainer_gets_it(cli, store, demo_model):
    assert cli("models", "add", str(demo_model), "--name", "demo").code == 0
    r = cli("train", "--method", "dpo", "--base", "demo", "--preview", "--json")
    assert r.code == 2 and "no preference pairs" in r.err and "nastavnik correct" in r.err
    _fill(store)
    r = cli("train", "--method", "dpo", "--base", "demo", "--preview", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["method"] == "dpo" and data["examples"] == 2 and not data["truncated"] and not data["dropped"]
    from core.train.preference_data import snapshot

    assert data["dataset_sha256"] == snapshot(store).sha256
    sample = data["samples"][0]
    assert sample["prompt"] == f"<s><start_of_turn>user\n{PAIRS[0][0]}<end_of_turn>\n<start_of_turn>model\n"
    assert (sample["chosen"], sample["rejected"]) == (PAIRS[0][1] + "<end_of_turn>", PAIRS[0][2] + "<end_of_turn>")
    text = cli("train", "--method", "orpo", "--base", "demo", "--preview", "--max-seq-len", "24")
    assert text.code == 0, text.err
    assert "chosen:   " + PAIRS[0][1] in text.out and "rejected: " + PAIRS[0][2] in text.out
    assert "2 preference pairs for orpo" in text.out and "will be cut" in text.err


def test_what_a_preference_run_refuses_before_it_starts(cli, store, demo_model, tmp_path):
    from core.train.backends import cuda_available

    assert cli("models", "add", str(demo_model), "--name", "demo").code == 0
    store.add_pair("Что такое эпоха?", "Один проход.", status="approved")
    fast = ("--base", "demo", "--backend", "hf", "--detach")

    def refused(message, *args):
        r = cli("train", *args)
        assert r.code == 2 and message in r.err, (args, r.err)
        assert len(r.err.strip().splitlines()) <= 2, r.err  # one line and its hint

    refused("there are no preference pairs", "--method", "dpo", *fast)
    _fill(store)
    refused("there is no run 1", "--from-run", "1")
    refused("beta: beta 0.0 is out of range", "--method", "dpo", "--beta", "0", *fast)
    refused("num_gpus: --method orpo trains on one device", "--method", "orpo", "--processes", "2", *fast)
    # a finished SFT run, as the worker leaves it (tests/core/train/test_preference.py trains real ones)
    from core.train.config import TrainConfig

    adapter = tmp_path / "run1-adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(demo_model)}), encoding="utf-8")
    done = store.create_run(base="demo", preset="demo", backend="hf",
                            config=TrainConfig.from_preset("demo").with_(base=str(demo_model), backend="hf").to_dict())
    done = store.update_run(done.id, status="done", adapter_path=str(adapter), step=5, max_steps=5)
    assert done.method == "sft" and done.to_dict()["method"] == "sft" and done.to_dict()["from_run"] is None
    refused("from_run: --from-run starts a DPO or ORPO run", "--from-run", str(done.id))
    refused("leave out --base and --preset", "--method", "dpo", "--from-run", str(done.id), "--base", "demo")
    if not cuda_available():
        refused("trains --method dpo on an NVIDIA GPU only", "--method", "dpo", "--from-run", str(done.id), "--backend", "unsloth")
    store.update_run(done.id, status="failed")
    refused(f"run {done.id} is failed and has no finished adapter", "--method", "dpo", "--from-run", str(done.id))
    assert len(store.list_runs()) == 1  # nothing else was started


def test_the_metrics_callback_keeps_the_rewards_trl_logs():
    from core.train.pipeline import metrics_callback

    rows = []
    cb = metrics_callback(rows.append)
    state = SimpleNamespace(is_world_process_zero=True, num_input_tokens_seen=0, global_step=3, max_steps=10, epoch=1.5)
    cb.on_train_begin(None, state, None)
    cb.on_log(None, state, None, logs={"loss": 0.5, "learning_rate": 1e-3, "rewards/chosen": 0.2, "rewards/rejected": -0.4,
                                        "rewards/margins": 0.6, "rewards/accuracies": 0.75, "logps/chosen": -30.0})
    assert rows[-1] == {"step": 3, "epoch": 1.5, "loss": 0.5, "lr": 1e-3, "reward_chosen": 0.2, "reward_rejected": -0.4,
                        "margin": 0.6, "accuracy": 0.75}
