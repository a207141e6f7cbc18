"""TRL's fused LM head routed to PyTorch on the CPU: the same log-probs, statistics and gradients
as full logits, chunk by chunk (TRL 1.15's own kernel is Triton, CUDA/XPU only)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.learning

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("softcap", [None, 3.0])
def test_chunked_log_probs_equal_full_logits_with_their_gradients(monkeypatch, softcap):
    import core.train.fused_head as fused

    monkeypatch.setattr(fused, "CHUNK_ELEMENTS", 50 * 5)  # 5 token rows per chunk: 8 chunks for 37 tokens
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    bias = torch.randn(50, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    outputs = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")
    lp, ent, sq, mean, top1 = fused.chunked_log_probs(hidden, weight, bias, targets, 0.7, 4096, softcap, 1.5, outputs)

    z = (hidden @ weight.t() + bias) * 1.5
    if softcap:
        z = softcap * torch.tanh(z / softcap)
    z = z / 0.7
    ref = torch.log_softmax(z, -1)
    ref_lp = ref.gather(-1, targets[:, None]).squeeze(-1)
    ref_ent = -(ref.exp() * ref).sum(-1)
    assert torch.allclose(lp, ref_lp, atol=1e-5) and torch.allclose(ent, ref_ent, atol=1e-5)
    assert torch.allclose(sq, torch.log((ref.exp() ** 2).sum(-1)), atol=1e-5)
    assert torch.allclose(mean, z.mean(-1), atol=1e-5)
    assert top1.dtype == torch.bool and torch.equal(top1, z.argmax(-1) == targets)
    ours = torch.autograd.grad(lp.sum() + ent.sum(), (hidden, weight, bias))
    full = torch.autograd.grad(ref_lp.sum() + ref_ent.sum(), (hidden, weight, bias))
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(ours, full))


def test_unrequested_outputs_are_none():
    from core.train.fused_head import chunked_log_probs

    lp, ent, sq, mean, top1 = chunked_log_probs(torch.randn(3, 4), torch.randn(6, 4), None, torch.tensor([0, 1, 5]))
    assert lp.shape == (3,) and (lp <= 0).all() and ent is sq is mean is top1 is None


def test_trl_fused_head_is_routed_off_cuda_and_kept_on_it():
    from trl.trainer import utils as trl_utils

    from core.train.fused_head import route_other_devices

    assert route_other_devices() and route_other_devices()  # idempotent
    routed = trl_utils._ChunkedLogProbFunction
    lp, *_ = routed.apply(torch.randn(2, 4), torch.randn(6, 4), None, torch.tensor([1, 2]), 1.0, 32768)
    assert lp.shape == (2,) and torch.isfinite(lp).all()
