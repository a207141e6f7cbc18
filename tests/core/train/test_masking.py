"""Answer-only masking is exact for every template; Gemma's rules hold."""

from __future__ import annotations

import pytest

from core.train.dataset import IGNORE, encode
from core.train.templates import TEMPLATES, pair_messages

pytestmark = pytest.mark.xdist_group("demo_model")


@pytest.fixture(scope="module")
def tok(demo_model):
    from core.train.demo_model import load_tokenizer

    return load_tokenizer(demo_model)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_only_the_answer_and_its_end_marker_are_trained(tok, name):
    template = TEMPLATES[name]
    answer = "Эпоха — один проход\nпо всем данным."
    messages = pair_messages(
        "Что такое эпоха?",
        answer,
        system="Отвечай кратко.",
        context=[{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте! Это не учим."}],
    )
    enc = encode(tok, template.jinja, messages)
    trained = [t for t, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE]
    assert [lab for lab in enc.labels if lab != IGNORE] == trained  # labels equal the ids where trained
    assert tok.decode(trained) == template.answer_prefix + answer + template.end_marker
    # the trained tokens are one contiguous run at the end of the answer
    idx = [i for i, lab in enumerate(enc.labels) if lab != IGNORE]
    assert idx == list(range(idx[0], idx[-1] + 1))
    untrained = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab == IGNORE])
    assert "Здравствуйте" in untrained and "Что такое эпоха?" in untrained and answer not in untrained


def test_gemma_folds_system_into_first_user_turn_and_has_one_bos(tok):
    t = TEMPLATES["gemma"]
    text = t.render(pair_messages("Вопрос?", "Ответ.", system="Будь краток."), bos_token=tok.bos_token)
    assert "system" not in text
    assert text.startswith("<s><start_of_turn>user\nБудь краток.\n\nВопрос?<end_of_turn>\n<start_of_turn>model\nОтвет.<end_of_turn>")
    enc = encode(tok, t.jinja, pair_messages("Вопрос?", "Ответ."))
    assert enc.input_ids.count(tok.bos_token_id) == 1 and enc.input_ids[0] == tok.bos_token_id


def test_truncation_is_reported(tok):
    enc = encode(tok, TEMPLATES["gemma"].jinja, pair_messages("Вопрос?", "очень длинный ответ " * 40), max_len=32)
    assert enc.truncated and len(enc.input_ids) == 32 and enc.full_length > 32
