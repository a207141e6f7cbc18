"""Packed training without cross-talk and without an L×L mask, on any device.

TRL's padding-free collator puts several examples in one row and tells the model where
each starts (``cu_seq_lens_q``). flash-attn's varlen kernels use that directly; sdpa and
eager attention instead get a block-diagonal L×L mask, which on the CPU costs more than
packing saves (bench/train.py). This attention runs PyTorch's causal sdpa once per
example of the row — the same result, and work proportional to each example's length².

Registered with transformers' ``AttentionInterface`` under ``NAME``; because transformers
builds no mask for an implementation it has no mask function for, none is built.
"""

from __future__ import annotations

NAME = "nastavnik_varlen"


def varlen_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, sliding_window=None, **kwargs):
    """(attn_output [batch, len, heads, dim], None), like transformers' own sdpa function.

    ``sliding_window`` (Gemma 3's local layers pass it): a token sees itself and the
    ``sliding_window - 1`` tokens before it, as transformers' sliding-window causal mask has it.
    """
    import torch
    import torch.nn.functional as F

    if key.shape[1] != query.shape[1]:  # grouped-query attention: one key/value head per group
        rep = query.shape[1] // key.shape[1]
        key = key.repeat_interleave(rep, dim=1)
        value = value.repeat_interleave(rep, dim=1)
    dropout = dropout if module.training else 0.0
    window = int(sliding_window) if sliding_window else None

    def attend(q, k, v):
        n = q.shape[2]
        if window is None or n <= window or n < 2:
            return F.scaled_dot_product_attention(q, k, v, is_causal=n > 1, dropout_p=dropout, scale=scaling)
        i = torch.arange(n, device=q.device)
        band = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - window)  # causal, the last `window` tokens
        return F.scaled_dot_product_attention(q, k, v, attn_mask=band, dropout_p=dropout, scale=scaling)

    edges = _edges(kwargs, query.shape[0], query.shape[2])
    if edges is None:
        # not a packed row: transformers builds no mask for this implementation, and the
        # right-padded batches of training need none for causal attention (a real token never
        # sees the padding after it; padded positions carry no loss)
        out = attend(query, key, value)
    else:
        lengths = [e - s for s, e in zip(edges[:-1], edges[1:])]
        if sum(lengths) != query.shape[2]:
            raise ValueError(f"packed row of {query.shape[2]} tokens, but its examples add up to {sum(lengths)}")
        # split, not slices: the backward of a split is one concatenation, while each slice's
        # backward would fill a zero tensor the size of the whole row
        parts = [attend(q, k, v) for q, k, v in zip(query.split(lengths, dim=2), key.split(lengths, dim=2), value.split(lengths, dim=2))]
        out = torch.cat(parts, dim=2)
    return out.transpose(1, 2).contiguous(), None


def _edges(kwargs: dict, batch: int, length: int) -> list[int] | None:
    """Where the examples of a packed row start (and the row ends), or None if not packed.

    From the collator's ``cu_seq_lens_q``, else from position ids restarting at 0 (a caller
    that passes only position ids must not get attention across examples either).
    """
    if batch != 1 or length < 2:
        return None
    bounds = kwargs.get("cu_seq_lens_q")
    if bounds is not None:
        return [int(x) for x in bounds.tolist()]
    positions = kwargs.get("position_ids")
    if positions is None:
        return None
    starts = (positions.reshape(-1)[1:] == 0).nonzero().reshape(-1).add(1).tolist()
    if not starts:
        return None
    return [0, *starts, length]


def register() -> str:
    """Make ``attn_implementation=NAME`` available to transformers; returns the name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, varlen_sdpa)
    return NAME
