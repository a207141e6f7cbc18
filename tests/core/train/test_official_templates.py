"""Each family trains in its checkpoint's own chat template: `train --preview --json` shows the
exact text and trained substrings, checked against golden strings written by hand from the
official templates (not produced by the renderer the code uses)."""

from __future__ import annotations

import pytest

# the four kinds of pair the issue names; whitespace-heavy Cyrillic shows which templates trim
PAIRS = {
    "single": dict(question="Что такое эпоха?", answer="Один проход по данным."),
    "system": dict(question="Что такое LoRA?", answer="Низкоранговые адаптеры.", system="Отвечай кратко."),
    "multi": dict(question="А шаг?", answer="Одно обновление весов.",
                  context=[{"role": "user", "content": "Что такое эпоха?"}, {"role": "assistant", "content": "Один проход по данным."}]),
    "spaces": dict(question="  Что  такое\tбатч?\n", answer="\n  Пачка примеров,\n\nобрабатываемых вместе.  \n"),
}

L31_SYS = "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"


def _l31(role: str, text: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>"


def _g3(role: str, text: str) -> str:
    return f"<start_of_turn>{role}\n{text}<end_of_turn>\n"


def _q3(role: str, text: str) -> str:
    return f"<|im_start|>{role}\n{text}<|im_end|>\n"


NOTHINK = "<think>\n\n</think>\n\n"


def _g4(role: str, text: str) -> str:
    return f"<|turn>{role}\n{text}<turn|>\n"


G4_ANSWER = "<|turn>model\n<|channel>thought\n<channel|>"  # the 31B template's no-thinking generation prompt

# (text, trained) per family and pair, from reading each official template:
# Llama 3.1 trims every message and always opens with its dated system block;
# Gemma 3 trims messages but folds the system text untrimmed into the first user turn;
# Qwen 3 trims nothing, strips leading newlines of the final answer and, in non-thinking
# mode, opens the final answer with an empty think block (earlier answers have none);
# Qwen 3.5 does the same with every message trimmed;
# Gemma 4 (the 31B's template) has a real system turn, trims, and its no-thinking generation
# prompt ends in an empty thought channel that the rendered conversation lacks: the trained text
# is that prompt and the answer turn, as at inference.
GOLDEN = {
    "llama3.1": {
        "single": ("<|begin_of_text|>" + L31_SYS + "<|eot_id|>" + _l31("user", "Что такое эпоха?") + _l31("assistant", "Один проход по данным."),
                   ["Один проход по данным.<|eot_id|>"]),
        "system": ("<|begin_of_text|>" + L31_SYS + "Отвечай кратко.<|eot_id|>" + _l31("user", "Что такое LoRA?")
                   + _l31("assistant", "Низкоранговые адаптеры."), ["Низкоранговые адаптеры.<|eot_id|>"]),
        "multi": ("<|begin_of_text|>" + L31_SYS + "<|eot_id|>" + _l31("user", "Что такое эпоха?") + _l31("assistant", "Один проход по данным.")
                  + _l31("user", "А шаг?") + _l31("assistant", "Одно обновление весов."), ["Одно обновление весов.<|eot_id|>"]),
        "spaces": ("<|begin_of_text|>" + L31_SYS + "<|eot_id|>" + _l31("user", "Что  такое\tбатч?")
                   + _l31("assistant", "Пачка примеров,\n\nобрабатываемых вместе."), ["Пачка примеров,\n\nобрабатываемых вместе.<|eot_id|>"]),
    },
    "gemma3": {
        "single": ("<bos>" + _g3("user", "Что такое эпоха?") + _g3("model", "Один проход по данным."), ["Один проход по данным.<end_of_turn>"]),
        "system": ("<bos>" + _g3("user", "Отвечай кратко.\n\nЧто такое LoRA?") + _g3("model", "Низкоранговые адаптеры."),
                   ["Низкоранговые адаптеры.<end_of_turn>"]),
        "multi": ("<bos>" + _g3("user", "Что такое эпоха?") + _g3("model", "Один проход по данным.") + _g3("user", "А шаг?")
                  + _g3("model", "Одно обновление весов."), ["Одно обновление весов.<end_of_turn>"]),
        "spaces": ("<bos>" + _g3("user", "Что  такое\tбатч?") + _g3("model", "Пачка примеров,\n\nобрабатываемых вместе."),
                   ["Пачка примеров,\n\nобрабатываемых вместе.<end_of_turn>"]),
    },
    "qwen3": {
        "single": (_q3("user", "Что такое эпоха?") + _q3("assistant", NOTHINK + "Один проход по данным."),
                   ["Один проход по данным.<|im_end|>"]),
        "system": (_q3("system", "Отвечай кратко.") + _q3("user", "Что такое LoRA?") + _q3("assistant", NOTHINK + "Низкоранговые адаптеры."),
                   ["Низкоранговые адаптеры.<|im_end|>"]),
        "multi": (_q3("user", "Что такое эпоха?") + _q3("assistant", "Один проход по данным.") + _q3("user", "А шаг?")
                  + _q3("assistant", NOTHINK + "Одно обновление весов."), ["Одно обновление весов.<|im_end|>"]),
        "spaces": (_q3("user", "  Что  такое\tбатч?\n") + _q3("assistant", NOTHINK + "  Пачка примеров,\n\nобрабатываемых вместе.  \n"),
                   ["  Пачка примеров,\n\nобрабатываемых вместе.  \n<|im_end|>"]),
    },
    "qwen3.5": {
        "single": (_q3("user", "Что такое эпоха?") + _q3("assistant", NOTHINK + "Один проход по данным."),
                   ["Один проход по данным.<|im_end|>"]),
        "system": (_q3("system", "Отвечай кратко.") + _q3("user", "Что такое LoRA?") + _q3("assistant", NOTHINK + "Низкоранговые адаптеры."),
                   ["Низкоранговые адаптеры.<|im_end|>"]),
        "multi": (_q3("user", "Что такое эпоха?") + _q3("assistant", "Один проход по данным.") + _q3("user", "А шаг?")
                  + _q3("assistant", NOTHINK + "Одно обновление весов."), ["Одно обновление весов.<|im_end|>"]),
        "spaces": (_q3("user", "Что  такое\tбатч?") + _q3("assistant", NOTHINK + "Пачка примеров,\n\nобрабатываемых вместе."),
                   ["Пачка примеров,\n\nобрабатываемых вместе.<|im_end|>"]),
    },
    "gemma4": {
        "single": ("<bos>" + _g4("user", "Что такое эпоха?") + G4_ANSWER + "Один проход по данным.<turn|>\n", ["Один проход по данным.<turn|>"]),
        "system": ("<bos>" + _g4("system", "Отвечай кратко.") + _g4("user", "Что такое LoRA?") + G4_ANSWER + "Низкоранговые адаптеры.<turn|>\n",
                   ["Низкоранговые адаптеры.<turn|>"]),
        "multi": ("<bos>" + _g4("user", "Что такое эпоха?") + _g4("model", "Один проход по данным.") + _g4("user", "А шаг?") + G4_ANSWER
                  + "Одно обновление весов.<turn|>\n", ["Одно обновление весов.<turn|>"]),
        "spaces": ("<bos>" + _g4("user", "Что  такое\tбатч?") + G4_ANSWER + "Пачка примеров,\n\nобрабатываемых вместе.<turn|>\n",
                   ["Пачка примеров,\n\nобрабатываемых вместе.<turn|>"]),
    },
}


@pytest.mark.parametrize("arch", sorted(GOLDEN))
def test_preview_shows_the_official_format_and_only_the_answer_trained(store, cli, replica, arch):
    ids = {}
    for kind, pair in PAIRS.items():
        ids[kind] = store.add_pair(status="approved", split="train", **pair).id
    folder = replica(arch)
    assert cli("models", "add", str(folder), "--name", folder.name).code == 0
    r = cli("train", "--base", folder.name, "--preview", "--json", "--pairs", ",".join(str(i) for i in ids.values()))
    assert r.code == 0, r.err
    shown = {s["pair_id"]: s for s in r.json()["samples"]}
    for kind, pair_id in ids.items():
        text, trained = GOLDEN[arch][kind]
        assert shown[pair_id]["text"] == text, (arch, kind)
        assert shown[pair_id]["trained"] == trained, (arch, kind)


def test_preview_pairs_names_pairs_that_are_not_trained_on(store, cli, replica):
    store.add_pair("Вопрос?", "Ответ.", status="approved")
    draft = store.add_pair("Черновик?", "Не одобрен.", status="draft")
    folder = replica("qwen3")
    cli("models", "add", str(folder), "--name", folder.name)
    r = cli("train", "--base", folder.name, "--preview", "--json", "--pairs", str(draft.id))
    assert r.code == 2 and f"pair(s) {draft.id} are not in this run's data" in r.err


def test_gemma4_31b_template_trains_as_inference_runs_and_a_broken_one_is_refused(replica):
    """That template's no-thinking prompt ends in an empty thought channel the full conversation
    never renders: the text trained on is the prompt, then the answer turn (what inference sees).
    A template that renders the earlier turns differently when the answer follows is refused."""
    from transformers import AutoTokenizer

    from core.train.dataset import encode
    from core.errors import UserError
    from core.train.replicas import template_text

    tok = AutoTokenizer.from_pretrained(str(replica("gemma3")))  # Gemma's <bos>; the 31B template's own text
    messages = [{"role": "user", "content": "Что такое эпоха?"}, {"role": "assistant", "content": "Один проход по данным."}]
    enc = encode(tok, template_text("models/templates/google-gemma-4-31B-it.jinja"), messages)
    assert enc.text == "<bos><|turn>user\nЧто такое эпоха?<turn|>\n<|turn>model\n<|channel>thought\n<channel|>Один проход по данным.<turn|>\n"
    assert enc.trained_text() == ["Один проход по данным.<turn|>"]
    shifty = "{% for m in messages %}{{ m['role'] ~ (':' if loop.last or add_generation_prompt else '=') ~ m['content'] ~ '\\n' }}{% endfor %}" \
             "{% if add_generation_prompt %}assistant:{% endif %}"
    with pytest.raises(UserError) as err:
        encode(tok, shifty, messages)
    assert "at character 4: prompt 'user:Что" in str(err.value) and "conversation 'user=Что" in str(err.value)


@pytest.mark.parametrize("revision", ["trl:gemma4_v2.jinja", "trl:gemma4.jinja", "trl:gemma4_v5.jinja",
                                      "models/templates/google-gemma-4-31B-it.jinja"])
def test_every_gemma4_revision_masks_the_answer_alone(replica, revision):
    """Gemma 4's template changed between releases (TRL keeps each); all of them train the answer turn."""
    from transformers import AutoTokenizer

    from core.train.dataset import encode
    from core.train.replicas import template_text
    from core.train.templates import pair_messages

    tok = AutoTokenizer.from_pretrained(str(replica("gemma4")))
    for kind, pair in PAIRS.items():
        enc = encode(tok, template_text(revision), pair_messages(pair["question"], pair["answer"], system=pair.get("system"),
                                                                context=pair.get("context")))
        answer = pair["answer"].strip()
        assert enc.trained_text() == [answer + "<turn|>"], (revision, kind)
        assert enc.text.startswith("<bos>") and enc.text.endswith(answer + "<turn|>\n")
        if kind == "system":
            assert "<|turn>system\nОтвечай кратко.<turn|>" in enc.text  # a real system turn, not folded


def test_generation_markers_mark_the_trained_answer(replica):
    """TRL's Gemma 3 training template marks answers with {% generation %}: the last block is trained."""
    from transformers import AutoTokenizer

    from core.train.dataset import encode
    from core.train.replicas import template_text

    tok = AutoTokenizer.from_pretrained(str(replica("gemma3")))
    source = template_text("trl:gemma3_training.jinja")
    assert "generation" in source
    enc = encode(tok, source, [{"role": "user", "content": "Что такое эпоха?"}, {"role": "assistant", "content": "Один проход."},
                               {"role": "user", "content": "А шаг?"}, {"role": "assistant", "content": "Одно обновление."}])
    assert enc.trained_text() == ["Одно обновление.<end_of_turn>"]
