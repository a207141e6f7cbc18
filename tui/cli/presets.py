"""``nastavnik presets``: each preset, its GPU memory estimate per backend, and the card it fits.

Pure arithmetic (core/train/vram.py): no torch, no CUDA, nothing downloaded.
"""

from __future__ import annotations

import click

from tui.cli import CONTEXT, emit_json


def register(cli: click.Group) -> None:
    cli.add_command(presets)


def preset_rows(*, max_seq_len: int | None = None, batch_size: int | None = None, lora_r: int | None = None) -> list[dict]:
    from core.train.presets import PRESETS
    from core.train.backends import BY_MEMORY
    from core.train.vram import estimate_vram, smallest_card

    rows = []
    for p in PRESETS.values():
        settings = {
            "max_seq_len": max_seq_len or p.max_seq_len,
            "batch_size": batch_size or p.batch_size,
            "lora_r": lora_r or p.lora_r,
            "load_in_4bit": p.load_in_4bit,
        }
        estimates = {}
        for backend in BY_MEMORY:
            est = estimate_vram(p, backend=backend, max_seq_len=settings["max_seq_len"], batch_size=settings["batch_size"], lora_r=settings["lora_r"])
            estimates[backend] = {**est.to_dict(), "card_gb": smallest_card(est)}
        rows.append({
            "name": p.name,
            "base": p.base,
            "template": p.template,
            "params_b": p.params_b,
            "note": p.note,
            "fits": fits_note(estimates),
            "settings": settings,
            "estimate_gib": estimates,
        })
    return rows


def fits_note(estimates: dict) -> str:
    parts = []
    for backend, est in estimates.items():
        card = est["card_gb"]
        article = "an" if str(card).startswith("8") else "a"  # an 8 GB, an 80 GB
        parts.append(f"{article} {card} GB card with {backend}" if card else f"no single common card with {backend}")
    return "fits " + ", ".join(parts)


@click.command(context_settings=CONTEXT)
@click.option("--max-seq-len", type=int, help="Estimate at this length instead of each preset's own.")
@click.option("--batch-size", type=int, help="Estimate at this micro-batch instead of each preset's own.")
@click.option("--lora-r", type=int, help="Estimate at this LoRA rank instead of each preset's own.")
@click.option("--json", "as_json", is_flag=True)
def presets(max_seq_len, batch_size, lora_r, as_json) -> None:
    """The training presets, with the GPU memory each needs per backend (GiB, one GPU).

    The estimate counts 4-bit linears, 16-bit embeddings/head/vision tower, LoRA with its
    optimizer, activations with gradient checkpointing and the CUDA overhead; `train` checks it
    against every GPU the run uses before it starts.

    \b
    Examples:
      nastavnik presets
      nastavnik presets --max-seq-len 4096 --json
    """
    from core.errors import UserError

    for name, value in (("--max-seq-len", max_seq_len), ("--batch-size", batch_size), ("--lora-r", lora_r)):
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1, not {value}")
    rows = preset_rows(max_seq_len=max_seq_len, batch_size=batch_size, lora_r=lora_r)
    if as_json:
        emit_json(rows)
        return
    click.echo(f"{'preset':<12} {'params':>7} {'seq×batch':>10} {'r':>3}  {'unsloth':>8} {'hf':>8}  base")
    for row in rows:
        s, e = row["settings"], row["estimate_gib"]
        click.echo(
            f"{row['name']:<12} {row['params_b']:>6g}B {s['max_seq_len']:>5}×{s['batch_size']:<4} {s['lora_r']:>3}  "
            f"{e['unsloth']['total']:>7.1f}G {e['hf']['total']:>7.1f}G  {row['base']}"
        )
        click.echo(f"{'':<12} {row['note']}; {row['fits']}")
