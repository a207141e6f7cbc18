"""``nastavnik presets``: each preset, its GPU memory estimate per backend, and the card it fits;
with ``--base``, the same for any checkpoint on disk, from its own config.json.

Pure arithmetic (core/train/vram.py, core/train/arch.py): no torch, no CUDA, nothing downloaded.
"""

from __future__ import annotations

import click

from tui.cli import CONTEXT, Ctx, emit_json, pass_ctx


def register(cli: click.Group) -> None:
    cli.add_command(presets)


def preset_rows(*, max_seq_len: int | None = None, batch_size: int | None = None, lora_r: int | None = None,
                arches=None, store=None) -> list[dict]:
    """A row per preset (or per architecture in ``arches``): its settings, estimate per backend, fit.

    A preset's architecture is its base's own config.json when that is on disk (a registered model
    or the Hugging Face cache, ``core.train.runs.local_base``; ``store`` looks registered names
    up), else the numbers the preset carries; a preset with neither has ``estimate_gib`` None and
    says its fit is unknown until its config.json is here."""
    from core.errors import UserError
    from core.train.presets import PRESETS

    rows = []
    for p in (PRESETS.values() if arches is None else arches):
        settings = {
            "max_seq_len": max_seq_len or p.max_seq_len,
            "batch_size": batch_size or p.batch_size,
            "lora_r": lora_r or p.lora_r,
            "load_in_4bit": p.load_in_4bit,
        }
        row = {"name": p.name, "base": p.base, "template": p.template, "params_b": p.params_b or None, "note": p.note}
        source = "config.json"
        try:
            arch, source = (p, source) if arches is not None else _preset_arch(p, store)
            if arch is None:
                rows.append({**row, "fits": FIT_NOT_HERE, "fit": "not_here", "settings": settings, "estimate_gib": None,
                             "source": None})
                continue
            estimates = _estimates(arch, p, settings)
        except UserError as exc:
            if exc.code != "arch.unknown":
                raise
            rows.append({**row, "fits": f"fit: unknown, {exc}", "fit": "unknown", "settings": settings, "estimate_gib": None,
                         "source": source})
            continue
        rows.append({**row, "params_b": arch.params_b, "fits": fits_note(estimates), "fit": "estimated", "settings": settings,
                     "estimate_gib": estimates, "source": source})
    return rows


#: what a preset without numbers says before its base's config.json is on this machine
FIT_NOT_HERE = "fit: unknown until its config.json is here"


def _preset_arch(preset, store):
    """(architecture, source) of a preset: its base's config.json on disk, else its own numbers,
    else (None, None) (``core.train.vram.preset_arch``)."""
    from core.train.vram import preset_arch

    return preset_arch(preset, store)


def _estimates(arch, preset, settings: dict) -> dict:
    """The estimate per backend of ``arch`` at ``settings`` with ``preset``'s targets, and the card each fits."""
    from core.train.backends import BY_MEMORY
    from core.train.vram import estimate_vram, smallest_card

    estimates = {}
    for backend in BY_MEMORY:
        est = estimate_vram(arch, backend=backend, max_seq_len=settings["max_seq_len"], batch_size=settings["batch_size"],
                            lora_r=settings["lora_r"], load_in_4bit=settings["load_in_4bit"], targets=preset.targets)
        estimates[backend] = {**est.to_dict(), "card_gb": smallest_card(est)}
    return estimates


def fits_note(estimates: dict) -> str:
    parts = []
    for backend, est in estimates.items():
        card = est["card_gb"]
        article = "an" if str(card).startswith("8") else "a"  # an 8 GB, an 80 GB
        parts.append(f"{article} {card} GB card with {backend}" if card else f"no single common card with {backend}")
    return "fits " + ", ".join(parts)


def base_arch_of(obj: Ctx, base: str):
    """The architecture of ``base`` (a folder, a registered model, a hub id in the HF cache) from its
    config.json; a UserError when it is not on disk (nothing is downloaded) or its family is unknown."""
    from core.errors import UserError
    from core.train.runs import local_base
    from core.train.vram import preset_from_checkpoint

    with obj.store() as store:
        folder = local_base(store, base)
        model = store.find_model(base)
    if folder is None:
        raise UserError(f"fit: unknown until the config.json of {base} is here",
                        hint="give a checkpoint folder, a model from `nastavnik models list`, or add it first (`nastavnik models add`)",
                        code="arch.no_config", params={"folder": str(base)})
    return preset_from_checkpoint(folder, name=model.name if model is not None else folder.name)


@click.command(context_settings=CONTEXT)
@click.option("--base", "bases", multiple=True, metavar="MODEL",
              help="Estimate this checkpoint (a folder, a registered model, a hub id in the HF cache) from its own config.json "
                   "instead of the presets; repeatable.")
@click.option("--max-seq-len", type=int, help="Estimate at this length instead of each preset's own.")
@click.option("--batch-size", type=int, help="Estimate at this micro-batch instead of each preset's own.")
@click.option("--lora-r", type=int, help="Estimate at this LoRA rank instead of each preset's own.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def presets(obj: Ctx, bases, max_seq_len, batch_size, lora_r, as_json) -> None:
    """The training presets, with the GPU memory each needs per backend (GiB, one GPU); with
    --base, any checkpoint's, read from its config.json (parameters counted from its weights).

    The estimate counts 4-bit linears, 16-bit embeddings/head/vision tower, LoRA with its
    optimizer, activations with gradient checkpointing and the CUDA overhead; `train` checks it
    against every GPU the run uses before it starts.

    \b
    Examples:
      nastavnik presets
      nastavnik presets --max-seq-len 4096 --json
      nastavnik presets --base ~/models/gemma-3-4b-it --base demo-qwen3
    """
    from core.errors import UserError

    for name, value in (("--max-seq-len", max_seq_len), ("--batch-size", batch_size), ("--lora-r", lora_r)):
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1, not {value}")
    arches = [base_arch_of(obj, base) for base in bases] if bases else None
    with obj.store() as store:
        rows = preset_rows(max_seq_len=max_seq_len, batch_size=batch_size, lora_r=lora_r, arches=arches, store=store)
    if as_json:
        emit_json(rows)
        return
    click.echo(f"{'preset' if arches is None else 'base':<12} {'params':>7} {'seq×batch':>10} {'r':>3}  {'unsloth':>8} {'hf':>8}  base")
    for row in rows:
        s, e = row["settings"], row["estimate_gib"]
        params = f"{row['params_b']:>6.3g}B" if row["params_b"] else f"{'?':>7}"
        totals = f"{e['unsloth']['total']:>7.1f}G {e['hf']['total']:>7.1f}G" if e else f"{'?':>8} {'?':>8}"
        click.echo(f"{row['name']:<12} {params} {s['max_seq_len']:>5}×{s['batch_size']:<4} {s['lora_r']:>3}  {totals}  {row['base']}")
        click.echo(f"{'':<12} {row['note']}; {row['fits']}")
