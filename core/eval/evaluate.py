"""Evaluation: every eval pair answered by every model, scored, kept in the store.

Which pairs: the *approved* pairs of the eval split — those are the reference answers a
person stands behind. When no eval pair is approved yet, every eval pair that is not
rejected is used instead (and ``EvalReport.pairs_used`` says so), so a fresh workspace can
be evaluated before anyone reviews anything.

Scores per (model, pair): chrF (sacrebleu, 0–100) and exact match (after normalising
whitespace, case and ё/е) against the reference; with a judge model, a 1–5 score from a
GGUF judge that reads the workspace's rubric (``core.eval.rubric``: a file the user edits; each
judgement stores the rubric's hash, and only the current rubric's judgements are shown and
averaged); and the Russian check (``core.eval.langcheck``): whether
the answer switched language (most of its own letters not Cyrillic), with each model's
share of such answers in its summary. Answers are generated greedily (temperature 0) so
re-runs are comparable; a re-run only answers what is missing — a new pair, a new model,
or a pair whose question changed — and re-scores stored answers whose reference changed.

The report also breaks the scores down by the pairs' tags (a pair with several tags counts in
each, the untagged ones in a bucket of their own, ``tag`` None), so a small set of general
questions under a tag of the user's choice shows whether a run forgot what the base knew; and
it carries each judge's agreement with the user's grades (``core.eval.agreement``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from core.errors import UserError

from core.eval.rubric import Rubric
from core.progress import OnProgress, ProgressEvent, ignore

if TYPE_CHECKING:
    from core.eval.agreement import Agreement

MAX_TOKENS = 128


@dataclass
class Row:
    pair_id: int
    question: str
    reference: str
    cells: dict[str, "Cell"] = field(default_factory=dict)  # model key → cell
    tags: list[str] = field(default_factory=list)

    def worse(self, models: list[str]) -> bool:
        """True when some model scored lower than the model before it (chrF, judge or grade)."""
        return any((d := self.delta(models, i)) is not None and d < 0 for i in range(1, len(models)))

    def delta(self, models: list[str], i: int) -> float | None:
        a, b = self.cells.get(models[i - 1]), self.cells.get(models[i])
        if a is None or b is None:
            return None
        for attr in ("grade", "judge_score"):
            va, vb = getattr(a, attr), getattr(b, attr)
            if va is not None and vb is not None and va != vb:
                return float(vb - va)
        return round(b.chrf - a.chrf, 2)


@dataclass
class Cell:
    answer: str
    chrf: float
    exact: bool
    judge_score: int | None = None
    grade: int | None = None
    comment: str | None = None
    drift: bool | None = None  # the answer left Russian (None: the reference is not Russian)
    drift_script: str | None = None  # latin, cjk or other, when it did


@dataclass
class ModelSummary:
    model: str
    pairs: int = 0
    answered_now: int = 0
    chrf: float = 0.0
    exact: float = 0.0
    judge: float | None = None
    grade: float | None = None
    drift: float | None = None  # the share of checked answers that left Russian
    drifted: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TagScores:
    """One model's scores on the pairs of one tag."""

    pairs: int = 0
    chrf: float = 0.0
    exact: float = 0.0
    judge: float | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TagRow:
    tag: str | None  # None: the pairs without a tag
    questions: int
    models: dict[str, TagScores]  # model key → its scores on this tag's pairs it answered

    def to_dict(self) -> dict:
        return {"tag": self.tag, "questions": self.questions, "models": {m: s.to_dict() for m, s in self.models.items()}}


@dataclass
class EvalReport:
    models: list[str]
    rows: list[Row]
    summaries: list[ModelSummary]
    pairs_used: str  # "approved" or "all"
    judge: str | None = None
    rubric: str | None = None  # the hash of the rubric whose judgements these are (None: any)
    stale_judgements: int = 0  # answers here judged only by another rubric (not shown, not averaged)
    agreement: list["Agreement"] = field(default_factory=list)
    by_tag: list[TagRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "models": self.models,
            "pairs_used": self.pairs_used,
            "judge": self.judge,
            "rubric": self.rubric,
            "stale_judgements": self.stale_judgements,
            "summaries": [s.to_dict() for s in self.summaries],
            "agreement": [a.to_dict() for a in self.agreement],
            "by_tag": [t.to_dict() for t in self.by_tag],
            "rows": [
                {
                    "pair_id": r.pair_id,
                    "question": r.question,
                    "reference": r.reference,
                    "tags": r.tags,
                    "worse": r.worse(self.models),
                    "cells": {m: c.__dict__ for m, c in r.cells.items()},
                }
                for r in self.rows
            ],
        }


EVAL_SPLITS = ("eval", "train", "corrected")  # the store's splits, eval first, and "corrected": the pairs corrections wrote, whatever their split


def eval_pairs(store, split: str = "eval") -> tuple[list, str]:
    """The pairs to answer: the approved ones of ``split`` (every one not rejected when none
    is approved) and which of the two it is."""
    from core.store import PairFilter

    if split not in EVAL_SPLITS:
        raise UserError(f"unknown split {split!r}", hint="use one of: " + ", ".join(EVAL_SPLITS), code="eval.unknown_split",
                        params={"value": split, "allowed": ", ".join(EVAL_SPLITS)})
    if split == "corrected":
        pairs = store.get_pairs(store.corrected_pair_ids())
        approved = [p for p in pairs if p.status == "approved"]
        return (approved, "approved") if approved else ([p for p in pairs if p.status != "rejected"], "all")
    approved = list(store.iter_pairs(PairFilter(split=split, status="approved")))
    if approved:
        return approved, "approved"
    rest = [p for p in store.iter_pairs(PairFilter(split=split)) if p.status != "rejected"]
    return rest, "all"


def normalize_answer(text: str) -> str:
    return " ".join(text.replace("ё", "е").replace("Ё", "Е").casefold().split())


def chrf(answer: str, reference: str) -> float:
    from sacrebleu.metrics import CHRF

    return round(CHRF().sentence_score(answer, [reference]).score, 2)


_SCORE_PATTERNS = (
    re.compile(r"(?:оценк\w*|балл\w*|score|grade|rating)\s*[:=\-–—]?\s*\**\s*([1-5])(?:\s*(?:/|из|out of)\s*5)?", re.I),
    re.compile(r"\b([1-5])\s*(?:/|из|out of)\s*5\b", re.I),
    re.compile(r"^\D*?\b([1-5])\b"),
)


def parse_judge_score(text: str) -> int | None:
    """The 1–5 score in a judge's reply: «Оценка: 4», "Score: 4/5", "**4**", "4 из 5", "4"."""
    text = (text or "").strip()
    for pattern in _SCORE_PATTERNS:
        m = pattern.search(text)
        if m:
            return int(m.group(1))
    return None


def _messages(pair) -> list[dict]:
    from core.train.templates import pair_messages

    return pair_messages(pair.question, None, system=pair.system, context=pair.context)


def evaluate(
    ws,
    model_refs: list[str],
    *,
    judge: str | None = None,
    split: str = "eval",
    rubric: Rubric | None = None,
    max_tokens: int = MAX_TOKENS,
    in_process: bool = True,
    progress: OnProgress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> EvalReport:
    """Answer and score every eval pair with every model; returns the whole grid. The judge
    reads ``rubric`` (the workspace's rubric file when not given)."""
    from core.eval import rubric as rubrics
    from core.infer.runner import open_model, resolve_model
    from core.store.chats import EvalResult
    from core.store.base import now

    if not model_refs:
        raise UserError("no model to evaluate", hint="give one or more models: `nastavnik eval MODEL…`", code="eval.no_model")
    report = progress or ignore
    refs = [resolve_model(ws, r) for r in model_refs]
    keys = list(dict.fromkeys(r.key for r in refs))
    judge_ref = resolve_model(ws, judge) if judge else None
    if judge_ref is not None and rubric is None:
        rubric = rubrics.load(ws)  # checked: a judge must read a usable rubric
    digest = rubric.hash if rubric is not None else rubrics.current_hash(ws)
    with ws.store() as store:
        pairs, used = eval_pairs(store, split)
        if not pairs:
            if split == "corrected":
                raise UserError("no corrected pairs yet", hint="correct a model's answer in Chat (e) or `nastavnik correct`",
                                code="eval.no_corrected")
            raise UserError(f"there are no pairs in the {split} split", hint="move some pairs to the eval split: `nastavnik pairs split`",
                            code="eval.no_pairs", params={"split": split})
        stored = {(r.model, r.pair_id): r for r in store.eval_results(keys)}
        answered: dict[str, int] = {k: 0 for k in keys}
        for ref in refs:
            todo = []
            for p in pairs:
                old = stored.get((ref.key, p.id))
                if old is None or old.question != p.question:
                    todo.append(p)
                elif old.reference != p.answer:  # the reference was edited: score again
                    store.update_eval_scores(ref.key, p.id, reference=p.answer, chrf=chrf(old.answer, p.answer),
                                             exact=normalize_answer(old.answer) == normalize_answer(p.answer))
            if not todo:
                report(ProgressEvent("answer", len(pairs), len(pairs), f"{ref.label}: all answers already stored", {"model": ref.label}))
                continue
            model = open_model(ws, ref.path.as_posix(), in_process=in_process)
            model.ref = ref
            try:
                report(ProgressEvent("load", 0, len(todo), ref.label, {"model": ref.label}))
                for n, p in enumerate(todo, 1):
                    if cancel and cancel():
                        break
                    t0 = time.perf_counter()
                    reply = model.reply(_messages(p), temperature=0.0, max_tokens=max_tokens)
                    answer = reply.text.strip()
                    store.save_eval_result(
                        EvalResult(
                            model=ref.key, pair_id=p.id, question=p.question, reference=p.answer, answer=answer,
                            chrf=chrf(answer, p.answer), exact=normalize_answer(answer) == normalize_answer(p.answer),
                            tokens=reply.tokens, seconds=round(time.perf_counter() - t0, 3), created=now(),
                        )
                    )
                    answered[ref.key] += 1
                    report(ProgressEvent("answer", n, len(todo), f"{ref.label}: {p.question[:60]}", {"model": ref.label}))
            finally:
                model.close()
        if judge_ref is not None and rubric is not None and not (cancel and cancel()):
            _judge(ws, store, judge_ref, keys, pairs, rubric, in_process=in_process, report=report, cancel=cancel)
        return build_report(store, keys, pairs, used, judge=judge_ref.key if judge_ref else None, answered=answered,
                            rubric=digest)


def _judge(ws, store, judge_ref, keys, pairs, rubric: Rubric, *, in_process, report, cancel) -> None:
    """Judge every answer this judge has not judged by this rubric yet."""
    from core.infer.runner import open_model

    by_pair = {p.id: p for p in pairs}
    results = [r for r in store.eval_results(keys, judge=judge_ref.key, rubric=rubric.hash)
               if r.pair_id in by_pair and r.judge is None]
    if not results:
        return
    model = open_model(ws, judge_ref.path.as_posix(), in_process=in_process)
    model.ref = judge_ref  # a run exported as a GGUF LoRA judges with its adapter, not as its base file
    try:
        for n, r in enumerate(results, 1):
            if cancel and cancel():
                break
            prompt = rubric.prompt(r.question, r.reference, r.answer)
            reply = model.reply([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=24)
            store.save_judgement(r.model, r.pair_id, judge_ref.key, parse_judge_score(reply.text), reply.text.strip(),
                                 rubric=rubric.hash)
            report(ProgressEvent("judge", n, len(results), judge_ref.label, {"model": judge_ref.label}))
    finally:
        model.close()


def _scores(cells: list[Cell]) -> tuple[float, float, float | None]:
    """Mean chrF, share of exact answers and mean judge score (None: nothing judged)."""
    judged = [c.judge_score for c in cells if c.judge_score is not None]
    return (round(sum(c.chrf for c in cells) / len(cells), 2), round(sum(c.exact for c in cells) / len(cells), 3),
            round(sum(judged) / len(judged), 2) if judged else None)


def tag_breakdown(rows: list[Row], models: list[str]) -> list[TagRow]:
    """The scores per tag and model: tags in name order, the untagged pairs last; a pair with
    several tags counts in each; a tag none of whose pairs has an answer is left out."""
    buckets: dict[str | None, list[Row]] = {}
    for r in rows:
        tags: list[str | None] = list(r.tags) or [None]
        for tag in tags:
            buckets.setdefault(tag, []).append(r)
    out = []
    for tag in sorted(buckets, key=lambda t: (t is None, t or "")):
        scores = {}
        for m in models:
            cells = [r.cells[m] for r in buckets[tag] if m in r.cells]
            if cells:
                chrf_mean, exact, judged = _scores(cells)
                scores[m] = TagScores(len(cells), chrf_mean, exact, judged)
        if scores:
            out.append(TagRow(tag, len(buckets[tag]), scores))
    return out


def build_report(store, keys: list[str], pairs=None, used: str = "approved", *, judge: str | None = None,
                 answered: dict[str, int] | None = None, rubric: str | None = None) -> EvalReport:
    """The grid from stored results (no model is run). With ``rubric`` (a rubric's hash) only
    the judgements made with it are shown and averaged, and the judges' agreement with the
    user's grades rests on those."""
    from core.eval.agreement import judge_agreement
    from core.eval.langcheck import check as language_check

    if pairs is None:
        pairs, used = eval_pairs(store)
    results = store.eval_results(keys, judge=judge, rubric=rubric)
    grades = {(g.model, g.question.strip()): g for g in store.list_grades()}
    from core.store.chats import question_key

    grade_by_key = {(g.model, question_key(g.question)): g for g in grades.values()}
    by = {(r.model, r.pair_id): r for r in results}
    rows: list[Row] = []
    for p in pairs:
        row = Row(p.id, p.question, p.answer, tags=list(p.tags))
        for k in keys:
            r = by.get((k, p.id))
            if r is None:
                continue
            g = grade_by_key.get((k, question_key(p.question)))
            lang = language_check(r.answer, p.answer)
            row.cells[k] = Cell(r.answer, r.chrf, r.exact, r.judge_score, g.score if g else None, g.comment if g else None,
                                lang.flagged if lang.applies else None, lang.script if lang.flagged else None)
        rows.append(row)
    summaries = []
    for k in keys:
        cells = [r.cells[k] for r in rows if k in r.cells]
        s = ModelSummary(k, len(cells), (answered or {}).get(k, 0))
        if cells:
            s.chrf, s.exact, s.judge = _scores(cells)
            graded = [c.grade for c in cells if c.grade is not None]
            s.grade = round(sum(graded) / len(graded), 2) if graded else None
            checked = [c.drift for c in cells if c.drift is not None]
            s.drifted = sum(checked)
            s.drift = round(s.drifted / len(checked), 3) if checked else None
        summaries.append(s)
    stale = 0
    judgements = store.judgements()
    if rubric is not None:
        shown = {(r.model, r.pair_id) for r in results if r.judge is not None}
        answered_here = {(k, r.pair_id) for r in rows for k in r.cells}
        stale = len({(j.model, j.pair_id) for j in judgements if j.rubric != rubric and (judge is None or j.judge == judge)
                     and (j.model, j.pair_id) in answered_here and (j.model, j.pair_id) not in shown})
        judgements = [j for j in judgements if j.rubric == rubric]
    agreement = judge_agreement(judgements, store.list_grades())
    return EvalReport(keys, rows, summaries, used, judge, rubric, stale, agreement, tag_breakdown(rows, keys))
