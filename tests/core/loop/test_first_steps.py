"""The first-run guide's ticks, read from the store as a user's steps leave their rows there."""

from __future__ import annotations

from core.loop.corrections import correct_message
from core.loop.first_steps import first_steps
from core.store import Store


def _done_run(store: Store) -> int:
    run = store.create_run(base="demo", preset="demo", backend="hf", config={})
    store.update_run(run.id, status="done", step=2, max_steps=2)
    return run.id


def test_each_step_is_ticked_when_its_rows_exist(tmp_path):
    with Store(tmp_path / "n.db") as store:
        assert first_steps(store).next_step == "train" and not first_steps(store).demo
        store.add_model("base", "demo", str(tmp_path / "demo"), meta={"demo": True})
        assert first_steps(store).demo

        # a run that has not finished is not a trained model yet
        run = store.create_run(base="demo", preset="demo", backend="hf", config={})
        assert not first_steps(store).train
        store.update_run(run.id, status="done")
        assert first_steps(store).train and first_steps(store).next_step == "chat"

        # chatting with the base alone is not chatting with the tuned model
        store.add_model("gguf", "demo-q8_0", str(tmp_path / "demo.gguf"))
        store.add_conversation(["demo-q8_0"])
        assert not first_steps(store).chat
        store.add_model("gguf", "run-1-q8_0", str(tmp_path / "run1.gguf"), run_id=run.id)
        conv = store.add_conversation(["demo-q8_0", "run-1-q8_0"])
        store.add_message(conv.id, "user", "Что такое токен?")
        answer = store.add_message(conv.id, "assistant", "токен токен", model="run-1-q8_0")
        assert first_steps(store).chat and first_steps(store).next_step == "correct"

        correct_message(store, answer.id, "Кусочек текста.", status="approved")
        steps = first_steps(store)
        assert steps.correct and not steps.retrain  # run 1 came before the correction
        _done_run(store)
        steps = first_steps(store)
        assert steps.retrain and steps.next_step is None
