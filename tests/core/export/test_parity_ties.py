"""The parity check tells a rounding flip at a near tie from a real mismatch."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.learning


def test_a_split_at_a_near_tie_is_no_warning_but_is_said(demo_model):
    import torch
    from transformers import AutoModelForCausalLM

    from core.export.parity import NEAR_TIE, AnswerParity, ParityReport, _logit_gap

    model = AutoModelForCausalLM.from_pretrained(str(demo_model))
    prefix = [2, 4, 100, 200]
    with torch.no_grad():
        logits = model(torch.tensor([prefix])).logits[0, -1]
    order = torch.argsort(logits, descending=True)
    top, second, far = int(order[0]), int(order[1]), int(order[-1])
    close = _logit_gap(model, prefix, top, second)
    assert close == pytest.approx(float((logits[top] - logits[second]) / logits.std()), rel=1e-5)
    assert _logit_gap(model, prefix, top, far) > 1.0  # a clear preference: a real mismatch
    assert _logit_gap(model, prefix, top, None) is None  # one side ended: no tie

    tie = AnswerParity("q?", "q8_0", 3, 5, 5, True, True, first_diff="token 3: …", gap=NEAR_TIE / 2)
    real = AnswerParity("q?", "q8_0", 0, 5, 5, True, True, first_diff="token 0: …", gap=3.0)
    same = AnswerParity("q?", "q8_0", 5, 5, 5, True, True)
    assert tie.near_tie and not real.near_tie and not same.near_tie
    report = ParityReport(template_equal=True, tokens_equal=True, eos_equal=True, eos_token="x", answers=[same, tie])
    assert report.ok and "(1 part at a near tie)" in report.summary()
