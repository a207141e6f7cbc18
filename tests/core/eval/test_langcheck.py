"""The Russian check: hand-made answers that drift into English or Chinese are flagged;
Russian with code, formulas, links and the reference's own English terms is not."""

from __future__ import annotations

import pytest

from core.eval.langcheck import check, prose, script_of, terms

REFERENCE = "LoRA добавляет к замороженным весам низкоранговые матрицы; ранг r задаёт их размер, batch size — отдельно."

RUSSIAN = [
    "LoRA обучает две небольшие матрицы поверх замороженных весов модели, ранг r обычно 8 или 16.",
    # code blocks and inline code are not prose
    "Включите адаптер так:\n```python\nfrom peft import LoraConfig, get_peft_model\nconfig = LoraConfig(r=16, "
    "lora_alpha=32, target_modules=['q_proj', 'v_proj'])\nmodel = get_peft_model(model, config)\n```\n"
    "Параметр `lora_alpha` масштабирует добавку.",
    # formulas are not prose
    "Добавка равна $\\Delta W = B A$, где $B \\in \\mathbb{R}^{d \\times r}$ и $$A \\in \\mathbb{R}^{r \\times k}$$ — "
    "малые матрицы.",
    "Обновление: \\(W' = W + \\frac{\\alpha}{r} BA\\).",
    # the reference's own English terms, in any case, and a link
    "Размер batch size и ранг lora выбирают по памяти: https://huggingface.co/docs/peft/main/en/conceptual_guides/lora",
    # no letters at all: nothing to flag
    "42",
]

DRIFTED = [
    ("LoRA freezes the pretrained weights and trains two small low-rank matrices instead, which saves memory.", "latin"),
    ("LoRA — это способ, which freezes the base model and learns a small low-rank update for each layer.", "latin"),
    ("LoRA 是一种低秩适配方法，它冻结预训练权重并训练两个小矩阵。", "cjk"),
    ("Коротко: LoRA 冻结原始模型的权重，只训练低秩矩阵，这样可以节省显存和时间。", "cjk"),
    ("Η LoRA παγώνει τα βάρη και εκπαιδεύει μικρούς πίνακες.", "other"),
]


@pytest.mark.parametrize("answer", RUSSIAN)
def test_russian_answers_are_not_flagged(answer):
    result = check(answer, REFERENCE)
    assert result.applies and not result.flagged, result


@pytest.mark.parametrize("answer, script", DRIFTED)
def test_answers_that_switch_language_are_flagged(answer, script):
    result = check(answer, REFERENCE)
    assert result.flagged and result.script == script, result


def test_without_the_rules_the_russian_answers_would_be_flagged():
    """The exclusions do the work: counted naively, code and terms make these mostly Latin."""
    from core.eval.langcheck import _counts

    for answer in RUSSIAN[1:3]:
        naive = _counts(answer)
        assert naive["latin"] > naive["cyrillic"], answer
    terms_answer = "Ставьте batch size, learning rate и lora rank."
    assert check(terms_answer, "").flagged  # mostly Latin letters…
    assert not check(terms_answer, "Подберите batch size, learning rate и lora rank по памяти.").flagged  # …all terms


def test_an_english_reference_is_not_checked():
    result = check("A low-rank adapter.", "A low-rank adapter on frozen weights.")
    assert not result.applies and not result.flagged


def test_the_pieces():
    assert script_of("ж") == "cyrillic" and script_of("Ё") == "cyrillic" and script_of("q") == "latin"
    assert script_of("汉") == "cjk" and script_of("カ") == "cjk" and script_of("λ") == "other"
    assert script_of("7") is None and script_of(" ") is None
    assert "peft" not in prose("а ```peft``` б `peft` в $peft$ г")
    assert terms(REFERENCE) == {"lora", "r", "batch", "size"}
    assert prose("цена $5 и $10") == "цена $5 и $10"  # dollars are not formulas
