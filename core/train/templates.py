"""Chat templates: how a conversation becomes the text a model is trained on.

Each template is Jinja in the Hugging Face style (``messages``, ``bos_token``,
``add_generation_prompt``) plus the facts training needs: which role name the assistant
has, whether a system role exists, and which marker ends a turn (the model's EOS).

Gemma 3 rules live here: the assistant role is ``model``, there is no system role (system
text is folded into the first user turn), ``<end_of_turn>`` ends a turn, and ``<bos>`` is
written once by the template — the tokenizer must not add another.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from core.errors import UserError

# templates without a system role: the system text opens the first user turn, and the roles
# must alternate user/assistant after it
_FOLD_SYSTEM = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] | trim + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('roles must alternate user/assistant') }}"
    "{%- endif -%}"
)

GEMMA = (
    "{{ bos_token }}"
    + _FOLD_SYSTEM +
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

CHATML = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] | trim + '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)

LLAMA3 = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}"
)

# Mistral v0.3 layout ("[INST] question[/INST] answer</s>"); no system role: like Gemma, the
# system text opens the first user turn (the prompt stays a prefix of the full conversation).
MISTRAL = (
    "{{ bos_token }}"
    + _FOLD_SYSTEM +
    "{%- if message['role'] == 'user' -%}"
    "{{ '[INST] ' + (first_user_prefix if loop.first else '') + message['content'] | trim + '[/INST]' }}"
    "{%- else -%}"
    "{{ ' ' + message['content'] | trim + '</s>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# Phi-3 / Phi-3.5: "<|user|>\n…<|end|>\n"; the tokenizer adds BOS if it wants one.
PHI3 = (
    "{%- for message in messages -%}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] | trim + '<|end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\n' }}{%- endif -%}"
)

# Qwen3 in its non-thinking mode: ChatML whose answer opens with an empty think block, as
# Qwen3's own template writes it with enable_thinking=False. Earlier answers carry no block.
QWEN3 = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' and loop.last -%}"
    "{{ '<|im_start|>assistant\n<think>\n\n</think>\n\n' + message['content'] | trim + '<|im_end|>\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] | trim + '<|im_end|>\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n<think>\n\n</think>\n\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    jinja: str
    end_marker: str  # ends every turn; the EOS the model must learn to write
    assistant_role: str = "assistant"
    system_role: bool = True
    bos_in_template: bool = False  # the template writes bos_token itself
    answer_prefix: str = ""  # written before every answer and trained with it (Mistral's space)

    def render(self, messages: list[dict], *, bos_token: str = "", add_generation_prompt: bool = False) -> str:
        return render(self.jinja, messages, bos_token=bos_token, add_generation_prompt=add_generation_prompt)


TEMPLATES: dict[str, ChatTemplate] = {
    "gemma": ChatTemplate("gemma", GEMMA, "<end_of_turn>", assistant_role="model", system_role=False, bos_in_template=True),
    "chatml": ChatTemplate("chatml", CHATML, "<|im_end|>"),
    "llama3": ChatTemplate("llama3", LLAMA3, "<|eot_id|>", bos_in_template=True),
    "mistral": ChatTemplate("mistral", MISTRAL, "</s>", system_role=False, bos_in_template=True, answer_prefix=" "),
    "phi3": ChatTemplate("phi3", PHI3, "<|end|>"),
    "qwen3": ChatTemplate("qwen3", QWEN3, "<|im_end|>"),
}


# how each family's turns look, by the marker that opens them: what the Train form and
# `train --preview` show of a checkpoint's own template, read from its text (no tokenizer loaded)
TURN_MARKERS = (
    ("<start_of_turn>", "<start_of_turn>user … <end_of_turn>"),  # Gemma 1–3
    ("<|turn>", "<|turn>user … <turn|>"),  # Gemma 4
    ("<|im_start|>", "<|im_start|>user … <|im_end|>"),  # ChatML: Qwen 2/3/3.5
    ("<|start_header_id|>", "<|start_header_id|>user<|end_header_id|> … <|eot_id|>"),  # Llama 3
    ("[INST]", "[INST] … [/INST]"),  # Mistral
    ("<|user|>", "<|user|> … <|end|>"),  # Phi-3
)


def turns(source: str) -> str:
    """A user turn as ``source`` (a Jinja chat template) writes it, e.g. ``<|im_start|>user … <|im_end|>``;
    "" for a layout none of the known families has."""
    found = [(source.find(marker), shown) for marker, shown in TURN_MARKERS if marker in source]
    return min(found)[1] if found else ""


def checkpoint_template(folder) -> str | None:
    """The chat template a checkpoint folder carries (``chat_template.jinja``, else the one in
    ``tokenizer_config.json``), read as text: None when it has none."""
    import json
    from pathlib import Path

    folder = Path(folder)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    try:
        data = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = data.get("chat_template")
    if isinstance(found, list):  # named templates: the default one
        found = next((t.get("template") for t in found if isinstance(t, dict) and t.get("name") == "default"), None)
    return found if isinstance(found, str) and found.strip() else None


def training_format(template: str, folder) -> dict:
    """The chat format a run trains in: the ``template`` it names on purpose, else its base's own.

    ``folder`` is the base checkpoint on disk (None when it is not here yet). The answer says
    ``named`` (the run names a template: it replaces the base's own), ``template`` (that name, or
    ""), ``turns`` (a user turn in that format, "" when unknown), ``own`` (the base's own turns,
    "" when the base is not here or carries no template), ``has_own`` (whether it carries one) and
    ``here`` (whether the base is on disk to read).
    """
    own_source = checkpoint_template(folder) if folder is not None else None
    own = turns(own_source) if own_source else ""
    facts = {"own": own, "has_own": own_source is not None, "here": folder is not None}
    if template:
        return {"named": True, "template": template, "turns": turns(get_template(template).jinja), **facts}
    return {"named": False, "template": "", "turns": own, **facts}


def get_template(name: str) -> ChatTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UserError(f"unknown chat template {name!r}", hint="choose one of: " + ", ".join(TEMPLATES),
                        code="train.unknown_template", params={"field": "template", "value": name,
                                                               "allowed": ", ".join(TEMPLATES)}) from None


@lru_cache(maxsize=16)
def _compile(source: str):
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)


def render(source: str, messages: list[dict], *, bos_token: str = "", eos_token: str = "", add_generation_prompt: bool = False) -> str:
    """Render a Jinja chat template the way transformers does."""
    from jinja2.exceptions import TemplateError

    try:
        return _compile(source).render(
            messages=messages, bos_token=bos_token, eos_token=eos_token, add_generation_prompt=add_generation_prompt
        )
    except TemplateError as exc:
        raise UserError(f"the chat template cannot render this conversation: {exc}", code="template.cannot_render",
                        params={"why": str(exc)}) from exc


def pair_messages(question: str, answer: str | None, *, system: str | None = None, context: list[dict] | None = None) -> list[dict]:
    """A pair as chat messages: optional system, earlier turns, the question, the answer."""
    messages: list[dict] = []
    if system and system.strip():
        messages.append({"role": "system", "content": system})
    for turn in context or []:
        role = turn.get("role", "user")
        role = "assistant" if role in ("assistant", "model", "bot") else role
        messages.append({"role": role, "content": str(turn.get("content", ""))})
    messages.append({"role": "user", "content": question})
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages
