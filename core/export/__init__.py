"""Export: a trained run (or any HF model folder) → GGUF files + Modelfile.

Which export: with ``lora=True`` (what ``nastavnik export RUN``, the Export dialog and
export-and-chat ask for by default) a run becomes a GGUF LoRA on its base GGUF, the base
converted once and reused (``core.export.lora``); a run that cannot be one (``lora_refusal``)
takes the full merge below and its result says why (``ExportResult.fallback``). ``lora=False``
(``--merged``) and any whole model take the full merge.

One module per job; the full merge runs the steps in order, each reported through
``progress(ProgressEvent)`` (``core.progress``):

0. pre-flight  — ``core.export.preflight``: the RAM and disk the export needs against what is
                  free, refused with the numbers when it cannot fit.
1. ``merge``    — ``core.export.merge``: the LoRA adapter merged into the full-precision base
                  tensor by tensor (``core.export.stream_merge``; PEFT's ``merge_and_unload``
                  in memory only for what cannot be streamed), not into a 4-bit copy; the merged folder keeps the
                  tokenizer files byte for byte. What to merge comes from
                  ``core.export.source.resolve_source`` (a run id, a model name or a folder).
2. ``convert``  — llama.cpp's own ``convert_hf_to_gguf.py`` (from the pinned llama-cpp-python
                  source, see ``core.infer.llamacpp``) writes an F16 GGUF; chat template, BOS/EOS
                  and the end-of-turn token travel in its metadata.
3. ``quantize`` — ``llama_cpp.llama_model_quantize`` makes Q8_0, Q4_K_M, … from the F16 file.
4. ``parity``   — ``core.export.parity``: the prompt llama.cpp builds from the embedded
                  template, its token ids and greedy answers are compared with the HF model —
                  which it holds whole in RAM; when that does not fit in what is available, the
                  weights that do not fit are read from the merged folder as each layer runs
                  (accelerate's disk offload), and when not even a layer fits the check is
                  skipped with one line saying why and how to run it later.
   Then the Modelfile (``core.export.modelfile``) is written next to the files.
5. ``register`` — ``core.export.register``: files move from a temporary folder into
                  ``exports/<name>/`` only at the end, then each GGUF is registered in the
                  store with its sha256, size, quant, run id, base and dataset hash. A failed
                  export leaves nothing registered.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from core.errors import UserError
from core.export.common import quiet_transformers, sha256_file
from core.export.siblings import describe_merge
from core.export.merge import TOKENIZER_FILES, copy_tokenizer_files, merge
from core.export.modelfile import (
    modelfile_text,
    template_family,
    trained_template,
    write_modelfile,
)
from core.export.parity import (
    DEFAULT_QUESTIONS,
    AnswerParity,
    ParityReport,
    eval_questions,
    gguf_chat_prompt,
    gguf_greedy,
    hf_greedy,
    parity_check,
    parity_memory_plan,
)
from core.export.register import ExportedFile, ExportResult, publish, register, unique_folder, work_folder
from core.export.source import Source, resolve_source
from core.infer.llamacpp import QUANTS, convert_hf_to_gguf, converter_dir, quantize
from core.progress import OnProgress, ProgressEvent, ignore

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace

DEFAULT_QUANTS = ("q8_0",)
T = TypeVar("T")

__all__ = [
    "AnswerParity", "DEFAULT_QUANTS", "DEFAULT_QUESTIONS", "ExportResult", "ExportedFile",
    "ParityReport", "Source", "TOKENIZER_FILES", "copy_tokenizer_files", "eval_questions", "export",
    "gguf_chat_prompt", "gguf_greedy", "hf_greedy", "merge", "modelfile_text", "parity_check", "parse_quants",
    "quiet_transformers", "register", "resolve_source", "sha256_file", "template_family", "trained_template",
]


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


# ---------------------------------------------------------------------------- the steps


def _timed(report: OnProgress, seconds: dict[str, float], stage: str, start: str, done: str, fn: Callable[[], T]) -> T:
    """Run one single-part step: ``(stage, 0, 1, start)``, the work, ``(stage, 1, 1, done)``."""
    t0 = time.monotonic()
    report(ProgressEvent(stage, 0, 1, start))
    out = fn()
    seconds[stage] = round(time.monotonic() - t0, 3)
    report(ProgressEvent(stage, 1, 1, done.format(s=seconds[stage])))
    return out


def _fetch_converter(ws: Workspace, report: OnProgress) -> None:
    report(ProgressEvent("fetch", 0, 1, "llama.cpp converter"))
    converter_dir(ws.cache_dir, progress=report)
    report(ProgressEvent("fetch", 1, 1, "llama.cpp converter ready"))


def _convert(ws: Workspace, merged: Path, out: Path, log_file: Path, *, outtype: str = "f16") -> Path:
    convert_hf_to_gguf(merged, out, outtype=outtype, cache_dir=ws.cache_dir, log_file=log_file)
    return out


def _quantize_all(ws: Workspace, merged: Path, f16: Path, quants: list[str], folder: Path, stem: str, log_file: Path,
                  report: OnProgress, seconds: dict[str, float], *, ref_type: str = "f16") -> dict[str, Path]:
    """Every quant asked for, from the unquantized reference file (F16 or BF16, ``ref_type``); F32 and
    the other of F16/BF16 straight from the merged folder."""
    files: dict[str, Path] = {}
    todo = [q for q in quants if q != ref_type]
    t0 = time.monotonic()
    for n, q in enumerate(todo):
        report(ProgressEvent("quantize", n, len(todo), f"quantizing to {q.upper()}"))
        out = folder / f"{stem}-{q}.gguf"
        if q in ("f32", "f16", "bf16"):
            convert_hf_to_gguf(merged, out, outtype=q, cache_dir=ws.cache_dir, log_file=log_file)
        else:
            quantize(f16, out, q, log_file=log_file)
        files[q] = out
    if ref_type in quants:
        files[ref_type] = f16
    seconds["quantize"] = round(time.monotonic() - t0, 3)
    report(ProgressEvent("quantize", len(todo), len(todo), f"quantized in {seconds['quantize']:.1f} s"))
    return files


def _parity(ws: Workspace, merged: Path, f16: Path, files: dict[str, Path], source: Source, parity_tokens: int,
            log_file: Path, report: OnProgress, seconds: dict[str, float], ram_budget: int | None = None,
            on_gpu: bool = False) -> ParityReport:
    """The unquantized reference always (F16, or BF16 for a bf16 model), plus the Q8_0 file when it is kept."""
    t0 = time.monotonic()
    ref_type = "bf16" if f16.name.endswith("-bf16.gguf") else "f16"
    checked = {ref_type: f16, **{q: p for q, p in files.items() if q in ("q8_0",)}}
    result = parity_check(merged, checked, eval_questions(ws), system=source.system, max_new_tokens=parity_tokens,
                          log_file=log_file, progress=report, ram_budget=ram_budget, on_gpu=on_gpu)
    seconds["parity"] = round(time.monotonic() - t0, 3)
    return result


# ---------------------------------------------------------------------------- the whole export


def export(
    ws: Workspace,
    ref: str,
    *,
    quants: list[str] | None = None,
    name: str | None = None,
    system: str | None = None,
    parity: bool = True,
    parity_tokens: int = 32,
    progress: OnProgress | None = None,
    staging: Path | None = None,
    on_folder: Callable[[Path], None] | None = None,
    lora: bool = False,
) -> ExportResult:
    """Export ``ref`` (run id, model name or folder) to GGUF; see the module docstring.

    ``lora``: a run (an adapter) is exported as a GGUF LoRA on its base GGUF (``core.export.lora``),
    the default of ``nastavnik export RUN``; a run that cannot be falls back to the full merge, its
    ``result.fallback`` saying why. A whole model is merged (copied) and converted either way.

    ``staging``: the folder to build in (it must not exist; removed at the end, whatever
    happens), instead of a fresh temporary one under ``exports/``. ``on_folder(path)`` is
    called with the final folder just before the files move there. A background job names
    both in its row, so whoever finds its worker killed removes what it left.
    """
    report = progress or ignore
    quants = list(quants or DEFAULT_QUANTS)
    for q in quants:
        if q not in QUANTS:
            raise UserError(f"unknown quantization {q!r}", hint="use any of: " + ", ".join(QUANTS))
    source = resolve_source(ws, ref)
    if system is not None:
        source.system = system
    log_file = ws.logs_dir / "export.log"
    seconds: dict[str, float] = {}
    fallback = None
    if lora:  # the run as a GGUF LoRA on its base GGUF (core.export.lora), or the full merge saying why not
        from core.export.lora import export_lora, lora_refusal

        fallback = lora_refusal(source)
        if fallback is not None and source.adapter_dir is None:
            fallback = None  # a whole model (a folder, a registered merged model) is exported whole: nothing to say
        elif fallback is None:
            _fetch_converter(ws, report)
            return export_lora(ws, source, ref=ref, quants=quants, name=name, parity=parity, parity_tokens=parity_tokens,
                               report=report, staging=staging, on_folder=on_folder)
    from core.export.preflight import check

    needs = check(source, quants, ws.exports_dir)  # a full export: refused here, with the numbers, when it cannot fit

    _fetch_converter(ws, report)
    if fallback is not None:
        report(ProgressEvent("merge", 0, 1, f"no LoRA export: {fallback.english}; exporting the whole model instead"))
    report(ProgressEvent("merge", 0, 1, needs.english()))
    final_name, final_dir = unique_folder(ws.exports_dir, name or source.name)
    tmp = work_folder(ws.exports_dir, final_name, staging)
    try:
        merged = _timed(report, seconds, "merge",
                        "merging the adapter into the base" if source.adapter_dir else "copying the model",
                        "merged in {s:.1f} s", lambda: merge(source, tmp / "merged"))
        how = describe_merge(merged)
        if how.get("message"):
            report(ProgressEvent("merge", 1, 1, how["message"]))
        ref_type = "bf16" if how.get("dtype") == "bfloat16" else "f16"  # the unquantized GGUF, in the merge's dtype
        f16 = _timed(report, seconds, "convert", f"convert_hf_to_gguf.py → {ref_type.upper()}", f"{ref_type.upper()} written in {{s:.1f}} s",
                     lambda: _convert(ws, merged, tmp / f"{final_name}-{ref_type}.gguf", log_file, outtype=ref_type))
        files = _quantize_all(ws, merged, f16, quants, tmp, final_name, log_file, report, seconds, ref_type=ref_type)
        parity_report = skipped = None
        if parity:
            memory = parity_memory_plan(merged, f"`nastavnik export {final_dir / 'merged'} --quant q8_0` "
                                                "(the merged model, checked as it is exported)")
            if memory.mode == "skip":
                skipped = memory.line or "parity check skipped"
                report(ProgressEvent("parity", 1, 1, skipped))
            else:
                report(ProgressEvent("parity", 0, 1, memory.line or f"the parity check holds the HF model: {memory.need / 1e9:.1f} GB of RAM"))
                parity_report = _parity(ws, merged, f16, files, source, parity_tokens, log_file, report, seconds,
                                        ram_budget=memory.budget, on_gpu=memory.mode == "gpu")
        write_modelfile(merged, tmp / "Modelfile", f"{final_name}-{quants[0]}.gguf", system=source.system,
                        family=trained_template(source))
        if not any(p == f16 for p in files.values()):
            f16.unlink()
        report(ProgressEvent("register", 0, 1, "registering"))
        if on_folder is not None:
            on_folder(final_dir)
        result = publish(ws, tmp, final_dir, ref=ref, source=source, quants=quants, files=files,
                         parity=parity_report, seconds=seconds, parity_skipped=skipped, fallback=fallback)
        report(ProgressEvent("done", 1, 1, str(final_dir)))
        return result
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
