"""The blind-vote ranking: Bradley–Terry strengths where the answer is known by hand, ties as
half-wins, the prior that keeps a clean sweep finite, and the Wilson interval's known values."""

from __future__ import annotations

import math

import pytest

from core.eval.ranking import bradley_terry, rank, wilson


def votes(a: str, b: str, a_wins: int, b_wins: int, ties: int = 0) -> list[tuple[str, str, str]]:
    return [(a, b, "a")] * a_wins + [(a, b, "b")] * b_wins + [(a, b, "tie")] * ties


def test_strengths_that_fit_every_pair_exactly_are_found():
    # A beats B 2:1, B beats C 2:1, A beats C 4:1: strengths 4, 2, 1 satisfy every score
    # equation (W_i = Σ_j n_ij p_i / (p_i + p_j)), so they are the maximum-likelihood fit
    # — shown as 2, 1, 1/2 (geometric mean 1)
    v = votes("A", "B", 2, 1) + votes("B", "C", 2, 1) + list(reversed(votes("C", "A", 1, 4)))
    p = bradley_terry(v, prior=0)
    assert p == pytest.approx({"A": 2.0, "B": 1.0, "C": 0.5}, rel=1e-9)


def test_two_models_ratio_is_their_wins_ratio_and_a_tie_is_half_a_win_each():
    # with two models the fit is p_x / p_y = W_x / W_y
    p = bradley_terry(votes("x", "y", 3, 1), prior=0)
    assert p["x"] / p["y"] == pytest.approx(3.0)
    p = bradley_terry(votes("x", "y", 2, 0, ties=2), prior=0)  # W = 2 + 1 = 3 against 0 + 1 = 1
    assert p["x"] / p["y"] == pytest.approx(3.0)
    # the prior: one virtual tie per pair that met, 3.5 against 1.5
    p = bradley_terry(votes("x", "y", 3, 1))
    assert p["x"] / p["y"] == pytest.approx(3.5 / 1.5)
    assert math.sqrt(p["x"] * p["y"]) == pytest.approx(1.0)


def test_a_clean_sweep_stays_finite_with_the_prior_and_is_ranked_first():
    table = rank(votes("weak", "strong", 0, 3))
    assert [s.model for s in table] == ["strong", "weak"]
    strong, weak = table
    assert (strong.votes, strong.wins, strong.losses, strong.win_rate) == (3, 3, 0, 1.0)
    assert strong.strength / weak.strength == pytest.approx(3.5 / 0.5)
    assert strong.rating == pytest.approx(1000 + 400 * math.log10(math.sqrt(7)))
    # 3 of 3 is no proof: the interval still reaches below one half
    assert strong.low == pytest.approx(0.4385, abs=1e-4) and strong.high == 1.0
    plain = rank(votes("weak", "strong", 0, 3), prior=0)
    assert plain[1].strength == 0.0 and plain[1].rating is None


def test_rank_counts_wins_ties_losses_and_orders_by_strength():
    v = votes("A", "B", 2, 1) + votes("B", "C", 2, 1) + votes("A", "C", 4, 1) + votes("A", "C", 0, 0, ties=2)
    table = rank(v, prior=0)
    assert [s.model for s in table] == ["A", "B", "C"]
    a = table[0]
    assert (a.votes, a.wins, a.ties, a.losses) == (10, 6, 2, 2) and a.win_rate == pytest.approx(0.7)
    assert a.low < a.win_rate < a.high
    assert rank([]) == []


def test_wilson_interval_known_values():
    low, high = wilson(5, 10)  # 5 of 10: centred on ½, ±0.2634
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    low, high = wilson(0, 4)
    assert low == 0.0 and high == pytest.approx(0.4899, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
