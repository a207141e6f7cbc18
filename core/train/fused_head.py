"""TRL's fused LM head on devices its kernel does not run on (the CPU).

TRL 1.15's ``SFTTrainer`` always computes the loss through a "fused LM head"
(``trl.trainer.utils.add_fused_lm_head``): the hidden states of the trained positions are
projected through the LM head in tiles and reduced to per-token log-probabilities without
building the ``[tokens, vocab]`` logits. Its only kernel is Triton, for CUDA and XPU. On the
CPU it fails either way: with Triton installed (Unsloth needs it) the kernel asks Triton for
a GPU driver ("0 active drivers"); without Triton the kernel is ``None``.

TRL 1.15's ``DPOTrainer`` computes its policy and reference log-probabilities through the same
fused head (``add_fused_lm_head``, outputs log_probs, entropy, mean_logits, is_top1), so a DPO
run routes it the same way; ``ORPOTrainer`` (``trl.experimental``) builds the logits itself and
uses no Triton kernel. Neither trainer calls another Triton kernel on the CPU.

``route_other_devices()`` keeps TRL's kernel for CUDA/XPU tensors and sends every other device
to ``chunked_log_probs``, the same computation in PyTorch: rows of tokens at a time, each
chunk recomputed in the backward pass (activation checkpointing), so the full logits of a
262k-token vocabulary (Gemma) never exist at once on the CPU either. Unsloth's CPU backend
installs a router of its own; when it is there, nothing is changed.
"""

from __future__ import annotations

# values of a [rows, vocab] float32 chunk: 16M floats = 64 MB at a time
CHUNK_ELEMENTS = 16 * 1024 * 1024
_KEYS = ("entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def _rows(hidden, weight, bias, targets, inv_t: float, softcap, logit_scale: float, want: tuple[bool, ...]):
    """log p(target) and the optional statistics for one chunk of token rows, in float32."""
    import torch
    import torch.nn.functional as F

    z = F.linear(hidden.float(), weight.float(), None if bias is None else bias.float())
    if logit_scale != 1.0:
        z = z * logit_scale
    if softcap:
        z = softcap * torch.tanh(z / softcap)
    z = z * inv_t
    log_p = torch.log_softmax(z, dim=-1)
    picked = log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(log_p.exp() * log_p).sum(-1) if want[0] else picked.new_zeros(picked.shape)
    with torch.no_grad():
        sq = torch.logsumexp(2 * log_p, dim=-1) if want[1] else picked.new_zeros(picked.shape)
        mean = z.mean(-1) if want[2] else picked.new_zeros(picked.shape)
        top1 = (z.argmax(-1) == targets).float() if want[3] else picked.new_zeros(picked.shape)
    return picked, entropy, sq, mean, top1


def chunked_log_probs(hidden, weight, bias, targets, temperature: float = 1.0, chunk_size: int | None = None,
                      final_logit_softcapping=None, logit_scale: float = 1.0, outputs=("log_probs",)):
    """What TRL's ``ChunkedLogProbFunction.apply`` returns: (log_probs, entropy, log_sum_sq_probs,
    mean_logits, is_top1), the ones not asked for as None; ``chunk_size`` (the kernel's vocabulary
    tile) is accepted and not needed here."""
    import torch
    from torch.utils.checkpoint import checkpoint

    want = tuple(k in outputs for k in _KEYS)
    rows = max(1, CHUNK_ELEMENTS // max(1, weight.shape[0]))
    inv_t = 1.0 / float(temperature)
    grads = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad))
    parts = []
    for start in range(0, max(hidden.shape[0], 1), rows):
        args = (hidden[start:start + rows], weight, bias, targets[start:start + rows], inv_t, final_logit_softcapping, logit_scale, want)
        parts.append(checkpoint(_rows, *args, use_reentrant=False) if grads else _rows(*args))
    log_probs, entropy, sq, mean, top1 = (torch.cat([p[i] for p in parts]) for i in range(5))
    return (
        log_probs,
        entropy if want[0] else None,
        sq.detach() if want[1] else None,
        mean.detach() if want[2] else None,
        top1.detach().bool() if want[3] else None,
    )


def route_other_devices() -> bool:
    """Send TRL's fused LM head to ``chunked_log_probs`` off CUDA/XPU; True if TRL has one."""
    try:
        from trl.trainer import utils as trl_utils
    except ImportError:
        return False
    kernel = getattr(trl_utils, "_ChunkedLogProbFunction", "missing")
    if kernel == "missing":
        return False  # a TRL without the fused head computes the loss from the logits itself
    if getattr(kernel, "_routes_other_devices", False) or getattr(kernel, "_unsloth_cpu_dispatch", False):
        return True

    class Routed:
        _routes_other_devices = True

        @staticmethod
        def apply(hidden, *args, **kwargs):
            if kernel is not None and hidden.device.type in ("cuda", "xpu"):
                return kernel.apply(hidden, *args, **kwargs)
            return chunked_log_probs(hidden, *args, **kwargs)

    trl_utils._ChunkedLogProbFunction = Routed
    return True
