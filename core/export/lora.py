"""A run exported as a GGUF LoRA on a base GGUF converted once: megabytes and seconds per run.

``nastavnik export RUN --lora``: the run's base is converted (F16) and quantized once, kept in
``exports/<base>-base/`` and registered (``meta["lora_base"]`` names the checkpoint and the
tokenizer files it was converted with, so a later run of the same base finds it); each run then
only has its adapter written by llama.cpp's ``convert_lora_to_gguf.py`` (F16) into its own export
folder, and is registered as ``run-N-QUANT``: the base GGUF as its path, the adapter in
``meta["lora"]``. The runner applies the adapter at load time with the base memory-mapped
(``core.infer.llamacpp.attach_lora``).

A run that cannot be served so (``lora_refusal``: it trains whole modules, ``modules_to_save``,
which the converter refuses; a 4-bit base without its 16-bit sibling; not a LoRA) is exported by
the full merge instead, and the export says why (``core.export.export``).

The base GGUF is converted from a folder of links to the base's weights beside the run's
tokenizer files (the adapter's win, as in a merge): the template the run was trained with is
the one embedded in the base GGUF, and a run with other tokenizer files gets its own base.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from core.export.common import sha256_file
from core.export.merge import TOKENIZER_FILES, copy_tokenizer_files
from core.export.register import ExportedFile, ExportResult, unique_folder, work_folder
from core.export.source import Source
from core.progress import OnProgress, ProgressEvent

if TYPE_CHECKING:
    from core.export.parity import ParityReport
    from core.workspace import Workspace

UNQUANTIZED = "f16"  # the base's reference GGUF and the adapter's type: parity is checked at F16


@dataclass(frozen=True)
class Refusal:
    """Why a run cannot be exported as a GGUF LoRA: ``code``/``params`` for the UI's language, ``english``."""

    code: str
    params: dict
    english: str


def lora_refusal(source: Source) -> Refusal | None:
    """None when ``source`` can be served as base GGUF + LoRA, else why not (read up front from
    the adapter's config, before anything is converted)."""
    from core.export.siblings import is_4bit

    if source.adapter_dir is None:
        return Refusal("export.lora_no_adapter", {"name": source.name},
                       f"{source.name} is a whole model, not a run's adapter")
    try:
        cfg = json.loads((source.adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    if str(cfg.get("peft_type") or "LORA").upper() != "LORA":
        return Refusal("export.lora_not_lora", {"type": str(cfg.get("peft_type"))},
                       f"the adapter is {cfg.get('peft_type')}, not a LoRA")
    full = [str(m) for m in cfg.get("modules_to_save") or []]
    if full:
        return Refusal("export.lora_full_modules", {"modules": ", ".join(full)},
                       f"the run trains {', '.join(full)} in full (modules_to_save), which llama.cpp's LoRA "
                       "converter refuses")
    if is_4bit(source.model_dir) and source.sibling_dir is None:
        return Refusal("export.lora_4bit_base", {"base": str(source.model_dir)},
                       "the base is stored in 4-bit and its 16-bit sibling is not on this disk: llama.cpp needs "
                       "the base in 16 bits")
    return None


def planned_refusal(ws: Workspace, ref: str) -> tuple[bool, Refusal | None]:
    """Up front, before anything is exported (the Export dialog, export-and-chat): (whether ``ref``
    is a run's adapter, and so can be a LoRA export at all; why it will fall back to the full merge,
    or None). A whole model is merged either way: (False, None). A ``UserError`` when ``ref`` does not
    resolve."""
    from core.export.source import resolve_source

    source = resolve_source(ws, str(ref))
    if source.adapter_dir is None:
        return False, None
    return True, lora_refusal(source)


# ---------------------------------------------------------------------------- the base, once


def _base_dir(source: Source) -> Path:
    return source.sibling_dir or source.model_dir


def _base_name(source: Source) -> str:
    """What the base GGUF is called: the base as the run names it (``demo``, ``Qwen3-8B`` of a hub id),
    else its folder's name."""
    name = Path(str(source.base)).name if source.base else ""
    return name if name and not name.startswith(".") else _base_dir(source).name


def _tokenizer_files(source: Source) -> dict[str, Path]:
    dirs = [source.model_dir] + ([source.adapter_dir] if source.adapter_dir else [])
    found: dict[str, Path] = {}
    for d in dirs:
        for name in TOKENIZER_FILES:
            if (d / name).is_file():
                found[name] = d / name
    return found


def base_key(source: Source) -> dict:
    """What a base GGUF is reused by: the checkpoint folder and the tokenizer files it carries."""
    h = hashlib.sha256()
    for name, path in sorted(_tokenizer_files(source).items()):
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return {"dir": str(_base_dir(source).resolve()), "tokenizer": h.hexdigest()[:16]}


def registered_base(ws: Workspace, key: dict) -> dict[str, Path]:
    """The registered base GGUFs (quant → file) converted with ``key``, files still on disk."""
    with ws.store() as store:
        models = store.list_models(kind="gguf")
    return {m.quant: Path(m.path) for m in models
            if (m.meta or {}).get("lora_base") == key and m.quant and Path(m.path).is_file()}


def _link_base(source: Source, hf: Path) -> Path:
    """The base's HF folder as the converter sees it: links to its weights and config, the run's tokenizer files."""
    hf.mkdir(parents=True)
    base = _base_dir(source)
    for item in base.iterdir():
        if item.is_file() and item.name not in TOKENIZER_FILES:
            os.symlink(item.resolve(), hf / item.name)
    copy_tokenizer_files([source.model_dir] + ([source.adapter_dir] if source.adapter_dir else []), hf)
    return hf


def base_staging(staging: Path) -> Path:
    """Where a background job (building in ``staging``) converts a base GGUF before it moves into
    ``exports/<base>-base/``: beside its staging folder, so a killed job's leftovers are found."""
    return staging.with_name(staging.name.removesuffix(".part") + "-base.part")


def ensure_base(ws: Workspace, source: Source, quants: list[str], *, log_file: Path, report: OnProgress,
                seconds: dict[str, float], staging: Path | None = None) -> tuple[dict[str, Path], Path]:
    """(quant → base GGUF, the base's HF folder) for F16 and each of ``quants``: the registered ones,
    the missing ones converted/quantized now into the base's export folder and registered.
    ``staging``: the folder to convert in (it must not exist), else a fresh temporary one."""
    from core.infer.llamacpp import convert_hf_to_gguf, quantize

    key = base_key(source)
    have = registered_base(ws, key)
    want = [UNQUANTIZED] + [q for q in quants if q != UNQUANTIZED]
    missing = [q for q in want if q not in have]
    if not missing:
        folder = have[UNQUANTIZED].parent
        report(ProgressEvent("base", 1, 1, f"base GGUF reused: {folder.name}"))
        return have, folder / "hf"
    t0 = time.monotonic()
    if UNQUANTIZED in have:
        folder = have[UNQUANTIZED].parent
        stem = have[UNQUANTIZED].name[: -len(f"-{UNQUANTIZED}.gguf")]
    else:
        stem, folder = unique_folder(ws.exports_dir, f"{_base_name(source)}-base")
        if staging is not None:
            staging.mkdir(parents=True)
        tmp = staging or Path(tempfile.mkdtemp(prefix=f".{stem}.part-", dir=ws.exports_dir))
        try:
            report(ProgressEvent("base", 0, len(missing), "converting the base to F16 (once for every run of it)"))
            hf = _link_base(source, tmp / "hf")
            convert_hf_to_gguf(hf, tmp / f"{stem}-{UNQUANTIZED}.gguf", outtype=UNQUANTIZED, cache_dir=ws.cache_dir,
                               log_file=log_file)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    files = dict(have)
    files[UNQUANTIZED] = folder / f"{stem}-{UNQUANTIZED}.gguf"
    for n, q in enumerate(m for m in missing if m != UNQUANTIZED):
        report(ProgressEvent("base", n + 1, len(missing), f"quantizing the base to {q.upper()} (once)"))
        out = folder / f"{stem}-{q}.gguf"
        if q in ("f32", "bf16"):
            convert_hf_to_gguf(folder / "hf", out, outtype=q, cache_dir=ws.cache_dir, log_file=log_file)
        else:
            quantize(files[UNQUANTIZED], out, q, log_file=log_file)
        files[q] = out
    with ws.store() as store, store.transaction():
        for q in missing:
            path = files[q]
            store.add_model("gguf", f"{folder.name}-{q}", str(path), quant=q, sha256=sha256_file(path),
                            size_bytes=path.stat().st_size, base=source.base, meta={"lora_base": key, "export": folder.name})
    seconds["base"] = round(time.monotonic() - t0, 3)
    report(ProgressEvent("base", len(missing), len(missing), f"base GGUF {folder.name} ready in {seconds['base']:.1f} s"))
    return files, folder / "hf"


# ---------------------------------------------------------------------------- the run's adapter


def lora_parity(source: Source, hf_dir: Path, bases: dict[str, Path], lora: Path, *, system: str | None,
                questions: list[str], max_new_tokens: int, log_file: Path, report: OnProgress,
                on_gpu: bool = False) -> ParityReport:
    """HF base + the PEFT adapter (unmerged) against llama.cpp's base GGUF + the GGUF LoRA, at F16
    (and Q8_0 when exported), by the merged exports' check and near-tie rule. ``on_gpu``: the base
    loads onto CUDA device 0 (``parity_memory_plan``'s mode "gpu")."""
    from core.export.merge import load_base
    from core.export.parity import parity_check
    from core.train.adapter_fit import load_adapter

    base, _ = load_base(source, device_map={"": 0} if on_gpu else None)
    assert source.adapter_dir is not None  # lora_refusal let only adapters through
    model = load_adapter(base, source.adapter_dir, what=f"run {source.run_id}'s adapter", hint="train the run again")
    checked = {q: p for q, p in bases.items() if q in (UNQUANTIZED, "q8_0")}
    return parity_check(hf_dir, checked, questions, system=system, max_new_tokens=max_new_tokens, log_file=log_file,
                        progress=report, model=model, lora=lora, on_gpu=on_gpu)


def export_lora(ws: Workspace, source: Source, *, ref: str, quants: list[str], name: str | None, parity: bool,
                parity_tokens: int, report: OnProgress, staging: Path | None = None,
                on_folder: Callable[[Path], None] | None = None) -> ExportResult:
    """The run's adapter as a GGUF LoRA on its base GGUF (built once), checked and registered."""
    from core.export.modelfile import trained_template, write_modelfile
    from core.export.parity import eval_questions, parity_memory_plan
    from core.infer.llamacpp import convert_lora_to_gguf

    log_file = ws.logs_dir / "export.log"
    seconds: dict[str, float] = {}
    bases, hf_dir = ensure_base(ws, source, quants, log_file=log_file, report=report, seconds=seconds,
                                staging=base_staging(staging) if staging is not None else None)
    final_name, final_dir = unique_folder(ws.exports_dir, name or source.name)
    tmp = work_folder(ws.exports_dir, final_name, staging)
    try:
        t0 = time.monotonic()
        report(ProgressEvent("convert", 0, 1, "convert_lora_to_gguf.py → the run's adapter as a GGUF LoRA"))
        assert source.adapter_dir is not None
        lora_name = f"{final_name}-lora-{UNQUANTIZED}.gguf"
        convert_lora_to_gguf(source.adapter_dir, hf_dir, tmp / lora_name, cache_dir=ws.cache_dir, log_file=log_file,
                             outtype=UNQUANTIZED)
        seconds["convert"] = round(time.monotonic() - t0, 3)
        report(ProgressEvent("convert", 1, 1, f"GGUF LoRA written in {seconds['convert']:.1f} s"))
        parity_report = skipped = None
        if parity:
            # the unmerged base + adapter is held whole, on the GPU or in RAM: no disk offload for it
            memory = parity_memory_plan(hf_dir, f"`nastavnik export {ref}` on a machine with room for the base",
                                        offload=False)
            if memory.mode == "skip":
                skipped = memory.line or "parity check skipped"
                report(ProgressEvent("parity", 1, 1, skipped))
            else:
                report(ProgressEvent("parity", 0, 1, memory.line or f"the parity check holds the HF model: {memory.need / 1e9:.1f} GB of RAM"))
                t0 = time.monotonic()
                parity_report = lora_parity(source, hf_dir, bases, tmp / lora_name, system=source.system,
                                            questions=eval_questions(ws), max_new_tokens=parity_tokens, log_file=log_file,
                                            report=report, on_gpu=memory.mode == "gpu")
                seconds["parity"] = round(time.monotonic() - t0, 3)
        write_modelfile(hf_dir, tmp / "Modelfile", str(bases[quants[0]]), system=source.system,
                        family=trained_template(source), adapter=lora_name)
        report(ProgressEvent("register", 0, 1, "registering"))
        if on_folder is not None:
            on_folder(final_dir)
        os.replace(tmp, final_dir)
        try:
            lora = final_dir / lora_name
            sha, size = sha256_file(lora), lora.stat().st_size
            files = [ExportedFile(q, lora, sha, size) for q in quants]
            result = ExportResult(name=final_name, folder=final_dir, source=ref, run_id=source.run_id, base=source.base,
                                  files=files, modelfile=final_dir / "Modelfile", merged_dir=final_dir / "merged",
                                  parity=parity_report, seconds=seconds, registered=False, how="lora",
                                  parity_skipped=skipped)
            with ws.store() as store, store.transaction():
                for f in files:
                    meta = {"export": final_name, "modelfile": str(result.modelfile), "lora": str(lora),
                            "parity_ok": parity_report.ok if parity_report else None,
                            # a checkpoint's export (``RUN@N``): the run's model is its own export, never this one
                            **({"checkpoint": source.checkpoint} if source.checkpoint is not None else {})}
                    model = store.add_model("gguf", f"{final_name}-{f.quant}", str(bases[f.quant]), quant=f.quant,
                                            sha256=sha, size_bytes=size, run_id=source.run_id, base=source.base,
                                            dataset_sha256=source.dataset_sha256, meta=meta)
                    f.model_id = model.id
            result.registered = True
        except BaseException:
            shutil.rmtree(final_dir, ignore_errors=True)
            raise
        info = {**result.to_dict(), "base_gguf": {q: str(p) for q, p in bases.items()}}
        (final_dir / "export.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
        report(ProgressEvent("done", 1, 1, str(final_dir)))
        return result
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
