"""``nastavnik models pull`` and ``nastavnik downloads``: hub checkpoints fetched as background jobs.

A pull starts a download job (``core.hub.download``) and, unless ``--detach``, follows it
with the one progress printer — bytes, speed, ETA — until the base model is registered.
Ctrl+C stops following, not the download; ``downloads cancel ID`` stops it, and pulling the
same id again resumes what a stopped or killed job left.
"""

from __future__ import annotations

import click

from tui.cli import CONTEXT, Ctx, cancel_command, emit_json, follow_job, job_started, list_command, pass_ctx, show_command


def register(cli: click.Group) -> None:
    from tui.cli.train import models

    models.add_command(models_pull)
    cli.add_command(downloads)


def pull(obj: Ctx, hub_id: str, *, revision: str | None = None, name: str | None = None, as_json: bool = False,
         detach: bool = False) -> None:
    """Start a download job for ``hub_id``; follow it to its end unless ``detach``. A failed job raises its coded error."""
    from core.hub.download import start_download

    job = start_download(obj.ws, hub_id, revision=revision, name=name)
    if detach:
        job_started(job, as_json, "download", hub_id, "downloads")
        return
    job = _follow(obj, job.id, as_json)
    if job is None:
        return
    _end(obj, job, as_json)


def _follow(obj: Ctx, job_id: int, as_json: bool):
    from core.hub.download import download_progress, wait_download

    # a line while it goes and once done (the last line says all arrived), none for another end
    return follow_job(lambda update: wait_download(obj.ws, job_id, timeout=float("inf"), on_update=update),
                      quiet=as_json, label="download", key=lambda j: (j.status, j.stage, j.done, j.file),
                      event=lambda j: download_progress(j) if j.active or j.status == "done" else None,
                      stopped=f"stopped following; download job {job_id} goes on"
                              f" (`nastavnik downloads cancel {job_id}` stops it)")


def _end(obj: Ctx, job, as_json: bool) -> None:
    from core.hub.download import download_error

    error = download_error(job) if job.status == "failed" else None
    if error is not None:
        raise error
    if as_json:
        emit_json(job.to_dict())
    elif job.status == "done":
        click.echo(f"added base model {job.name}: {job.folder}")
    else:
        click.echo(f"download job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
    if job.status != "done" and not as_json:
        raise SystemExit(1)


@click.command("pull", context_settings=CONTEXT)
@click.argument("hub_id")
@click.option("--revision", help="A branch, tag or commit of the repository (default: main).")
@click.option("--name", help="Name of the base model (default: the repository's name).")
@click.option("--json", "as_json", is_flag=True, help="Print the finished job as JSON (no progress bar).")
@click.option("--detach", is_flag=True, help="Start the download in the background and return its job id.")
@pass_ctx
def models_pull(obj: Ctx, hub_id, revision, name, as_json, detach) -> None:
    """Download a base model from the Hugging Face hub as a background job and register it.

    Only what training and export read is fetched (config, tokenizer, chat template,
    safetensors); it goes to the Hugging Face cache (HF_HUB_CACHE) and survives the terminal.
    A gated model (Gemma) needs its licence accepted on its page and HF_TOKEN set.

    \b
    Examples:
      nastavnik models pull unsloth/Qwen3-4B-bnb-4bit
      nastavnik models pull unsloth/gemma-3-4b-it-bnb-4bit --detach
      nastavnik downloads show 1 --follow
    """
    pull(obj, hub_id, revision=revision, name=name, as_json=as_json, detach=detach)


# ---------------------------------------------------------------------------- background jobs


@click.group(context_settings=CONTEXT)
def downloads() -> None:
    """Background downloads of hub models (`nastavnik models pull ID`, the app's Models room).

    \b
      nastavnik downloads list
      nastavnik downloads show 2 --follow
      nastavnik downloads cancel 2
      nastavnik downloads resume 2   # a cancelled or killed one, from where it stopped
    """


def _line(job) -> str:
    from core.hub.download import download_progress

    p = download_progress(job)
    where = p.message if job.active else (job.error or job.message or "")
    return f"{job.id:>3} {job.status:<11} {job.hub_id:<36} {where} {job.created[:19]}"


def _list(ws, store):
    from core.hub.download import refresh_downloads

    refresh_downloads(ws, store)
    return store.list_download_jobs(), _line


list_command(downloads, "All download jobs, newest first.", _list,
             "no downloads yet — `nastavnik models pull OWNER/NAME` starts one")


def _read(ws, store, job_id: int):
    from core.hub.download import refresh_downloads

    refresh_downloads(ws, store)
    return store.get_download_job(job_id), _show


def _show(job) -> None:
    from core.hub.download import download_progress

    click.echo(f"download job {job.id}: {job.status} — {job.hub_id}" + (f"@{job.revision}" if job.revision else "")
               + (f" as {job.name}" if job.name else ""))
    if job.active:
        click.echo(f"  {download_progress(job).message}")
    elif job.total:
        click.echo(f"  {job.done} of {job.total} bytes")
    if job.error:
        click.echo(f"  error: {job.error}")
    if job.folder:
        click.echo(f"  folder: {job.folder}")
    click.echo(f"  log: {job.log_path}")


show_command(downloads, "One download job: bytes, ETA, the file being fetched, how it ended.",
             "Draw its progress until it ends (Ctrl+C stops following, not the job).", _read,
             lambda obj, job, as_json: _follow(obj, job.id, as_json) or job)


@downloads.command("resume", context_settings=CONTEXT)
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the finished job as JSON (no progress bar).")
@click.option("--detach", is_flag=True, help="Resume it in the background and return the new job.")
@pass_ctx
def downloads_resume(obj: Ctx, job_id, as_json, detach) -> None:
    """Start a stopped download again (cancelled, failed or killed): a new job that keeps what arrived."""
    from core.hub.download import resume_download

    job = resume_download(obj.ws, job_id)
    if detach:
        if as_json:
            emit_json(job.to_dict())
        else:
            click.echo(f"download job {job.id} resumes {job.hub_id}; log: {job.log_path}")
        return
    ended = _follow(obj, job.id, as_json)
    if ended is not None:
        _end(obj, ended, as_json)


def _cancel(ws, job_id: int):
    from core.hub.download import cancel_download

    return cancel_download(ws, job_id)


cancel_command(downloads, "cancel", "job_id", "Stop a download job; what arrived stays cached for the next pull.",
               _cancel, lambda job: f"download job {job.id} {job.status}")
