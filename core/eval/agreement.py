"""Judge–human agreement: does a judge model score answers the way the user grades them?

A judge's 1–5 scores are only worth reading if they follow the user's own 1–5 grades. For each
judge, on the answers that carry both a judge score and the user's grade (the same model's
answer to the same question — and the very answer the judge read, when the grade recorded
which answer it was given to), this says how many answers that rests on (``n``), the share of
exact agreement, the share within one point (±1), and Spearman's rank correlation (ties get
their average rank; the correlation is undefined — None — below two answers or when either side
gave one score to all). Pure functions: the store supplies the judgements and grades.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from core.store.chats import question_key


@dataclass(frozen=True)
class Agreement:
    judge: str
    n: int
    spearman: float | None
    exact: float | None
    within_one: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of the ranks they span ([5, 3, 5] → [2.5, 1, 2.5])."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = mean_rank
        i = j + 1
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's ρ: Pearson's correlation of the ranks (so ties are handled exactly)."""
    if len(xs) != len(ys):
        raise ValueError("spearman needs two sequences of one length")
    if len(xs) < 2:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)


def agreement(judge: str, scored: Sequence[tuple[int, int]]) -> Agreement:
    """Agreement on (judge score, human grade) pairs."""
    n = len(scored)
    if not n:
        return Agreement(judge, 0, None, None, None)
    rho = spearman([s for s, _ in scored], [g for _, g in scored])
    return Agreement(
        judge,
        n,
        None if rho is None else round(rho, 3),
        round(sum(s == g for s, g in scored) / n, 3),
        round(sum(abs(s - g) <= 1 for s, g in scored) / n, 3),
    )


def _same_answer(a: str | None, b: str) -> bool:
    return a is None or " ".join(a.split()) == " ".join(b.split())


def judge_agreement(judgements: Iterable, grades: Iterable) -> list[Agreement]:
    """One ``Agreement`` per judge (in name order) from stored judgements (``model``, ``judge``,
    ``score``, ``question``, ``answer``) and grades (``model``, ``question``, ``score``,
    ``answer``). A judge whose every judgement lacks a grade is listed with n = 0; a
    judgement whose reply held no score counts for nothing."""
    by_key = {(g.model, question_key(g.question)): g for g in grades}
    scored: dict[str, list[tuple[int, int]]] = {}
    for j in judgements:
        pairs = scored.setdefault(j.judge, [])
        g = by_key.get((j.model, question_key(j.question)))
        if j.score is None or g is None or not _same_answer(g.answer, j.answer):
            continue
        pairs.append((int(j.score), int(g.score)))
    return [agreement(judge, scored[judge]) for judge in sorted(scored)]
