"""The decision behind checkpoints chosen by their answers (core/train/answer_eval.py): which
evaluation is the best, when a run stops early, which settings are refused, and how an export
names a run's checkpoint. No model: the real runs are in tests/e2e/test_best_checkpoint.py."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.export.source import checkpoint_ref, parse_checkpoint, split_checkpoint
from core.train.answer_eval import Best
from core.train.config import TrainConfig


def _feed(best: Best, values: list[float]) -> int | None:
    """Observe values at steps 10, 20, …; the step the run stops at, None if it runs through."""
    for n, value in enumerate(values, 1):
        _new, stop = best.observe(10 * n, value)
        if stop:
            return 10 * n
    return None


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_the_run_stops_exactly_patience_evaluations_after_its_best(patience):
    best = Best("chrf", patience)
    values = [10.0, 30.0, 25.0, 30.0, 12.0, 29.0, 5.0, 1.0]  # the best at step 20; 30.0 again is no improvement
    assert _feed(best, values) == 20 + 10 * patience
    assert best.step == 20 and best.value == 30.0


def test_eval_loss_improves_downwards_and_patience_zero_never_stops():
    best = Best("eval_loss", 0)
    assert _feed(best, [3.0, 2.5, 2.6, 2.7, 2.8, 2.9]) is None
    assert (best.step, best.value, best.since) == (20, 2.5, 4)


def test_a_later_improvement_resets_the_count():
    best = Best("chrf", 2)
    assert _feed(best, [10.0, 9.0, 11.0, 11.0, 10.5]) == 50  # best 11.0 at step 30, then two without
    assert best.step == 30


def test_settings_that_cannot_work_are_refused():
    cfg = TrainConfig.from_preset("demo")
    assert cfg.eval_steps == 0 and cfg.early_stop_patience == 0  # the demo keeps its time budget
    assert cfg.best_metric == "chrf" and 0 < cfg.answer_eval_max <= 8
    with pytest.raises(UserError, match="needs evaluations"):
        cfg.with_(early_stop_patience=2).validate()
    with pytest.raises(UserError, match="unknown metric"):
        cfg.with_(eval_steps=5, best_metric="bleu").validate()
    with pytest.raises(UserError, match="chrf needs answers"):
        cfg.with_(eval_steps=5, answer_eval_max=0).validate()
    cfg.with_(eval_steps=5, answer_eval_max=0, best_metric="eval_loss", early_stop_patience=3).validate()


def test_a_checkpoint_is_named_run_at_step_or_best():
    assert checkpoint_ref(3, "best") == "3@best" and checkpoint_ref(3, 40) == "3@40" and checkpoint_ref(3, None) == "3"
    assert split_checkpoint("3@best") == ("3", "best") and split_checkpoint("3@40") == ("3", "40")
    assert split_checkpoint("my@model") == ("my@model", None) and split_checkpoint("3") == ("3", None)
    assert parse_checkpoint("checkpoint-40") == "40" and parse_checkpoint("BEST") == "best"
    with pytest.raises(UserError) as err:
        parse_checkpoint("last")
    assert err.value.code == "export.bad_checkpoint"


def test_the_judge_improves_upwards_and_picks_the_best_only_with_a_judge_named():
    best = Best("judge", 1)
    assert _feed(best, [2.5, 3.75, 3.75]) == 30  # 3.75 again is no improvement
    assert (best.step, best.value) == (20, 3.75)
    cfg = TrainConfig.from_preset("demo").with_(eval_steps=5)
    assert cfg.judge == ""  # no judge by default: an evaluation stays cheap
    refusals = {
        "train.judge_needs_judge": cfg.with_(best_metric="judge"),
        "train.judge_needs_answers": cfg.with_(judge="demo-q8_0", eval_steps=0),
        "train.judge_one_device": cfg.with_(judge="demo-q8_0", num_processes=2),
    }
    for code, bad in refusals.items():
        with pytest.raises(UserError) as err:
            bad.validate()
        assert err.value.code == code
    with pytest.raises(UserError) as err:
        cfg.with_(judge="demo-q8_0", answer_eval_max=0, best_metric="eval_loss").validate()
    assert err.value.code == "train.judge_needs_answers"
    assert cfg.with_(judge="demo-q8_0", best_metric="judge", early_stop_patience=2).validate().best_metric == "judge"
