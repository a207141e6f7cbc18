"""What to export: a run id, a registered model name or a folder, resolved to a ``Source``.

A run or a LoRA adapter folder gives the adapter and the full-precision base it was trained
on (from the run's row, else the adapter's ``adapter_config.json``); a model folder or a
registered merged/base model gives the whole model, with no adapter.

A run's checkpoint exports like its final adapter: ``RUN@N`` (``checkpoint_ref``) is the
adapter saved at step N (``runs/<id>/checkpoints/checkpoint-N``), ``RUN@best`` the one its
evaluations picked (``runs.best_step``, core/train/answer_eval.py). Every checkpoint carries
the run's chat template and ``nastavnik_run.json``, so it merges the way the final adapter does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.store import Model, Run
from core.workspace import Workspace


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
    # the base is stored in 4-bit (an unsloth/…-bnb-4bit checkpoint): its 16-bit sibling on disk, if
    # one is (then the merge goes into the original weights), else None (the 4-bit ones are dequantized)
    sibling_dir: Path | None = None
    # the transformers class the adapter was trained on (Unsloth on CUDA trains Qwen 3.5 as
    # Qwen3_5ForConditionalGeneration, the CPU as Qwen3_5ForCausalLM): the merge loads the base as it;
    # None: not recorded (an older run), AutoModelForCausalLM
    model_class: str | None = None
    # the step of the run's checkpoint this is (``RUN@N``, ``RUN@best``); None: the run's final
    # adapter, or not a run. Registered with the export's GGUFs, so "the run's model" is never a checkpoint's
    checkpoint: int | None = None


CHECKPOINT_SEP = "@"


def checkpoint_ref(run_id: int | str, checkpoint: int | str | None) -> str:
    """The export source for a run's checkpoint: ``3@best``, ``3@40``; the run itself without one."""
    if checkpoint is None or str(checkpoint) == "":
        return str(run_id)
    return f"{run_id}{CHECKPOINT_SEP}{checkpoint}"


def split_checkpoint(ref: str) -> tuple[str, str | None]:
    """(the run id, ``best`` or the step) of ``RUN@best`` / ``RUN@N``; (ref, None) for anything else."""
    head, sep, tail = str(ref).partition(CHECKPOINT_SEP)
    if sep and head.isdigit() and (tail == "best" or tail.isdigit()):
        return head, tail
    return str(ref), None


def parse_checkpoint(text: str | None) -> str | None:
    """``--checkpoint``'s value: ``best`` or a step number; a UserError for anything else."""
    if text is None:
        return None
    value = str(text).strip().lower()
    if value.startswith("checkpoint-"):
        value = value[len("checkpoint-"):]
    if value == "best" or value.isdigit():
        return value
    raise UserError(f"--checkpoint takes a step number or best, not {text!r}", hint="`nastavnik runs show RUN` lists the checkpoints",
                    code="export.bad_checkpoint", params={"value": str(text)})


def _is_hf_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _adapter_base(adapter_dir: Path) -> str | None:
    try:
        return json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None


def _source_from_adapter(adapter_dir: Path, *, name: str, base_hint: str | None = None, ws: Workspace | None = None,
                         base_path: str | None = None, model_class: str | None = None, **kw) -> Source:
    """``base_path``: the folder the run trained on (its config), tried first: the run's ``base`` is a
    label (``Meta-Llama-3.1-8B-Instruct-bnb-4bit`` for a hub id) that names no folder.
    ``model_class``: the class the run's setup says it trained on; the adapter's own
    ``nastavnik_run.json`` wins (it travels with the adapter)."""
    from core.train.adapter_fit import model_class as trained_class

    base = base_hint or _adapter_base(adapter_dir)
    candidates = [c for c in (base_path, _adapter_base(adapter_dir), base) if c]
    if not candidates:
        raise UserError(f"{adapter_dir} names no base model", hint="adapter_config.json needs base_model_name_or_path")
    base_dir = None
    for ref in candidates:
        try:
            base_dir = _resolve_model_dir(ref, ws)
            break
        except UserError:
            continue
    if base_dir is None:
        base_dir = _resolve_model_dir(candidates[-1], ws)  # raises, naming what was asked for
    from core.export.siblings import sixteen_bit_sibling

    return Source(name=name, model_dir=base_dir, adapter_dir=adapter_dir, base=base or str(base_dir),
                  sibling_dir=sixteen_bit_sibling(base_dir, ws), model_class=trained_class(adapter_dir) or model_class, **kw)


def _resolve_model_dir(ref: str, ws: Workspace | None) -> Path:
    """A base given as a folder path or as a registered model's name."""
    path = Path(ref).expanduser()
    if _is_hf_dir(path):
        return path.resolve()
    if ws is not None:
        with ws.store() as store:
            model = store.find_model(ref)
        if model is not None and _is_hf_dir(Path(model.path)):
            return Path(model.path)
        if _is_hf_dir(ws.models_dir / ref):
            return (ws.models_dir / ref).resolve()
    raise UserError(
        f"the base model {ref!r} is not a Hugging Face folder here",
        hint="give the folder with config.json, or a name from `nastavnik models list`",
        code="export.no_base", params={"ref": str(ref)},
    )


def resolve_source(ws: Workspace | None, ref: str) -> Source:
    """A run id, a registered model name, or a folder (HF model or LoRA adapter)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path.resolve()
        if (path / "adapter_config.json").is_file():
            return _source_from_adapter(path, name=path.name, ws=ws)
        if _is_hf_dir(path):
            return Source(name=path.name, model_dir=path, base=str(path))
        raise UserError(f"{path} is neither a model folder nor a LoRA adapter", hint="it needs config.json or adapter_config.json")
    if ws is None:
        raise UserError(f"{ref} is not a folder", hint="give the model or adapter folder to export")
    run_ref, checkpoint = split_checkpoint(ref)
    if checkpoint is not None:
        with ws.store() as store:
            found = store.find_run(int(run_ref))
        if found is None:
            raise UserError(f"there is no run {run_ref}", hint="`nastavnik runs list` shows the runs")
        return _source_from_run(found, ws, checkpoint=checkpoint)
    with ws.store() as store:
        run = store.find_run(int(ref)) if ref.isdigit() else None
        model = None if run is not None else store.find_model(ref)
    if run is not None:
        return _source_from_run(run, ws)
    if model is not None:
        source = _source_from_model(model, ref, ws)
        if source is not None:
            return source
    if _is_hf_dir(ws.models_dir / ref):
        d = (ws.models_dir / ref).resolve()
        return Source(name=ref, model_dir=d, base=ref)
    raise UserError(
        f"nothing to export called {ref!r}",
        hint="give a run id (`nastavnik runs list`), a model name (`nastavnik models list`) or a model folder",
        code="export.nothing_called", params={"ref": str(ref)},
    )


def checkpoint_dir(run: Run, ws: Workspace, checkpoint: str) -> tuple[int, Path]:
    """(step, folder) of the run's checkpoint ``checkpoint`` (``best`` or a step); a UserError naming
    the checkpoints there are when it is not on disk."""
    from core.train.runs import run_checkpoints

    if checkpoint == "best":
        if run.best_step is None:
            raise UserError(f"run {run.id} has no best checkpoint: it ran without evaluation steps",
                            hint="export a numbered checkpoint, or train with --eval-steps N",
                            code="export.no_best", params={"id": run.id})
        step = int(run.best_step)
    else:
        step = int(checkpoint)
    folder = Path(run.run_dir or ws.runs_dir / str(run.id)) / "checkpoints" / f"checkpoint-{step}"
    if not (folder / "adapter_config.json").is_file():
        have = ", ".join(map(str, run_checkpoints(run))) or "none"
        raise UserError(f"run {run.id} has no checkpoint at step {step} (on disk: {have})",
                        hint=f"`nastavnik runs show {run.id}` lists its checkpoints",
                        code="export.no_checkpoint", params={"id": run.id, "step": step, "have": have})
    return step, folder


def _source_from_run(run: Run, ws: Workspace, *, checkpoint: str | None = None) -> Source:
    """The adapter a run trained (its row's path, else ``runs/<id>/adapter``; with ``checkpoint``,
    that checkpoint's) on the base it trained on."""
    run_dir = Path(run.run_dir or ws.runs_dir / str(run.id))
    name = f"run-{run.id}"
    step: int | None = None
    adapter: Path | None = Path(run.adapter_path) if run.adapter_path else None
    if checkpoint is not None:
        step, adapter = checkpoint_dir(run, ws, checkpoint)
        name = f"run-{run.id}-step{step}"
    if adapter is None and (run_dir / "adapter" / "adapter_config.json").is_file():
        adapter = run_dir / "adapter"
    if adapter is None or not (adapter / "adapter_config.json").is_file():
        raise UserError(f"run {run.id} has no adapter yet (status {run.status})",
                        hint=f"wait until it finishes (`nastavnik runs show {run.id}` shows its status)",
                        code="export.no_adapter", params={"id": run.id, "status": run.status})
    cfg = run.config or {}
    setup = run.setup or {}
    source = _source_from_adapter(
        adapter,
        name=name,
        base_hint=run.base or None,
        base_path=cfg.get("base"),
        model_class=setup.get("model_class"),
        ws=ws,
        run_id=run.id,
        dataset_sha256=run.dataset_sha256,
        system=cfg.get("system"),
    )
    source.checkpoint = step
    return source


def _source_from_model(model: Model, ref: str, ws: Workspace) -> Source | None:
    """A registered adapter or HF model; None when its folder is neither."""
    mpath = Path(model.path)
    if model.kind == "gguf":
        raise UserError(f"{ref} is already a GGUF file", hint="chat with it: `nastavnik chat " + ref + "`")
    if (mpath / "adapter_config.json").is_file():
        return _source_from_adapter(mpath, name=model.name, base_hint=model.base, ws=ws,
                                    run_id=model.run_id, dataset_sha256=model.dataset_sha256)
    if _is_hf_dir(mpath):
        return Source(name=model.name, model_dir=mpath, base=model.base or model.name,
                      run_id=model.run_id, dataset_sha256=model.dataset_sha256)
    return None
