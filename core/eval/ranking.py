"""Ranking models by blind votes: a Bradley–Terry fit and each model's win rate with its
uncertainty — so a handful of votes reads as a handful, not as a verdict.

Pure functions over votes (model A, model B, winner ``a``/``b``/``tie``); the store's votes
come from Chat's blind comparison (``core.loop.blind``).

- **Bradley–Terry**: each model has a strength ``p``; the chance that i beats j is
  ``p_i / (p_i + p_j)``. Fitted by Hunter's MM algorithm (2004): ``p_i ← W_i / Σ_j n_ij / (p_i + p_j)``
  with ``W_i`` i's wins and ``n_ij`` the votes between i and j. **A tie counts as half a win for
  each side.** With few votes a model that won every vote would run off to infinity, so each
  pair of models that met gets ``prior`` virtual tie votes (default 1: half a win each way),
  which pulls small samples toward even and vanishes as votes pile up; ``prior=0`` is the plain
  maximum-likelihood fit. Strengths are scaled to a geometric mean of 1 and shown on the Elo
  scale: ``rating = 1000 + 400·log10(p)``.
- **Win rate**: (wins + ties/2) / votes, with its 95 % Wilson score interval over the votes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
PRIOR = 1.0  # virtual tie votes per pair of models that met
#: how ``rank`` ranks, said with its numbers (``nastavnik chats votes --json``)
METHOD = {"fit": "bradley-terry (MM)", "ties": "half a win each", "prior_ties_per_pair": PRIOR,
          "rating": "1000 + 400*log10(strength)", "interval": "wilson 95%"}


@dataclass
class Standing:
    """One model's line of the ranking."""

    model: str
    votes: int
    wins: int
    ties: int
    losses: int
    win_rate: float  # (wins + ties / 2) / votes
    low: float  # the 95 % Wilson interval of the win rate
    high: float
    strength: float  # Bradley–Terry, geometric mean 1 over the models
    rating: float | None  # 1000 + 400·log10(strength); None for 0 (never won, with prior=0)

    def to_dict(self) -> dict:
        return asdict(self)


def wilson(score: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a rate of ``score`` successes in ``n`` tries ((0, 1) for n = 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = score / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def _games(votes: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, float]]:
    out = []
    for a, b, winner in votes:
        if a == b:
            continue  # a model against itself says nothing about it
        score = {"a": 1.0, "b": 0.0, "tie": 0.5}.get(winner)
        if score is None:
            raise ValueError(f"unknown winner {winner!r}: a, b or tie")
        out.append((a, b, score))
    return out


def bradley_terry(votes: Iterable[tuple[str, str, str]], *, prior: float = PRIOR, iterations: int = 10_000,
                  tol: float = 1e-12) -> dict[str, float]:
    """Bradley–Terry strengths by model (geometric mean 1), fitted by MM from (A, B, winner)
    votes, ties as half-wins, ``prior`` virtual tie votes per pair of models that met."""
    games = _games(votes)
    models = sorted({m for a, b, _ in games for m in (a, b)})
    wins = dict.fromkeys(models, 0.0)
    met: dict[tuple[str, str], float] = {}
    for a, b, score in games:
        wins[a] += score
        wins[b] += 1 - score
        key = (a, b) if a < b else (b, a)
        met[key] = met.get(key, 0.0) + 1
    for key in met:
        met[key] += prior
        wins[key[0]] += prior / 2
        wins[key[1]] += prior / 2
    against: dict[str, list[tuple[str, float]]] = {m: [] for m in models}
    for (i, j), n in met.items():
        against[i].append((j, n))
        against[j].append((i, n))
    p = dict.fromkeys(models, 1.0)
    for _ in range(iterations):
        new = {}
        for i in models:
            total = sum(n / (p[i] + p[j]) for j, n in against[i])
            new[i] = wins[i] / total if total else 1.0
        new = _scaled(new)
        change = max((abs(new[m] - p[m]) / max(p[m], 1e-300) for m in models), default=0.0)
        p = new
        if change < tol:
            break
    return p


def _scaled(p: dict[str, float]) -> dict[str, float]:
    """Divide by the geometric mean of the positive strengths (a model that never won stays 0)."""
    positive = [v for v in p.values() if v > 0]
    if not positive:
        return p
    mean = math.exp(sum(math.log(v) for v in positive) / len(positive))
    return {m: v / mean for m, v in p.items()}


def rank(votes: Iterable[tuple[str, str, str]], *, prior: float = PRIOR) -> list[Standing]:
    """Every model that was voted on, best first (by Bradley–Terry strength, then win rate)."""
    votes = list(votes)
    games = _games(votes)
    strength = bradley_terry(votes, prior=prior)
    tally: dict[str, list[int]] = {m: [0, 0, 0] for m in strength}  # wins, ties, losses
    for a, b, score in games:
        if score == 0.5:
            tally[a][1] += 1
            tally[b][1] += 1
        else:
            winner, loser = (a, b) if score == 1.0 else (b, a)
            tally[winner][0] += 1
            tally[loser][2] += 1
    out = []
    for model, (w, t, lo) in tally.items():
        n = w + t + lo
        rate = (w + t / 2) / n
        low, high = wilson(w + t / 2, n)
        s = strength[model]
        out.append(Standing(model, n, w, t, lo, rate, low, high, s, 1000 + 400 * math.log10(s) if s > 0 else None))
    out.sort(key=lambda r: (-r.strength, -r.win_rate, r.model))
    return out
