"""The Modelfile's Go TEMPLATE renders exactly the prompt the model was trained on.

Every template family Nastavnik emits is rendered two ways and compared byte for byte:
the Go template (through tests/core/export/gorender/main.go, fed the way Ollama feeds it) and the
Jinja template of core.train.templates (add_generation_prompt=True, bos_token="": BOS comes
from the tokenizer on the Ollama side, so neither side writes it here).

How Ollama fills the template (server/routes.go, template/template.go): the Modelfile SYSTEM is
put in front as a system message unless the request starts with one; every system message's
content is joined with "\\n\\n" into .System; consecutive messages of one role are merged with
"\\n\\n"; older versions drop system messages from .Messages, current ones keep them. Both
behaviours are exercised.
"""

from __future__ import annotations

import json

import pytest

from core.export import modelfile_text, template_family, trained_template
from core.export.modelfile import _GO_TEMPLATES
from core.export.modelfile import jinja_prompt, ollama_fill
from core.train.templates import TEMPLATES, render
from core.export.gotemplate import GoTemplateError
from core.export.gotemplate import render as go_render

FAMILIES = sorted(TEMPLATES)  # the templates Nastavnik trains with; the official ones are below


def ollama_data(messages: list[dict], *, modelfile_system: str | None = None, keeps_system: bool = True) -> dict:
    """The values Ollama's Template.Execute passes to a TEMPLATE that uses .Messages (core's copy)."""
    return ollama_fill(messages, modelfile_system=modelfile_system, keeps_system=keeps_system)


def modelfile_template(text: str) -> str:
    assert text.count('TEMPLATE """') == 1, text
    return text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]


SYSTEM = "Отвечай кратко."
CONVERSATIONS = {
    "single": [{"role": "user", "content": "Что такое эпоха?"}],
    "system": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Что такое эпоха?"}],
    "multi_turn": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Здравствуйте! Чем помочь?"},
        {"role": "user", "content": "Что такое эпоха?"},
        {"role": "assistant", "content": "Один проход по всем данным."},
        {"role": "user", "content": "А шаг?"},
    ],
    "tricky_text": [
        {"role": "system", "content": 'Ты — «Наставник».\nПиши "по делу".'},
        {"role": "user", "content": 'Что значит {{ .System }} и {{- end }}?\nИ "кавычки", и \\n, и }} тоже.'},
        {"role": "assistant", "content": "Это Go-шаблоны:\n\n{{ if }} … {{ end }}\tс табуляцией."},
        {"role": "user", "content": "А `обратные` кавычки и $переменные?"},
    ],
    "multi_turn_no_system": [
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Здравствуйте!"},
        {"role": "user", "content": "Что такое эпоха?"},
    ],
}


@pytest.mark.parametrize("keeps_system", [True, False], ids=["ollama-keeps-system-messages", "ollama-drops-system-messages"])
@pytest.mark.parametrize("conv", sorted(CONVERSATIONS))
@pytest.mark.parametrize("family", FAMILIES)
def test_go_template_renders_the_trained_prompt(family, conv, keeps_system):
    messages = CONVERSATIONS[conv]
    text = modelfile_text("m.gguf", chat_template=TEMPLATES[family].jinja, eos_token=None)
    go = go_render(modelfile_template(text), ollama_data(messages, keeps_system=keeps_system))
    jinja = render(TEMPLATES[family].jinja, messages, bos_token="", add_generation_prompt=True)
    assert go == jinja


@pytest.mark.parametrize("keeps_system", [True, False], ids=["ollama-keeps-system-messages", "ollama-drops-system-messages"])
@pytest.mark.parametrize("family", FAMILIES)
def test_modelfile_system_reaches_the_prompt_once(family, keeps_system):
    """SYSTEM in the Modelfile: Ollama prepends it as a system message; the prompt has it once."""
    conv = CONVERSATIONS["multi_turn_no_system"]
    text = modelfile_text("m.gguf", chat_template=TEMPLATES[family].jinja, eos_token=None, system=SYSTEM)
    assert f'SYSTEM """{SYSTEM}"""' in text.splitlines()
    go = go_render(modelfile_template(text), ollama_data(conv, modelfile_system=SYSTEM, keeps_system=keeps_system))
    jinja = render(TEMPLATES[family].jinja, [{"role": "system", "content": SYSTEM}, *conv], bos_token="", add_generation_prompt=True)
    assert go == jinja
    assert go.count(SYSTEM) == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_modelfile_stops_at_the_trained_end_marker_and_writes_no_bos(family):
    t = TEMPLATES[family]
    text = modelfile_text("m.gguf", chat_template=t.jinja, eos_token="<eos-x>")
    lines = text.splitlines()
    assert f'PARAMETER stop "{t.end_marker}"' in lines
    assert 'PARAMETER stop "<eos-x>"' in lines  # the tokenizer's EOS is a stop too
    assert "bos" not in modelfile_template(text).lower() and "<s>" not in modelfile_template(text)


def test_every_template_nastavnik_trains_with_has_a_go_translation():
    assert set(TEMPLATES) <= set(_GO_TEMPLATES)
    for name, t in TEMPLATES.items():
        assert template_family(t.jinja) == name


# ---------------------------------------------------------------------------- official templates

OFFICIAL = [  # as the checkpoints ship them, from the packages that carry copies
    ("models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3.1"),
    ("models/templates/Qwen-Qwen3-0.6B.jinja", "qwen3"),
    ("models/templates/Qwen3.5-4B.jinja", "qwen3"),
    ("trl:gemma3.jinja", "gemma"),
    ("trl:gemma4_v2.jinja", "gemma4"),
    ("trl:gemma4_v5.jinja", "gemma4"),
    ("models/templates/google-gemma-4-31B-it.jinja", "gemma4-thought"),
]


@pytest.mark.parametrize("keeps_system", [True, False], ids=["ollama-keeps-system-messages", "ollama-drops-system-messages"])
@pytest.mark.parametrize(("ref", "family"), OFFICIAL, ids=[r.rsplit("/", 1)[-1] for r, _ in OFFICIAL])
def test_official_templates_get_a_template_that_renders_byte_equal(ref, family, keeps_system):
    """The Modelfile TEMPLATE for a checkpoint of today's families gives its own template's prompt
    (non-thinking, as it trained), not Ollama's library template for the family."""
    from core.train.replicas import template_text

    source = template_text(ref)
    assert template_family(source) == family
    text = modelfile_text("m.gguf", chat_template=source, eos_token=None)
    for name, conv in CONVERSATIONS.items():
        go = go_render(modelfile_template(text), ollama_data(conv, keeps_system=keeps_system))
        assert go == jinja_prompt(source, conv), (ref, name)


def test_a_template_with_dates_it_makes_at_run_time_is_left_to_the_gguf():
    from core.train.replicas import template_text

    source = template_text("models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja")  # strftime_now in the system block
    assert template_family(source) is None


# ---------------------------------------------------------------------------- detection
# Templates written the way checkpoints ship them (HF style), each a little different from ours.

PHI35_LIKE = (
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
GEMMA3_LIKE = (
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = \"\" -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}"
)
QWEN25_LIKE = (  # ChatML with a default system prompt: the prompt differs when no system is given
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}"
    "{%- else %}{{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role != 'system' %}"
    "{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)
MISTRAL_V01_LIKE = (  # "[INST] q [/INST]" with spaces inside, no system role
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)
LLAMA2_LIKE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<<SYS>>\n' + message['content'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}"
)
ALPACA_LIKE = "{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n\n{% endfor %}### assistant:\n"


@pytest.mark.parametrize(
    ("source", "family"),
    [(PHI35_LIKE, "phi3"), (GEMMA3_LIKE, "gemma")],
    ids=["phi3.5-like", "gemma3-like"],
)
def test_checkpoint_templates_that_render_like_ours_are_translated(source, family):
    assert template_family(source) == family
    text = modelfile_text("m.gguf", chat_template=source, eos_token=None)
    for conv in CONVERSATIONS.values():
        go = go_render(modelfile_template(text), ollama_data(conv))
        assert go == render(source, conv, bos_token="", add_generation_prompt=True)


@pytest.mark.parametrize(
    ("source", "looks_like"),
    [(QWEN25_LIKE, "chatml"), (MISTRAL_V01_LIKE, "mistral"), (LLAMA2_LIKE, "mistral"), (ALPACA_LIKE, None), ("", None), (None, None)],
    ids=["qwen2.5-default-system", "mistral-v0.1-spacing", "llama2-sys", "alpaca", "empty", "none"],
)
def test_templates_that_differ_keep_the_gguf_template(source, looks_like):
    """An unknown or only similar template is not translated: Ollama reads the GGUF's own."""
    assert template_family(source) is None
    text = modelfile_text("m.gguf", chat_template=source, eos_token="</s>", system="Будь краток.")
    lines = text.splitlines()
    assert not any(line.startswith("TEMPLATE") for line in lines)
    assert "# the chat template is not one Nastavnik can translate; Ollama reads the one in the GGUF" in lines
    assert ('looks like ' + looks_like in text) if looks_like else ("looks like" not in text)
    assert 'PARAMETER stop "</s>"' in lines and 'SYSTEM """Будь краток."""' in lines


def test_the_trained_template_wins_over_the_checkpoints_own(tmp_path):
    """A run that trained with --template qwen3 on a checkpoint whose own template is plain ChatML."""
    from core.export import Source

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "nastavnik_run.json").write_text(json.dumps({"config": {"template": "qwen3"}}), encoding="utf-8")
    source = Source(name="run-1", model_dir=tmp_path, adapter_dir=adapter)
    assert trained_template(source) == "qwen3"
    text = modelfile_text("m.gguf", chat_template=TEMPLATES["chatml"].jinja, eos_token=None, family=trained_template(source))
    go = go_render(modelfile_template(text), ollama_data(CONVERSATIONS["single"]))
    assert go.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    # no run meta, or a run that used the checkpoint's own template: detection decides
    (adapter / "nastavnik_run.json").write_text(json.dumps({"config": {"template": None}}), encoding="utf-8")
    assert trained_template(source) is None
    assert trained_template(Source(name="m", model_dir=tmp_path)) is None


# ---------------------------------------------------------------------------- the evaluator itself


def test_evaluator_trims_like_go():
    # {{- trims all preceding white space of the template text, -}} all following
    assert go_render("a \t\r\n {{- .X -}} \n\t b", {"X": "1"}) == "a1b"
    assert go_render("a {{ .X }} b", {"X": "1"}) == "a 1 b"
    # the minus needs white space after it: {{-3}} is the number -3
    assert go_render("a {{-3}} b", {}) == "a -3 b"
    # trimming never touches printed values
    assert go_render("{{ .X -}}  z", {"X": "v  "}) == "v  z"
    # a trim marker inside a string literal is not one
    assert go_render('x {{ " -}}" }} y', {}) == "x  -}} y"


def test_evaluator_scopes_like_go():
    data = {"Messages": [{"Role": "user", "Content": "a"}, {"Role": "assistant", "Content": "b"}], "System": "S"}
    # assignment inside range/if updates the outer variable
    src = '{{ $n := "" }}{{ range .Messages }}{{ $n = .Content }}{{ end }}{{ $n }}'
    assert go_render(src, data) == "b"
    # a declaration inside a range body shadows and ends with the range
    src = '{{ $n := "x" }}{{ range .Messages }}{{ $n := .Content }}{{ $n }}{{ end }}{{ $n }}'
    assert go_render(src, data) == "abx"
    # body variables end with each iteration: the next "$n =" assigns the outer $n again
    src = '{{ $n := "o" }}{{ range .Messages }}{{ $n = .Content }}{{ $n := "i" }}{{ end }}{{ $n }}'
    assert go_render(src, data) == "b"
    with pytest.raises(GoTemplateError, match="undefined variable"):
        go_render("{{ range .Messages }}{{ $m := .Role }}{{ end }}{{ $m }}", data)
    # range rebinds dot; $ stays the root; $i, $m := range gives index and element
    assert go_render("{{ range $i, $m := .Messages }}{{ $i }}{{ $m.Role }}{{ $.System }}{{ .Content }};{{ end }}", data) == "0userSa;1assistantSb;"
    # else if / else, eq with several values, and/or/not, len/slice
    src = '{{ range .Messages }}{{ if eq .Role "system" "tool" }}T{{ else if eq .Role "user" }}U{{ else }}A{{ end }}{{ end }}'
    assert go_render(src, data) == "UA"
    assert go_render('{{ and .System "" }}|{{ or "" .System }}|{{ not .System }}', data) == "|S|false"
    assert go_render("{{ range $i, $_ := .Messages }}{{ len (slice $.Messages $i) }}{{ end }}", data) == "21"
    assert go_render('{{ range .Messages }}x{{ else }}empty{{ end }}', {"Messages": []}) == "empty"
    assert go_render('"\\u00e9\\t\\"" {{ "\\u00e9\\t\\"" }}', {}) == '"\\u00e9\\t\\"" é\t"'


@pytest.mark.parametrize(
    "src",
    [
        "{{ .Sytem }}",  # unknown field
        "{{ lower .System }}",  # unknown function
        "{{ .System | printf }}",  # pipes are outside the subset
        "{{ with .System }}{{ . }}{{ end }}",
        "{{ if .System }}unclosed",
        "{{ $x }}",  # undefined variable
        '{{ eq .System 1 }}',  # incompatible types
        "{{/* a comment */}}",
    ],
)
def test_evaluator_is_strict(src):
    with pytest.raises(GoTemplateError):
        go_render(src, {"System": "S", "Messages": []})


def test_evaluator_catches_the_mistakes_the_old_templates_had():
    """Two real bugs of the first Modelfile templates, caught by the comparison above."""
    conv = CONVERSATIONS["multi_turn"]
    # ChatML printed .System AND the system message Ollama now keeps in .Messages
    old_chatml = (
        "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    )
    assert go_render(old_chatml, ollama_data(conv)).count(SYSTEM) == 2
    # Gemma's "{{- else if" ate the newline after every <end_of_turn>
    old_gemma = (
        "{{- $system := .System }}{{- range $i, $m := .Messages }}"
        '{{- if eq $m.Role "system" }}{{ $system = $m.Content }}'
        '{{- else if eq $m.Role "user" }}<start_of_turn>user\n'
        '{{ if $system }}{{ $system }}\n\n{{ $system = "" }}{{ end }}{{ $m.Content }}<end_of_turn>\n'
        '{{- else if eq $m.Role "assistant" }}<start_of_turn>model\n{{ $m.Content }}<end_of_turn>\n'
        "{{- end }}{{- end }}<start_of_turn>model\n"
    )
    old = go_render(old_gemma, ollama_data(conv))
    assert "<end_of_turn><start_of_turn>" in old
    assert old != render(TEMPLATES["gemma"].jinja, conv, add_generation_prompt=True)


def test_train_command_offers_every_template():
    from tui.cli.train import train

    (option,) = [p for p in train.params if p.name == "template"]
    assert set(option.type.choices) == set(TEMPLATES)


# ---------------------------------------------------------------------------- against the real Go
# When a Go toolchain is installed (`apt-get install golang-go`), the evaluator's output is
# checked against Go's own text/template for every case above: the TEMPLATEs we ship under both
# Ollama behaviours, and the semantics snippets. Without Go these tests skip.

SNIPPETS = [
    ("a \t\r\n {{- .X -}} \n\t b", {"X": "1"}),
    ("a {{-3}} b {{ .X }} c", {"X": "1"}),
    ("{{ .X -}}  z", {"X": "v  "}),
    ('x {{ " -}}" }} y', {}),
    ('{{ $n := "" }}{{ range .Messages }}{{ $n = .Content }}{{ end }}{{ $n }}', None),
    ('{{ $n := "x" }}{{ range .Messages }}{{ $n := .Content }}{{ $n }}{{ end }}{{ $n }}', None),
    ('{{ $n := "o" }}{{ range .Messages }}{{ $n = .Content }}{{ $n := "i" }}{{ end }}{{ $n }}', None),
    ("{{ range $i, $m := .Messages }}{{ $i }}{{ $m.Role }}{{ $.System }}{{ .Content }};{{ end }}", None),
    ('{{ range .Messages }}{{ if eq .Role "system" "tool" }}T{{ else if eq .Role "user" }}U{{ else }}A{{ end }}{{ end }}', None),
    ('{{ and .System "" }}|{{ or "" .System }}|{{ not .System }}|{{ and .System "y" }}', None),
    ("{{ range $i, $_ := .Messages }}{{ len (slice $.Messages $i) }}{{ if eq (len (slice $.Messages $i)) 1 }}L{{ end }}{{ end }}", None),
    ("{{ range .Messages }}x{{ else }}empty{{ end }}", {"Messages": []}),
    ('"\\u00e9\\t\\"" {{ "\\u00e9\\t\\"" }} {{ `raw\\n` }} {{ "\\x41\\U0001F600" }}', {}),
    ("{{ if $x := .System }}{{ $x }}{{ else }}none{{ end }}", None),
    ("{{- range .Messages }}\n  {{- .Role }}\n{{ end -}}\n\n!", None),
    ("{{ lower .System }}", None),  # both must refuse
    ("{{ if .System }}unclosed", None),
    ("{{ $x }}", None),
    ("{{ eq .System 1 }}", None),
]
SNIPPET_DATA = {
    "System": "S",
    "Messages": [{"Role": "user", "Content": "a"}, {"Role": "assistant", "Content": "b"}, {"Role": "user", "Content": "c"}],
}


@pytest.fixture(scope="module")
def real_go(tmp_path_factory):
    import shutil
    import subprocess
    from pathlib import Path

    go = shutil.which("go")
    if not go:
        pytest.skip("no Go toolchain: the evaluator is not compared with text/template")
    out = tmp_path_factory.mktemp("gorender")
    env = {**__import__("os").environ, "GOCACHE": str(out / "cache"), "GOPATH": str(out / "gopath"), "GOFLAGS": "-mod=mod"}
    src = Path(__file__).parent / "gorender" / "main.go"
    subprocess.run([go, "build", "-o", str(out / "gorender"), str(src)], check=True, cwd=out, env=env, timeout=300)

    def run(cases: list[tuple[str, dict]]) -> list[dict]:
        payload = json.dumps([{"template": t, "data": d} for t, d in cases])
        proc = subprocess.run([str(out / "gorender")], input=payload, capture_output=True, text=True, check=True, timeout=60)
        return json.loads(proc.stdout)

    return run


def _ours(template: str, data: dict) -> tuple[str | None, bool]:
    try:
        return go_render(template, data), False
    except GoTemplateError:
        return None, True


def test_evaluator_agrees_with_go_on_the_shipped_templates(real_go):
    cases = []
    for family in sorted(_GO_TEMPLATES):  # ours and the official families' translations
        template = _GO_TEMPLATES[family]
        for conv in CONVERSATIONS.values():
            for keeps in (True, False):
                cases.append((template, ollama_data(conv, keeps_system=keeps)))
                cases.append((template, ollama_data(conv, modelfile_system=SYSTEM, keeps_system=keeps)))
    results = real_go(cases)
    for (template, data), got in zip(cases, results):
        assert got["err"] == ""
        assert go_render(template, data) == got["out"]


def test_evaluator_agrees_with_go_on_the_semantics_snippets(real_go):
    cases = [(t, SNIPPET_DATA if d is None else d) for t, d in SNIPPETS]
    for (template, data), got in zip(cases, real_go(cases)):
        ours, failed = _ours(template, data)
        if got["err"]:
            assert failed, (template, got["err"])
        else:
            assert not failed and ours == got["out"], (template, ours, got["out"])
