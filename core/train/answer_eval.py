"""Checkpoints chosen by their answers: at each evaluation of an SFT run, the model answers a
capped set of eval-split questions, greedily, on the weights in hand, and chrF scores them.

Eval loss says how likely the reference answers are; it does not say whether the model now
*writes* them. So at each evaluation the run answers up to ``answer_eval_max`` questions of its
eval split (``model.eval()``, no gradients, a short greedy answer, the run's own chat template —
the prompt rendered exactly as ``core.train.dataset`` renders it for training), scores each
answer against its reference with the project's chrF (``core.eval.evaluate.chrf``), and logs the
mean as the ``chrf`` of that step beside its eval loss.

With a judge (``config.judge``: a GGUF model, loaded once per run in the training process through
the one model runner, ``core.infer.runner``), each answer is also scored 1–5 by the judge reading
the workspace's rubric (``core.eval.rubric``), as evaluation judges (``core.eval.evaluate``), and
the mean is logged as the step's ``judge``. Its reply is held to «Оценка: N» by a grammar: a score
that picks a checkpoint cannot be a reply nothing can be read from.

``Best`` keeps the best evaluation by the metric the run picked (``best_metric``: chrF or the
judge's mean, higher is better, or eval loss, lower is better) and counts evaluations without improvement; after
``early_stop_patience`` of them the run stops. The callback writes the best step into the
trainer's state (``best_global_step``), which is how transformers' checkpoint rotation knows to
keep that checkpoint beside the last one (``save_total_limit=2``); the pipeline saves a
checkpoint at every evaluation, so the best one is on disk.

``CheckpointMeta`` makes every checkpoint folder exportable on its own: the chat template the
run trained with and the ``nastavnik_run.json`` its final adapter would carry (the class the
adapter's tensors are named after), so ``nastavnik export RUN --checkpoint N`` merges the same
way as the final adapter.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

#: new tokens per answer: enough to tell a right answer from a wrong one, short enough to be cheap
ANSWER_TOKENS = 48
#: the judge's reply during a run: the score alone, in the default rubric's words (parse_judge_score reads it)
JUDGE_GRAMMAR = 'root ::= "Оценка: " [1-5]'


@dataclass
class Best:
    """Which evaluation is the best so far, and whether to stop: the decision alone, no model.

    ``observe(step, value)`` → (a new best?, stop now?). chrF and the judge's score improve
    upwards, eval loss downwards; an equal value is no improvement. ``patience`` 0 never stops.
    """

    metric: str = "chrf"
    patience: int = 0
    step: int | None = None
    value: float | None = None
    since: int = 0  # evaluations since the best
    history: list[tuple[int, float]] = field(default_factory=list)

    def better(self, value: float) -> bool:
        if self.value is None:
            return True
        return value < self.value if self.metric == "eval_loss" else value > self.value

    def observe(self, step: int, value: float) -> tuple[bool, bool]:
        self.history.append((step, value))
        if self.better(value):
            self.step, self.value, self.since = step, value, 0
            return True, False
        self.since += 1
        return False, bool(self.patience) and self.since >= self.patience


def prompt_ids(tokenizer, source: str, messages: list[dict]) -> list[int]:
    """The token ids a question is asked with: the prompt the training text starts with
    (``add_generation_prompt``), with the BOS the tokenizer would add, as ``dataset.encode`` does."""
    from core.train.dataset import render_chat

    text, _ = render_chat(tokenizer, source, messages, add_generation_prompt=True)
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    bos = tokenizer.bos_token or ""
    if bos and not text.startswith(bos) and getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id] + ids
    return ids


def stop_ids(model, tokenizer) -> list[int]:
    """Where an answer ends: the generation config's EOS ids and the tokenizer's (as the parity check reads them)."""
    gen = getattr(model, "generation_config", None)
    ids = getattr(gen, "eos_token_id", None) or tokenizer.eos_token_id
    out = [int(i) for i in (ids if isinstance(ids, (list, tuple)) else [ids]) if i is not None]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in out:
        out.insert(0, int(tokenizer.eos_token_id))
    return out


def answer(model, tokenizer, ids: list[int], *, max_new_tokens: int = ANSWER_TOKENS) -> str:
    """One greedy answer on the weights in hand, decoded without special tokens."""
    import torch

    eos = stop_ids(model, tokenizer)
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.tensor([ids], device=device), attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=device),
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos, use_cache=True,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0],
        )
    new = [int(i) for i in out[0][len(ids):]]
    for i, token in enumerate(new):
        if token in eos:
            new = new[:i]
            break
    return tokenizer.decode(new, skip_special_tokens=True).strip()


def score_answers(model, tokenizer, source: str, examples: Sequence, *, max_new_tokens: int = ANSWER_TOKENS) -> list[dict]:
    """Each example's question answered greedily and scored with chrF against its answer."""
    from core.eval.evaluate import chrf

    was_training = model.training
    model.eval()
    try:
        rows = []
        for ex in examples:
            messages = ex.messages
            reference = messages[-1]["content"]
            got = answer(model, tokenizer, prompt_ids(tokenizer, source, messages[:-1]), max_new_tokens=max_new_tokens)
            question = next((m["content"] for m in reversed(messages[:-1]) if m.get("role") == "user"), "")
            rows.append({"pair_id": ex.pair_id, "question": question, "reference": reference, "answer": got,
                         "chrf": chrf(got, reference)})
        return rows
    finally:
        if was_training:
            model.train()


def judge_answers(judge, rubric, answers: list[dict]) -> float | None:
    """Each answer scored 1–5 by ``judge`` (a ``ModelRunner``) reading ``rubric`` (its reply and
    score stored in the answer's row); the mean score, None when no reply gave one."""
    from core.eval.evaluate import parse_judge_score

    for a in answers:
        reply = judge.reply([{"role": "user", "content": rubric.prompt(a["question"], a["reference"], a["answer"])}],
                            temperature=0.0, max_tokens=12, grammar=JUDGE_GRAMMAR)
        a["judge"] = parse_judge_score(reply.text)
        a["judge_reply"] = reply.text.strip()
    scores = [a["judge"] for a in answers if a["judge"] is not None]
    return round(sum(scores) / len(scores), 2) if scores else None


def answer_eval_callback(tokenizer, source: str, examples: Sequence, *, metric: str = "chrf", patience: int = 0,
                         sink: Callable[[dict], None] | None = None, evals_file: Path | None = None,
                         max_new_tokens: int = ANSWER_TOKENS, judge=None, rubric=None):
    """A TrainerCallback: at each evaluation, chrF of the answers to ``examples`` (none: eval loss
    only) and, with ``judge`` (a ``ModelRunner``) and its ``rubric``, the judge's mean score; the
    best step by ``metric``, an early stop after ``patience`` evaluations without improvement.
    Rank 0 reports ``{"step", "chrf", "answer_eval_s"[, "judge", "judge_s"]}`` and
    ``{"event": "best"}`` rows to ``sink`` and one JSON line per evaluation (with the answers) to
    ``evals_file``."""
    from transformers import TrainerCallback

    from core.train.pipeline import agreed

    class AnswerEval(TrainerCallback):
        def __init__(self) -> None:
            self.best = Best(metric, patience)

        def on_train_begin(self, args, state, control, **kw):
            if state.best_global_step and state.best_metric is not None:  # resumed: the best before the checkpoint
                self.best.step, self.best.value = int(state.best_global_step), float(state.best_metric)

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kw):
            metrics = metrics if metrics is not None else {}
            step = state.global_step
            row: dict = {"step": step, "eval_loss": metrics.get("eval_loss")}
            if examples and model is not None:
                t0 = time.monotonic()
                answers = score_answers(model, tokenizer, source, examples, max_new_tokens=max_new_tokens)
                row["chrf"] = round(sum(a["chrf"] for a in answers) / len(answers), 2)
                row["answer_eval_s"] = round(time.monotonic() - t0, 3)
                if judge is not None and rubric is not None:
                    t0 = time.monotonic()
                    row["judge"] = judge_answers(judge, rubric, answers)
                    row["judge_s"] = round(time.monotonic() - t0, 3)
                row["answers"] = answers
            value = row.get(metric)
            if value is None:
                return
            new_best, stop = self.best.observe(step, float(value))
            if new_best:  # transformers' rotation keeps this checkpoint beside the last one
                state.best_metric = float(value)
                state.best_global_step = step
            row["best_step"] = self.best.step
            main = state.is_world_process_zero
            if main and evals_file is not None:
                with evals_file.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            if main and sink is not None:
                if "chrf" in row:
                    sink({"step": step, **{k: row[k] for k in ("chrf", "answer_eval_s", "judge", "judge_s") if row.get(k) is not None}})
                if new_best:
                    sink({"event": "best", "step": step, "metric": metric, "value": float(value)})
            if agreed(stop):  # every process of a data-parallel run stops at the same step
                control.should_training_stop = True
                control.should_save = True
                if main and sink is not None:
                    sink({"event": "early_stop", "step": step, "best_step": self.best.step})

    return AnswerEval()


def checkpoint_meta_callback(chat_template: str | None, meta: dict, *, base_path: str, tokenizer):
    """A TrainerCallback: each checkpoint folder gets the base's tokenizer files (as the final
    adapter does), the run's chat template and ``nastavnik_run.json``."""
    from transformers import TrainerCallback

    class CheckpointMeta(TrainerCallback):
        def on_save(self, args, state, control, model=None, **kw):
            if not state.is_world_process_zero:
                return
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if not folder.is_dir():
                return
            from core.train.pipeline import base_tokenizer_files

            base_tokenizer_files(base_path, folder, tokenizer, chat_template=chat_template)
            base = getattr(model, "get_base_model", lambda: model)() if model is not None else None
            data = {**meta, "steps": state.global_step, **({"model_class": type(base).__name__} if base is not None else {})}
            (folder / "nastavnik_run.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")

    return CheckpointMeta()


def read_evals(path: Path) -> list[dict]:
    """The evaluations a run wrote to ``runs/<id>/evals.jsonl`` (step, eval loss, chrF, answers, best step)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
