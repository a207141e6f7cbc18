"""The Ollama Modelfile written next to the GGUF files, with its Go TEMPLATE.

The TEMPLATE is the Go ``text/template`` translation of the template the model was trained
with: a run's ``--template``, else the checkpoint's own Jinja chat template — for which a Go
template is written only when, rendered the way Ollama fills it (``ollama_fill``, evaluated by
``core.export.gotemplate``), it gives the Jinja template's prompts byte for byte on probe
conversations (non-thinking, as the model trained). That covers the official templates of
Llama 3.1 (its dated system block), Gemma 3, Gemma 4 (a system turn; the 31B's empty thought
channel), Qwen 3 and Qwen 3.5, not Ollama's library templates for those families, which differ.
A template we cannot translate is left out: Ollama then reads the one in the GGUF.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.export.source import Source


# How Ollama fills a TEMPLATE (server/routes.go and template/template.go, read for this):
# * The Modelfile's SYSTEM becomes a {"role": "system"} message put in front of the request's
#   messages, unless the request already starts with a system message.
# * Template.Execute joins the content of every system message with "\n\n" into .System.
#   Older Ollama versions (2024) then DROPPED the system messages from .Messages; current ones
#   KEEP them there too. Consecutive messages of one role are merged with "\n\n".
# * .Messages therefore may or may not contain the system message. Each template below takes
#   the system text from .System only and skips system messages in the range, so it renders
#   the same prompt under both behaviours (a template that prints both shows it twice).
# * BOS is not in any template: llama.cpp's tokenizer adds it when the GGUF says so
#   (tokenizer.ggml.add_bos_token), exactly as our Jinja templates get it from bos_token.
# * Our Jinja templates trim each message (`| trim`); Go templates cannot, so a message with
#   leading/trailing white space reaches the model untrimmed under Ollama.
# tests/core/export/test_modelfile.py renders each of these with a Go text/template evaluator and
# compares them byte for byte with core.train.templates (add_generation_prompt=True).
_GO_TEMPLATES = {
    "gemma": (
        "{{- $system := .System }}\n"
        "{{- range $i, $m := .Messages }}\n"
        '{{- if eq $m.Role "user" }}<start_of_turn>user\n'
        '{{ if $system }}{{ $system }}\n\n{{ $system = "" }}{{ end }}{{ $m.Content }}<end_of_turn>\n'
        '{{ else if eq $m.Role "assistant" }}<start_of_turn>model\n'
        "{{ $m.Content }}<end_of_turn>\n"
        "{{ end }}\n"
        "{{- end }}<start_of_turn>model\n"
    ),
    "chatml": (
        "{{- if .System }}<|im_start|>system\n"
        "{{ .System }}<|im_end|>\n"
        "{{ end }}\n"
        "{{- range .Messages }}\n"
        '{{- if ne .Role "system" }}<|im_start|>{{ .Role }}\n'
        "{{ .Content }}<|im_end|>\n"
        "{{ end }}\n"
        "{{- end }}<|im_start|>assistant\n"
    ),

    "llama3": (
        "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n"
        "{{ .System }}<|eot_id|>\n"
        "{{- end }}\n"
        "{{- range .Messages }}\n"
        '{{- if ne .Role "system" }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n'
        "{{ .Content }}<|eot_id|>\n"
        "{{- end }}\n"
        "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "mistral": (
        "{{- $system := .System }}\n"
        "{{- range .Messages }}\n"
        '{{- if eq .Role "user" }}[INST] {{ if $system }}{{ $system }}\n\n{{ $system = "" }}{{ end }}{{ .Content }}[/INST]\n'
        '{{- else if eq .Role "assistant" }} {{ .Content }}</s>\n'
        "{{- end }}\n"
        "{{- end }}"
    ),
    "phi3": (
        "{{- if .System }}<|system|>\n"
        "{{ .System }}<|end|>\n"
        "{{ end }}\n"
        "{{- range .Messages }}\n"
        '{{- if ne .Role "system" }}<|{{ .Role }}|>\n'
        "{{ .Content }}<|end|>\n"
        "{{ end }}\n"
        "{{- end }}<|assistant|>\n"
    ),
}
# Qwen3 without thinking: chatml whose answers open with an empty think block
_GO_TEMPLATES["qwen3"] = _GO_TEMPLATES["chatml"] + "<think>\n\n</think>\n\n"
# the official templates of today's families, as their checkpoints ship them (read from the copies
# in llama-cpp-python's sdist and the TRL wheel; the tests render both sides and compare)
_GO_TEMPLATES["llama3.1"] = (
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "Cutting Knowledge Date: December 2023\n"
    "Today Date: 26 Jul 2024\n\n"
    "{{ if .System }}{{ .System }}{{ end }}<|eot_id|>\n"
    "{{- range .Messages }}\n"
    '{{- if ne .Role "system" }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n'
    "{{ .Content }}<|eot_id|>\n"
    "{{- end }}\n"
    "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)
_GEMMA4 = (
    "{{- if .System }}<|turn>system\n"
    "{{ .System }}<turn|>\n"
    "{{ end }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" }}<|turn>user\n'
    "{{ .Content }}<turn|>\n"
    '{{ else if eq .Role "assistant" }}<|turn>model\n'
    "{{ .Content }}<turn|>\n"
    "{{ end }}\n"
    "{{- end }}<|turn>model\n"
)
_GO_TEMPLATES["gemma4"] = _GEMMA4
_GO_TEMPLATES["gemma4-thought"] = _GEMMA4 + "<|channel>thought\n<channel|>"  # the 31B's no-thinking prompt
_STOPS = {
    "gemma": ["<end_of_turn>"],
    "chatml": ["<|im_end|>"],
    "qwen3": ["<|im_end|>"],
    "llama3": ["<|eot_id|>"],
    "mistral": ["</s>", "[INST]"],
    "phi3": ["<|end|>"],
    "llama3.1": ["<|eot_id|>", "<|eom_id|>"],
    "gemma4": ["<turn|>"],
    "gemma4-thought": ["<turn|>"],
}
# Candidates by turn markers (all must occur), most specific first. A candidate is accepted
# only if its Go template renders the probe conversations exactly like the checkpoint's own.
_MARKERS = (
    ("qwen3", ("<|im_start|>", "<think>")),
    ("chatml", ("<|im_start|>",)),
    ("gemma4-thought", ("<|turn>", "<|channel>")),
    ("gemma4", ("<|turn>",)),
    ("gemma", ("<start_of_turn>",)),
    ("llama3.1", ("<|start_header_id|>", "Cutting Knowledge Date")),
    ("llama3", ("<|start_header_id|>",)),
    ("mistral", ("[INST]", "[/INST]")),
    ("phi3", ("<|assistant|>", "<|end|>")),
)
_PROBES = (
    [{"role": "user", "content": "Что такое эпоха?"}],
    [{"role": "system", "content": "Отвечай кратко."}, {"role": "user", "content": "Что такое эпоха?"}],
    [
        {"role": "system", "content": "Отвечай кратко."},
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Здравствуйте!"},
        {"role": "user", "content": "Что такое эпоха?"},
    ],
    [
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Здравствуйте!"},
        {"role": "user", "content": "Что такое эпоха?"},
    ],
)


def ollama_fill(messages: list[dict], *, modelfile_system: str | None = None, keeps_system: bool = True) -> dict:
    """The values Ollama's Template.Execute gives a TEMPLATE that uses .Messages (see the notes above)."""
    msgs = [dict(m) for m in messages]
    if modelfile_system and (not msgs or msgs[0]["role"] != "system"):
        msgs.insert(0, {"role": "system", "content": modelfile_system})
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
    collated: list[dict] = []
    for m in msgs:
        if m["role"] == "system" and not keeps_system:
            continue
        if collated and collated[-1]["Role"] == m["role"]:
            collated[-1]["Content"] += "\n\n" + m["content"]
        else:
            collated.append({"Role": m["role"], "Content": m["content"]})
    return {"System": system, "Messages": collated, "Tools": [], "Response": ""}


def jinja_prompt(chat_template: str, messages: list[dict]) -> str:
    """What a checkpoint's Jinja template renders as the prompt (non-thinking; BOS left to llama.cpp)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(conversations=[messages], chat_template=chat_template, add_generation_prompt=True,
                                        bos_token="", eos_token="", enable_thinking=False)
    return rendered[0]


def _renders_like(chat_template: str, family: str) -> bool:
    """Whether ``family``'s Go template gives the checkpoint's Jinja prompts for the probes, under both
    Ollama behaviours (system messages kept in .Messages or not)."""
    from core.export.gotemplate import render as go_render

    try:
        for probe in _PROBES:
            want = jinja_prompt(chat_template, list(probe))
            for keeps in (True, False):
                if go_render(_GO_TEMPLATES[family], ollama_fill(list(probe), keeps_system=keeps)) != want:
                    return False
    except Exception:  # noqa: BLE001 - a template that cannot render a probe is not this family
        return False
    return True


def template_family(chat_template: str | None) -> str | None:
    """Which Go template a checkpoint's Jinja chat template is (markers, then a render check)."""
    return _detect(chat_template)[0]


def _detect(chat_template: str | None) -> tuple[str | None, str | None]:
    """(family, the family it looked like but did not render like)."""
    if not chat_template:
        return None, None
    looked_like = None
    for name, markers in _MARKERS:
        if all(m in chat_template for m in markers):
            if _renders_like(chat_template, name):
                return name, None
            looked_like = looked_like or name
    return None, looked_like


def trained_template(source: Source) -> str | None:
    """The template name a Nastavnik run trained with (its nastavnik_run.json), if any."""
    if source.adapter_dir is None:
        return None
    meta = Path(source.adapter_dir) / "nastavnik_run.json"
    try:
        name = (json.loads(meta.read_text(encoding="utf-8")).get("config") or {}).get("template")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name in _GO_TEMPLATES else None


def _quote(text: str) -> str:
    if '"""' in text:
        text = text.replace('"""', '\\"\\"\\"')
    return '"""' + text + '"""'


def modelfile_text(gguf_name: str, *, chat_template: str | None, eos_token: str | None, system: str | None = None,
                   temperature: float | None = None, family: str | None = None, adapter: str | None = None) -> str:
    """The Modelfile; ``family`` is the template the model was trained with, when known
    (a run's config); otherwise it is detected from the checkpoint's own ``chat_template``.
    ``adapter``: a run exported as a GGUF LoRA (beside the Modelfile); ``gguf_name`` is then the
    base GGUF's path, which stays where it was exported once, and Ollama applies the ``ADAPTER``."""
    looked_like = None
    if family not in _GO_TEMPLATES:
        family, looked_like = _detect(chat_template)
    lines = ["# Written by Nastavnik. Use: ollama create NAME -f Modelfile"]
    lines += [f"FROM {gguf_name}", f"ADAPTER ./{adapter}"] if adapter else [f"FROM ./{gguf_name}"]
    if family:
        lines.append(f"TEMPLATE {_quote(_GO_TEMPLATES[family])}")
        stops = list(_STOPS[family])
    else:
        if looked_like:
            lines.append(f"# the chat template looks like {looked_like} but renders differently from Nastavnik's {looked_like}"
                         " template, so it is not translated")
        lines.append("# the chat template is not one Nastavnik can translate; Ollama reads the one in the GGUF")
        stops = []
    if eos_token and eos_token not in stops:
        stops.append(eos_token)
    for stop in stops:
        lines.append(f'PARAMETER stop "{stop}"')
    if temperature is not None:
        lines.append(f"PARAMETER temperature {temperature}")
    if system:
        lines.append(f"SYSTEM {_quote(system)}")
    return "\n".join(lines) + "\n"


def write_modelfile(merged_dir: Path, path: Path, gguf_name: str, *, system: str | None, family: str | None,
                    adapter: str | None = None) -> Path:
    """The Modelfile for ``gguf_name``, from the merged folder's tokenizer config (template, EOS)."""
    cfg_path = merged_dir / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    template = tok_cfg.get("chat_template")
    if not template and (merged_dir / "chat_template.jinja").is_file():
        template = (merged_dir / "chat_template.jinja").read_text(encoding="utf-8")
    eos = tok_cfg.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    path.write_text(modelfile_text(gguf_name, chat_template=template, eos_token=eos, system=system, family=family,
                                   adapter=adapter),
                    encoding="utf-8")
    return path
