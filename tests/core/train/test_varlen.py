"""Packed attention keeps examples apart and honours Gemma 3's sliding window."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.learning

torch = pytest.importorskip("torch")


class _Module:
    training = False


def _reference(q, k, v, window, lengths):
    """Eager attention with an explicit mask: causal, within each example, the last `window` tokens."""
    n = q.shape[2]
    example = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    i = torch.arange(n)
    allowed = (i[None, :] <= i[:, None]) & (example[None, :] == example[:, None])
    if window:
        allowed &= i[None, :] > i[:, None] - window
    scores = (q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v


@pytest.mark.parametrize("window", [None, 4, 7])
def test_packed_sliding_window_attention_equals_the_masked_reference(window):
    from core.train.varlen import varlen_sdpa

    torch.manual_seed(0)
    lengths = [9, 3, 12]
    q, k, v = (torch.randn(1, 2, sum(lengths), 8) for _ in range(3))
    bounds = torch.tensor([0, 9, 12, 24])
    out, _ = varlen_sdpa(_Module(), q, k, v, None, sliding_window=window, cu_seq_lens_q=bounds)
    assert torch.allclose(out.transpose(1, 2), _reference(q, k, v, window, lengths), atol=1e-5)


def test_unpacked_rows_get_the_window_too():
    from core.train.varlen import varlen_sdpa

    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 2, 10, 8) for _ in range(3))
    out, _ = varlen_sdpa(_Module(), q, k, v, None, sliding_window=3)
    for b in range(2):
        ref = _reference(q[b:b + 1], k[b:b + 1], v[b:b + 1], 3, [10])
        assert torch.allclose(out[b:b + 1].transpose(1, 2), ref, atol=1e-5)


def test_gemma3_packed_loss_equals_padded_loss_past_its_sliding_window(replica):
    """On the Gemma 3 replica (window 32, examples longer than that): packed == padded."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from core.train.dataset import Example, encode_all
    from core.train import varlen
    from tests.support.data import sample_pairs

    folder = replica("gemma3")
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation=varlen.register())
    reference = AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation="eager")  # transformers' own sliding mask
    for m in (model, reference):
        m.config.use_cache = False
        m.eval()
    convs = [[{"role": "user", "content": p["question"]}, {"role": "assistant", "content": p["answer"]}] for p in sample_pairs(4, 0)]
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in encode_all(tok, tok.chat_template, [Example(None, c) for c in convs], max_len=256)]
    assert max(len(r["input_ids"]) for r in rows) > 32
    padded = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)(rows)
    packed = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id, padding_free=True)(rows)
    with torch.no_grad():
        loss_padded = float(reference(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], labels=padded["labels"],
                                  token_type_ids=torch.zeros_like(padded["input_ids"])).loss)
        loss_packed = float(model(**{k: v for k, v in packed.items() if k != "seq_idx"}, token_type_ids=torch.zeros_like(packed["input_ids"])).loss)
    assert loss_packed == pytest.approx(loss_padded, rel=1e-4)


def test_qwen35_packed_loss_equals_padded_loss_through_its_linear_attention_layers(replica):
    """Qwen 3.5's gated delta-net layers carry a state along the row: packed rows must restart it
    at each example (transformers takes the boundaries from position_ids). Packed == padded, and
    the same row without its boundaries gives another loss, so the check can tell them apart."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from core.train.dataset import Example, encode_all
    from core.train import varlen
    from tests.support.data import sample_pairs

    folder = replica("qwen3.5")
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation=varlen.register())
    reference = AutoModelForCausalLM.from_pretrained(str(folder))
    for m in (model, reference):
        m.config.use_cache = False
        m.eval()
    assert "linear_attention" in model.config.layer_types
    convs = [[{"role": "user", "content": p["question"]}, {"role": "assistant", "content": p["answer"]}] for p in sample_pairs(4, 0)]
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in encode_all(tok, tok.chat_template, [Example(None, c) for c in convs], max_len=256)]
    padded = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)(rows)
    packed = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id, padding_free=True)(rows)
    with torch.no_grad():
        loss_padded = float(reference(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], labels=padded["labels"]).loss)
        loss_packed = float(model(**{k: v for k, v in packed.items() if k != "seq_idx"}).loss)
        loss_joined = float(model(input_ids=packed["input_ids"], labels=packed["labels"]).loss)  # one long example
    assert loss_packed == pytest.approx(loss_padded, rel=5e-5)
    assert loss_joined != pytest.approx(loss_padded, rel=1e-4)
