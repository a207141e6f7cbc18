"""Export: a trained run (or any HF model folder) → merged HF folder → GGUF files + Modelfile.

Steps, each reported through ``progress(ExportEvent)``:

1. ``merge``    — the LoRA adapter is merged into the full-precision base with PEFT's
                  ``merge_and_unload`` (not into a 4-bit copy); the merged folder keeps the
                  tokenizer files byte for byte.
2. ``convert``  — llama.cpp's own ``convert_hf_to_gguf.py`` (from the pinned llama-cpp-python
                  source, see ``core.llamacpp``) writes an F16 GGUF; chat template, BOS/EOS
                  and the end-of-turn token travel in its metadata.
3. ``quantize`` — ``llama_cpp.llama_model_quantize`` makes Q8_0, Q4_K_M, … from the F16 file.
4. ``parity``   — the prompt llama.cpp builds from the embedded template, its token ids and
                  greedy answers are compared with the HF model (see ``parity_check``).
5. ``register`` — files move from a temporary folder into ``exports/<name>/`` only at the
                  end, then each GGUF is registered in the store with its sha256, size, quant,
                  run id, base and dataset hash. A failed export leaves nothing registered.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from core.errors import UserError
from core.llamacpp import QUANTS, convert_hf_to_gguf, converter_dir, load_llama, quantize

TOKENIZER_FILES = (
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
)
DEFAULT_QUANTS = ("q8_0",)
DEFAULT_QUESTIONS = (
    "Что такое LoRA?",
    "Зачем нужна оценочная выборка?",
    "Как выбрать скорость обучения?",
)


@dataclass
class ExportEvent:
    stage: str  # fetch, merge, convert, quantize, parity, register, done
    done: int
    total: int
    message: str = ""


Progress = Callable[[ExportEvent], None]


@dataclass
class Source:
    """What to export: an HF folder, optionally with a LoRA adapter to merge into it."""

    name: str
    model_dir: Path  # the full-precision base (or the whole model when adapter is None)
    adapter_dir: Path | None = None
    run_id: int | str | None = None
    base: str | None = None
    dataset_sha256: str | None = None
    system: str | None = None


@dataclass
class AnswerParity:
    question: str
    quant: str
    matched: int  # tokens equal from the start
    hf_tokens: int
    gguf_tokens: int
    hf_stopped: bool  # ended with EOS before the token limit
    gguf_stopped: bool
    first_diff: str | None = None
    hf_answer: str = ""
    gguf_answer: str = ""

    @property
    def equal(self) -> bool:
        return self.first_diff is None


@dataclass
class ParityReport:
    template_equal: bool = False
    tokens_equal: bool = False
    double_bos: bool = False
    eos_equal: bool = False
    eos_token: str = ""
    prompt_hf: str = ""
    prompt_gguf: str = ""
    answers: list[AnswerParity] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.warnings

    def summary(self) -> str:
        parts = [
            "template " + ("equal" if self.template_equal else "DIFFERS"),
            "token ids " + ("equal" if self.tokens_equal else "DIFFER"),
            "BOS " + ("DOUBLED" if self.double_bos else "once"),
            "EOS " + (f"{self.eos_token!r} equal" if self.eos_equal else "DIFFERS"),
        ]
        by_quant: dict[str, list[AnswerParity]] = {}
        for a in self.answers:
            by_quant.setdefault(a.quant, []).append(a)
        for quant, answers in by_quant.items():
            m = sum(a.matched for a in answers)
            n = sum(max(a.hf_tokens, a.gguf_tokens) for a in answers)
            same = sum(a.equal for a in answers)
            parts.append(f"{quant}: {same}/{len(answers)} answers identical, {m}/{n} tokens match")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        d["summary"] = self.summary()
        return d


@dataclass
class ExportedFile:
    quant: str
    path: Path
    sha256: str
    size_bytes: int
    model_id: int | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass
class ExportResult:
    name: str
    folder: Path
    source: str
    run_id: str | None
    base: str | None
    files: list[ExportedFile]
    modelfile: Path
    merged_dir: Path
    parity: ParityReport | None
    seconds: dict[str, float]
    registered: bool

    def file(self, quant: str) -> ExportedFile:
        for f in self.files:
            if f.quant == quant:
                return f
        raise KeyError(quant)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "folder": str(self.folder),
            "source": self.source,
            "run_id": self.run_id,
            "base": self.base,
            "files": [f.to_dict() for f in self.files],
            "modelfile": str(self.modelfile),
            "merged_dir": str(self.merged_dir),
            "parity": self.parity.to_dict() if self.parity else None,
            "seconds": self.seconds,
            "registered": self.registered,
        }


# ---------------------------------------------------------------------------- sources


def parse_quants(text: str | None) -> list[str]:
    if not text:
        return list(DEFAULT_QUANTS)
    out: list[str] = []
    for part in text.replace(" ", ",").split(","):
        q = part.strip().lower()
        if not q:
            continue
        if q not in QUANTS:
            raise UserError(f"unknown quantization {q!r}", hint="use any of: " + ", ".join(QUANTS))
        if q not in out:
            out.append(q)
    if not out:
        raise UserError("no quantization given", hint="for example --quant q8_0,q4_k_m")
    return out


def _is_hf_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _adapter_base(adapter_dir: Path) -> str | None:
    try:
        return json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None


def _source_from_adapter(adapter_dir: Path, *, name: str, base_hint: str | None = None, ws=None, **kw) -> Source:
    base = base_hint or _adapter_base(adapter_dir)
    if not base:
        raise UserError(f"{adapter_dir} names no base model", hint="adapter_config.json needs base_model_name_or_path")
    base_dir = _resolve_model_dir(base, ws)
    return Source(name=name, model_dir=base_dir, adapter_dir=adapter_dir, base=base, **kw)


def _resolve_model_dir(ref: str, ws) -> Path:
    """A base given as a folder path or as a registered model's name."""
    path = Path(ref).expanduser()
    if _is_hf_dir(path):
        return path.resolve()
    if ws is not None:
        with ws.store() as store:
            model = _lookup(store.get_model, ref)
        if model is not None and _is_hf_dir(Path(_get(model, "path"))):
            return Path(_get(model, "path"))
        if _is_hf_dir(ws.models_dir / ref):
            return (ws.models_dir / ref).resolve()
    raise UserError(
        f"the base model {ref!r} is not a Hugging Face folder here",
        hint="give the folder with config.json, or a name from `nastavnik models list`",
    )


def _get(obj, *names, default=None):
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def _lookup(getter, ref: str):
    """What ``getter`` (store.get_model / store.get_run) finds for ``ref``, or None."""
    try:
        return getter(ref)
    except (UserError, KeyError, ValueError, TypeError):
        return None


def resolve_source(ws, ref: str) -> Source:
    """A run id, a registered model name, or a folder (HF model or LoRA adapter)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path.resolve()
        if (path / "adapter_config.json").is_file():
            return _source_from_adapter(path, name=path.name, ws=ws)
        if _is_hf_dir(path):
            return Source(name=path.name, model_dir=path, base=str(path))
        raise UserError(f"{path} is neither a model folder nor a LoRA adapter", hint="it needs config.json or adapter_config.json")
    with ws.store() as store:
        run = _lookup(store.get_run, ref)
        model = None if run is not None else _lookup(store.get_model, ref)
    if run is not None:
        run_id = _get(run, "id", "run_id", default=ref)
        adapter = _get(run, "adapter_path", "adapter_dir", "adapter")
        run_dir = Path(_get(run, "run_dir") or ws.runs_dir / str(run_id))
        if not adapter and (run_dir / "adapter" / "adapter_config.json").is_file():
            adapter = run_dir / "adapter"
        if not adapter or not (Path(adapter) / "adapter_config.json").is_file():
            status = _get(run, "status", default="?")
            raise UserError(f"run {run_id} has no adapter yet (status {status})", hint=f"wait until it finishes (`nastavnik runs show {run_id}` shows its status)")
        base = _get(run, "base", "base_model")
        cfg = _get(run, "config", default=None) or {}
        system = _get(cfg, "system", "system_prompt") if cfg else None
        return _source_from_adapter(
            Path(adapter),
            name=f"run-{run_id}",
            base_hint=str(base) if base else None,
            ws=ws,
            run_id=run_id,
            dataset_sha256=_get(run, "dataset_sha256"),
            system=system,
        )
    if model is not None:
        mpath = Path(_get(model, "path"))
        kind = _get(model, "kind", default="")
        if kind == "gguf":
            raise UserError(f"{ref} is already a GGUF file", hint="chat with it: `nastavnik chat " + ref + "`")
        if (mpath / "adapter_config.json").is_file():
            return _source_from_adapter(
                mpath, name=str(_get(model, "name")), base_hint=_get(model, "base"), ws=ws,
                run_id=_get(model, "run_id"), dataset_sha256=_get(model, "dataset_sha256"),
            )
        if _is_hf_dir(mpath):
            return Source(
                name=str(_get(model, "name")), model_dir=mpath, base=_get(model, "base") or str(_get(model, "name")),
                run_id=_get(model, "run_id"), dataset_sha256=_get(model, "dataset_sha256"),
            )
    if _is_hf_dir(ws.models_dir / ref):
        d = (ws.models_dir / ref).resolve()
        return Source(name=ref, model_dir=d, base=ref)
    raise UserError(
        f"nothing to export called {ref!r}",
        hint="give a run id (`nastavnik runs list`), a model name (`nastavnik models list`) or a model folder",
    )


# ---------------------------------------------------------------------------- steps


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def copy_tokenizer_files(src_dirs: list[Path], dst: Path) -> list[str]:
    """Copy the tokenizer files byte for byte; later folders win (the adapter's over the base's)."""
    copied: dict[str, Path] = {}
    for d in src_dirs:
        for name in TOKENIZER_FILES:
            if (d / name).is_file():
                copied[name] = d / name
    for name, path in copied.items():
        shutil.copyfile(path, dst / name)
    return sorted(copied)


def _quiet_transformers() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    # deprecation notes for library developers would land on the user's terminal mid-export
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)(\.|$)")

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def merge(source: Source, out_dir: Path) -> Path:
    """The adapter merged into the full-precision base, saved with its tokenizer files."""
    import torch
    from transformers import AutoModelForCausalLM

    _quiet_transformers()
    out_dir.mkdir(parents=True, exist_ok=True)
    base = AutoModelForCausalLM.from_pretrained(str(source.model_dir), dtype=torch.float32)
    if source.adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(base, str(source.adapter_dir))
        model = model.merge_and_unload()
    else:
        model = base
    model.save_pretrained(str(out_dir), safe_serialization=True)
    gen = source.model_dir / "generation_config.json"
    if gen.is_file():
        shutil.copyfile(gen, out_dir / "generation_config.json")
    dirs = [source.model_dir] + ([source.adapter_dir] if source.adapter_dir else [])
    copy_tokenizer_files(dirs, out_dir)
    return out_dir


# ---------------------------------------------------------------------------- Modelfile

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


def trained_template(source: "Source") -> str | None:
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


# ---------------------------------------------------------------------------- parity


def _hf_chat_ids(tok, messages) -> list[int]:
    out = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    if hasattr(out, "keys") and "input_ids" in out:
        out = out["input_ids"]
    if out and isinstance(out[0], list):
        out = out[0]
    return [int(i) for i in out]


def _first_diff(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _first_char_diff(a: str, b: str) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def gguf_chat_prompt(llm, messages: list[dict]) -> tuple[str, list[int], list[str]]:
    """The prompt, token ids and stops llama-cpp-python builds from the GGUF's own template.

    This is the path ``Llama.create_chat_completion`` takes for a model with an embedded
    chat template.
    """
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise UserError("the GGUF carries no chat template", hint="export again from a model whose tokenizer_config.json has one")
    eos = llm._model.token_get_text(llm.token_eos())
    bos = llm._model.token_get_text(llm.token_bos())
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, stop_token_ids=[llm.token_eos()])
    result = formatter(messages=messages)
    ids = llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
    stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
    return result.prompt, ids, stops


def gguf_greedy(llm, prompt_ids: list[int], max_new_tokens: int) -> tuple[list[int], bool]:
    """Greedy generation with llama.cpp; (new token ids, stopped at an end-of-generation token)."""
    import llama_cpp

    llm.reset()
    out: list[int] = []
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    for token in llm.generate(prompt_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            return out, True
        out.append(int(token))
        if len(out) >= max_new_tokens:
            break
    return out, False


def hf_greedy(model, tok, prompt_ids: list[int], max_new_tokens: int, eos_ids: list[int]) -> tuple[list[int], bool]:
    import torch

    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos_ids,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0],
        )
    new = [int(i) for i in out[0][len(prompt_ids):]]
    for i, t in enumerate(new):
        if t in eos_ids:
            return new[:i], True
    return new, False


def parity_check(
    hf_dir: Path,
    ggufs: dict[str, Path],
    questions: list[str] | None = None,
    *,
    system: str | None = None,
    max_new_tokens: int = 32,
    log_file: Path | None = None,
    progress: Progress | None = None,
) -> ParityReport:
    """Compare the HF model in ``hf_dir`` with its GGUF files; every mismatch becomes a warning."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    report = ParityReport()
    questions = list(questions or DEFAULT_QUESTIONS)
    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    model.eval()

    def conv(q: str) -> list[dict]:
        return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": q}]

    hf_prompts = {q: tok.apply_chat_template(conv(q), tokenize=False, add_generation_prompt=True) for q in questions}
    hf_ids = {q: _hf_chat_ids(tok, conv(q)) for q in questions}
    gen_cfg = getattr(model, "generation_config", None)
    eos_ids = getattr(gen_cfg, "eos_token_id", None) or tok.eos_token_id
    eos_ids = [int(i) for i in (eos_ids if isinstance(eos_ids, (list, tuple)) else [eos_ids])]
    if tok.eos_token_id is not None and tok.eos_token_id not in eos_ids:
        eos_ids.insert(0, tok.eos_token_id)
    hf_answers = {q: hf_greedy(model, tok, hf_ids[q], max_new_tokens, eos_ids) for q in questions}

    first = True
    order = sorted(ggufs, key=lambda q: (q != "f16", q))
    for n, (quant) in enumerate(order, 1):
        if progress:
            progress(ExportEvent("parity", n - 1, len(order), f"checking {quant}"))
        n_ctx = min(2048, max(512, getattr(model.config, "max_position_embeddings", 0) or 512))
        llm = load_llama(ggufs[quant], log_file=log_file, n_ctx=n_ctx)
        try:
            if first:  # template, ids, BOS and EOS are the same in every quant: check once
                first = False
                gguf_eos = llm.token_eos()
                report.eos_token = llm._model.token_get_text(gguf_eos)
                report.eos_equal = gguf_eos == tok.eos_token_id and report.eos_token == tok.eos_token
                if not report.eos_equal:
                    report.warnings.append(
                        f"EOS differs: HF {tok.eos_token!r} (id {tok.eos_token_id}) vs GGUF {report.eos_token!r} (id {gguf_eos})"
                    )
                report.template_equal = report.tokens_equal = True
                for q in questions:
                    g_prompt, g_ids, _ = gguf_chat_prompt(llm, conv(q))
                    if not report.prompt_hf:
                        report.prompt_hf, report.prompt_gguf = hf_prompts[q], g_prompt
                    if g_prompt != hf_prompts[q] and report.template_equal:
                        report.template_equal = False
                        report.prompt_hf, report.prompt_gguf = hf_prompts[q], g_prompt
                        i = _first_char_diff(hf_prompts[q], g_prompt)
                        report.warnings.append(
                            f"prompt text differs at character {i}: HF {hf_prompts[q][i:i + 20]!r} vs GGUF {g_prompt[i:i + 20]!r}"
                        )
                    if g_ids != hf_ids[q] and report.tokens_equal:
                        report.tokens_equal = False
                        i = _first_diff(hf_ids[q], g_ids)
                        report.warnings.append(
                            f"prompt token ids differ at position {i}: HF {_tok_desc(tok, hf_ids[q], i)} vs GGUF {_gguf_desc(llm, g_ids, i)}"
                        )
                    for label, ids, bos in (("HF", hf_ids[q], tok.bos_token_id), ("GGUF", g_ids, llm.token_bos())):
                        if len(ids) > 1 and ids[0] == bos and ids[1] == bos and not report.double_bos:
                            report.double_bos = True
                            report.warnings.append(f"{label} prompt starts with a doubled BOS")
            for q in questions:
                # feed llama.cpp HF's prompt ids: the answers then differ only through the weights
                g_new, g_stop = gguf_greedy(llm, hf_ids[q], max_new_tokens)
                h_new, h_stop = hf_answers[q]
                i = _first_diff(h_new, g_new)
                matched = len(h_new) if i is None else i
                diff = None
                if i is not None:
                    diff = f"token {i}: HF {_tok_desc(tok, h_new, i)} vs GGUF {_gguf_desc(llm, g_new, i)}"
                    report.warnings.append(f"{quant} answer to {q!r} differs from HF at {diff}")
                if h_stop and not g_stop and i is None:
                    report.warnings.append(f"{quant} did not stop at EOS for {q!r}")
                report.answers.append(
                    AnswerParity(
                        question=q, quant=quant, matched=matched, hf_tokens=len(h_new), gguf_tokens=len(g_new),
                        hf_stopped=h_stop, gguf_stopped=g_stop, first_diff=diff,
                        hf_answer=tok.decode(h_new, skip_special_tokens=True),
                        gguf_answer=llm.detokenize(g_new).decode("utf-8", errors="replace"),
                    )
                )
        finally:
            llm.close()
    if progress:
        progress(ExportEvent("parity", len(order), len(order), report.summary()))
    return report


def _tok_desc(tok, ids: list[int], i: int) -> str:
    if i is None or i >= len(ids):
        return "<end>"
    return f"{tok.convert_ids_to_tokens(ids[i])!r} (id {ids[i]})"


def _gguf_desc(llm, ids: list[int], i: int) -> str:
    if i is None or i >= len(ids):
        return "<end>"
    return f"{llm._model.token_get_text(ids[i])!r} (id {ids[i]})"


# ---------------------------------------------------------------------------- the whole export


def _unique_folder(root: Path, name: str) -> tuple[str, Path]:
    candidate, n = name, 1
    while (root / candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate, root / candidate


def eval_questions(ws, limit: int = 4) -> list[str]:
    """Questions of the eval split (approved first) for the parity check; defaults if none."""
    from core.store import PairFilter

    with ws.store() as store:
        pairs = store.list_pairs(PairFilter(split="eval", status="approved"), limit=limit) or store.list_pairs(
            PairFilter(split="eval"), limit=limit
        )
    return [p.question for p in pairs] or list(DEFAULT_QUESTIONS)


def export(
    ws,
    ref: str,
    *,
    quants: list[str] | None = None,
    name: str | None = None,
    system: str | None = None,
    parity: bool = True,
    parity_tokens: int = 32,
    progress: Progress | None = None,
) -> ExportResult:
    """Export ``ref`` (run id, model name or folder) to GGUF; see the module docstring."""
    report = progress or (lambda e: None)
    quants = list(quants or DEFAULT_QUANTS)
    for q in quants:
        if q not in QUANTS:
            raise UserError(f"unknown quantization {q!r}", hint="use any of: " + ", ".join(QUANTS))
    source = resolve_source(ws, ref)
    if system is not None:
        source.system = system
    log_file = ws.logs_dir / "export.log"
    seconds: dict[str, float] = {}

    report(ExportEvent("fetch", 0, 1, "llama.cpp converter"))
    converter_dir(ws.cache_dir, progress=lambda m: report(ExportEvent("fetch", 0, 1, m)))
    report(ExportEvent("fetch", 1, 1, "llama.cpp converter ready"))

    final_name, final_dir = _unique_folder(ws.exports_dir, name or source.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_name}.part-", dir=ws.exports_dir))
    try:
        # 1. merge
        t0 = time.monotonic()
        report(ExportEvent("merge", 0, 1, "merging the adapter into the base" if source.adapter_dir else "copying the model"))
        merged = merge(source, tmp / "merged")
        seconds["merge"] = round(time.monotonic() - t0, 3)
        report(ExportEvent("merge", 1, 1, f"merged in {seconds['merge']:.1f} s"))

        # 2. convert to F16 with llama.cpp's converter
        t0 = time.monotonic()
        report(ExportEvent("convert", 0, 1, "convert_hf_to_gguf.py → F16"))
        f16 = tmp / f"{final_name}-f16.gguf"
        convert_hf_to_gguf(merged, f16, outtype="f16", cache_dir=ws.cache_dir, log_file=log_file)
        seconds["convert"] = round(time.monotonic() - t0, 3)
        report(ExportEvent("convert", 1, 1, f"F16 written in {seconds['convert']:.1f} s"))

        # 3. quantize
        files: dict[str, Path] = {}
        todo = [q for q in quants if q not in ("f16",)]
        t0 = time.monotonic()
        for n, q in enumerate(todo):
            report(ExportEvent("quantize", n, len(todo), f"quantizing to {q.upper()}"))
            out = tmp / f"{final_name}-{q}.gguf"
            if q == "f32":
                convert_hf_to_gguf(merged, out, outtype="f32", cache_dir=ws.cache_dir, log_file=log_file)
            else:
                quantize(f16, out, q, log_file=log_file)
            files[q] = out
        if "f16" in quants:
            files["f16"] = f16
        seconds["quantize"] = round(time.monotonic() - t0, 3)
        report(ExportEvent("quantize", len(todo), len(todo), f"quantized in {seconds['quantize']:.1f} s"))

        # 4. parity: F16 always (the reference for the weights), plus every file kept
        parity_report = None
        if parity:
            t0 = time.monotonic()
            checked = {"f16": f16, **{q: p for q, p in files.items() if q in ("q8_0",)}}
            parity_report = parity_check(
                merged, checked, eval_questions(ws), system=source.system, max_new_tokens=parity_tokens,
                log_file=log_file, progress=report,
            )
            seconds["parity"] = round(time.monotonic() - t0, 3)

        # Modelfile next to the first file
        tok_cfg = json.loads((merged / "tokenizer_config.json").read_text(encoding="utf-8")) if (merged / "tokenizer_config.json").is_file() else {}
        template = tok_cfg.get("chat_template")
        if not template and (merged / "chat_template.jinja").is_file():
            template = (merged / "chat_template.jinja").read_text(encoding="utf-8")
        eos = tok_cfg.get("eos_token")
        eos = eos.get("content") if isinstance(eos, dict) else eos
        main_quant = quants[0]
        (tmp / "Modelfile").write_text(
            modelfile_text(f"{final_name}-{main_quant}.gguf", chat_template=template, eos_token=eos, system=source.system,
                           family=trained_template(source)),
            encoding="utf-8",
        )
        if "f16" not in quants:
            f16.unlink()

        # 5. move into place, then register
        report(ExportEvent("register", 0, 1, "registering"))
        os.replace(tmp, final_dir)
        exported: list[ExportedFile] = []
        for q in quants:
            path = final_dir / files[q].name
            exported.append(ExportedFile(q, path, sha256_file(path), path.stat().st_size))
        result = ExportResult(
            name=final_name, folder=final_dir, source=ref, run_id=source.run_id, base=source.base,
            files=exported, modelfile=final_dir / "Modelfile", merged_dir=final_dir / "merged",
            parity=parity_report, seconds=seconds, registered=False,
        )
        try:
            result.registered = _register(ws, result, source)
        except BaseException:
            shutil.rmtree(final_dir, ignore_errors=True)
            raise
        (final_dir / "export.json").write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        report(ExportEvent("done", 1, 1, str(final_dir)))
        return result
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _register(ws, result: ExportResult, source: Source) -> bool:
    """Each GGUF into the models table (the training helper's models mixin), all or none."""
    with ws.store() as store:
        add = getattr(store, "add_model", None)
        if add is None:
            return False
        with store.transaction():
            for f in result.files:
                model = add(
                    kind="gguf",
                    name=f"{result.name}-{f.quant}",
                    path=str(f.path),
                    run_id=source.run_id,
                    base=source.base,
                    quant=f.quant,
                    sha256=f.sha256,
                    size_bytes=f.size_bytes,
                    dataset_sha256=source.dataset_sha256,
                    meta={
                        "export": result.name,
                        "modelfile": str(result.modelfile),
                        "merged_dir": str(result.merged_dir),
                        "parity_ok": result.parity.ok if result.parity else None,
                    },
                )
                f.model_id = _get(model, "id")
    return True

