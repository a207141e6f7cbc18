"""The Ollama Modelfile written next to the GGUF files, with its Go TEMPLATE.

The TEMPLATE is the Go ``text/template`` translation of the template the model was trained
with (a run's ``--template``, else the family detected from the checkpoint's own Jinja chat
template, accepted only when it renders our probe conversations byte for byte like ours).
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
# tests/export/test_modelfile.py renders each of these with a Go text/template evaluator and
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
_STOPS = {
    "gemma": ["<end_of_turn>"],
    "chatml": ["<|im_end|>"],
    "qwen3": ["<|im_end|>"],
    "llama3": ["<|eot_id|>"],
    "mistral": ["</s>", "[INST]"],
    "phi3": ["<|end|>"],
}
# Candidates by turn markers (all must occur), most specific first. A candidate is accepted
# only if the checkpoint's template renders the probe conversations exactly like ours.
_MARKERS = (
    ("qwen3", ("<|im_start|>", "<think>")),
    ("chatml", ("<|im_start|>",)),
    ("gemma", ("<start_of_turn>",)),
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
)


def _renders_like(chat_template: str, family: str) -> bool:
    """Whether a checkpoint's Jinja template gives our family's prompts for the probes (BOS aside)."""
    from core.train.templates import TEMPLATES, render

    ours = TEMPLATES[family].jinja
    try:
        return all(
            render(chat_template, list(p), add_generation_prompt=True) == render(ours, list(p), add_generation_prompt=True)
            for p in _PROBES
        )
    except Exception:  # noqa: BLE001 - a template that cannot render a probe is not ours
        return False


def template_family(chat_template: str | None) -> str | None:
    """Which Nastavnik template a checkpoint's Jinja chat template is (markers, then a render check)."""
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
                   temperature: float | None = None, family: str | None = None) -> str:
    """The Modelfile; ``family`` is the template the model was trained with, when known
    (a run's config); otherwise it is detected from the checkpoint's own ``chat_template``."""
    looked_like = None
    if family not in _GO_TEMPLATES:
        family, looked_like = _detect(chat_template)
    lines = [f"# Written by Nastavnik. Use: ollama create NAME -f Modelfile", f"FROM ./{gguf_name}"]
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


def write_modelfile(merged_dir: Path, path: Path, gguf_name: str, *, system: str | None, family: str | None) -> Path:
    """The Modelfile for ``gguf_name``, from the merged folder's tokenizer config (template, EOS)."""
    cfg_path = merged_dir / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    template = tok_cfg.get("chat_template")
    if not template and (merged_dir / "chat_template.jinja").is_file():
        template = (merged_dir / "chat_template.jinja").read_text(encoding="utf-8")
    eos = tok_cfg.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    path.write_text(modelfile_text(gguf_name, chat_template=template, eos_token=eos, system=system, family=family),
                    encoding="utf-8")
    return path
