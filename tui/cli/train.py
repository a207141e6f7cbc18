"""``nastavnik train``, ``runs …``, ``models …``, ``demo-model`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.errors import UserError
from core.store import MODEL_KINDS
from core.train.config import BACKENDS, BEST_METRICS, METHODS, field_help
from core.train.device import DTYPES
from core.train.presets import PRESETS
from core.train.replicas import ARCHES as REPLICA_ARCHES
from core.train.templates import TEMPLATES
from tui.cli import CONTEXT, Ctx, ProgressPrinter, cancel_command, emit_json, parse_ids, pass_ctx

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store


def register(cli: click.Group) -> None:
    cli.add_command(train)
    cli.add_command(runs)
    cli.add_command(models)
    cli.add_command(demo_model)
    cli.add_command(demo)


# ---------------------------------------------------------------------------- demo


@click.command("demo-model", context_settings=CONTEXT)
@click.option("--arch", type=click.Choice(["demo", *REPLICA_ARCHES]), default="demo", show_default=True,
              help="demo: the tiny demo model; else a tiny replica of that family's real architecture, tokenizer and template.")
@click.option("--prequantize", is_flag=True, help="Also write a bitsandbytes 4-bit copy (demo-ARCH-bnb-4bit), as unsloth/…-bnb-4bit repos are.")
@click.option("--force", is_flag=True, help="Rebuild even if it exists.")
@click.option("--steps", type=int, help="Training steps (default: enough to answer in words).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def demo_model(obj: Ctx, arch, prequantize, force, steps, as_json) -> None:
    """Build the tiny demo model, or a replica of a real family, on the CPU, and register it.

    The demo model is base "demo"; a replica is "demo-ARCH" (a random-init Llama 3.1, Qwen 3,
    Qwen 3.5, Gemma 3 or Gemma 4 — the real classes, tokenizers and chat templates, two to six
    layers — for trying and testing the real training path without a GPU or a download).

    \b
    Examples:
      nastavnik demo-model && nastavnik train --preset demo
      nastavnik demo-model --arch gemma3 --prequantize
      nastavnik train --backend unsloth --base demo-gemma3 --load-in-4bit --steps 10
    """
    if arch == "demo":
        if prequantize:
            raise UserError("--prequantize is for the replicas", hint="add --arch " + ", ".join(REPLICA_ARCHES))
        from core.train.demo import ensure_demo_model

        with obj.store() as store, ProgressPrinter("demo model") as progress:
            model, built = ensure_demo_model(obj.ws, store, force=force, steps=steps, progress=progress)
        if as_json:
            emit_json({**model.to_dict(), "built": built})
        else:
            click.echo(f"demo model {'built' if built else 'already there'}: {model.path}")
        return
    from core.train.demo import ensure_replica

    with obj.store() as store, ProgressPrinter(f"demo-{arch}") as progress:
        built_models, built = ensure_replica(obj.ws, store, arch, force=force, prequantize=prequantize, steps=steps,
                                             progress=progress)
    if as_json:
        emit_json([{**m.to_dict(), "built": built} for m in built_models])
    else:
        for m in built_models:
            click.echo(f"{m.name} {'built' if built else 'already there'}: {m.path}")


@click.command(context_settings=CONTEXT)
@click.option("--if-missing", is_flag=True, help="Do only what is missing (quiet when all is there).")
@pass_ctx
def demo(obj: Ctx, if_missing) -> None:
    """Fill an empty workspace with the sample pairs (approved) and build the demo model.

    \b
    Example:
      nastavnik --home /tmp/try demo && nastavnik --home /tmp/try
    """
    from core.train.demo import demo_model_dir, ensure_demo_model, import_sample

    with obj.store() as store:
        n = import_sample(store)
        if n:
            click.echo(f"imported {n} sample pairs (approved)")
        have = (demo_model_dir(obj.ws) / "model.safetensors").exists() and store.find_model("demo") is not None
        if not have or not if_missing:
            click.echo("building the demo model (a minute or two on the CPU)…", err=True)
            with ProgressPrinter("demo model") as progress:
                _, built = ensure_demo_model(obj.ws, store, progress=progress)
            click.echo("demo model ready" + (" (built)" if built else ""))


# ---------------------------------------------------------------------------- models


@click.group(context_settings=CONTEXT)
def models() -> None:
    """Base models, trained adapters, merged models and GGUF files.

    \b
    Examples:
      nastavnik models add ~/models/gemma-3-4b-it
      nastavnik models add unsloth/gemma-3-4b-it-bnb-4bit   # a download job, like `models pull`
      nastavnik models list --json
    """


@models.command("add", context_settings=CONTEXT)
@click.argument("source")
@click.option("--name", help="Name to use (default: the folder or repo name).")
@click.option("--replace", is_flag=True, help="Replace a model with the same name.")
@click.option("--revision", help="A hub id's branch, tag or commit (default: main).")
@click.option("--detach", is_flag=True, help="A hub id: start its download in the background and return the job.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def models_add(obj: Ctx, source, name, replace, revision, detach, as_json) -> None:
    """Register a local Hugging Face checkpoint folder (safetensors) as a base, or download a hub id
    as a background job like `models pull` (--revision, --detach)."""
    from core.hub.fetch import is_hub_id, offline
    from core.train.runs import add_base_model

    if is_hub_id(source) and not offline():  # offline, a hub id is taken from a filled HF cache as before
        from tui.cli.downloads import pull

        pull(obj, source, revision=revision, name=name, as_json=as_json, detach=detach)
        return
    if revision or detach:
        raise UserError("--revision and --detach go with a hub id, not a folder")
    with obj.store() as store:
        model = add_base_model(store, source, name=name, replace=replace)
    if as_json:
        emit_json(model.to_dict())
    else:
        click.echo(f"added base model {model.name}: {model.path}")


@models.command("list", context_settings=CONTEXT)
@click.option("--kind", type=click.Choice(MODEL_KINDS))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def models_list(obj: Ctx, kind, as_json) -> None:
    """Show the models the app knows: kind, size on disk, origin (folder, or hub id and revision),
    what uses it (runs, models made from it, chats and results), and for a base whether it fits
    this machine's GPU per backend (estimated from its config.json at its defaults).

    \b
    Examples:
      nastavnik models list
      nastavnik models list --kind base --json | jq '.[] | {name, fit}'
    """
    from core.models.inventory import inventory

    with obj.store() as store:
        inv = inventory(obj.ws, store)
    rows = [e for e in inv.entries if kind is None or e.kind == kind]
    if as_json:
        emit_json([e.to_dict() for e in rows])
        return
    if not rows:
        click.echo("no models yet — `nastavnik demo-model` builds a tiny one, `nastavnik models add PATH` adds yours")
        return
    click.echo(f"{'name':<28} {'kind':<8} {'size':>9}  {'origin':<24} used by")
    for e in rows:
        click.echo(f"{e.name:<28} {e.kind:<8} {_size(e.size_bytes):>9}  {_origin(e):<24} {_users(e) or '—'}")
        if e.fit:
            click.echo(f"{'':<28} fit: {_fit(e.fit, inv.gpu)}")
    click.echo(f"disk: workspace {_size(inv.workspace_bytes)} ({obj.ws.home}), Hugging Face cache "
               f"{_size(inv.hf_cache_bytes)} ({inv.hf_cache})")


def _size(n: int | None) -> str:
    if n is None:
        return "missing"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _origin(e) -> str:
    if e.origin == "hub":
        return f"{e.hub_id}@{(e.revision or '?')[:8]}"
    if e.origin == "run":
        return f"run {e.run_id}"
    if e.origin == "export":
        return f"export {e.export or '?'}" + (f" (run {e.run_id})" if e.run_id else "")
    return e.origin


def _users(e) -> str:
    from core.models.inventory import users_text

    return users_text(e.users)


def _fit(fits, gpu: str | None) -> str:
    parts = []
    for f in fits:
        if f.state == "unknown":
            return f"unknown: {f.reason}"
        word = {"fits": "fits", "too_big": "too big", "no_gpu": "needs"}[f.state]
        parts.append(f"{f.backend} {f.need_gib:.1f} GiB {word}" if f.state != "no_gpu" else f"{f.backend} {word} {f.need_gib:.1f} GiB")
    where = f" on {gpu} ({fits[0].card_gib:.0f} GiB)" if gpu else " (no GPU here)"
    return ", ".join(parts) + where


@models.command("rm", context_settings=CONTEXT)
@click.argument("name")
@click.option("--yes", is_flag=True, help="Delete it even though runs, models, chats or results use it.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def models_rm(obj: Ctx, name, yes, as_json) -> None:
    """Delete a model: its row, then its files where the workspace or the Hugging Face cache holds
    them (a folder of your own that you added stays where it is). Refused, with what uses it
    named, unless --yes.

    \b
    Examples:
      nastavnik models rm demo-run3
      nastavnik models rm gemma-3-4b-it --yes
    """
    from core.models.inventory import delete_model

    with obj.store() as store:
        done = delete_model(obj.ws, store, name, confirm=yes)
    if as_json:
        emit_json({"name": done.name, "removed": done.removed, "kept": done.kept})
        return
    click.echo(f"deleted {done.name}" + "".join(f"\n  removed {p}" for p in done.removed)
               + "".join(f"\n  kept {p} (your own folder)" for p in done.kept))


# ---------------------------------------------------------------------------- train


def _config(obj: Ctx, store: Store, base, preset, from_run=None, **overrides):
    from core.train.config import TrainConfig

    if from_run is not None:
        if base is not None or preset is not None:
            raise UserError("--from-run N trains on run N's base with its settings",
                            hint="leave out --base and --preset (pass --lr, --steps … to change the rest)")
        from core.train.runs import config_from_run

        return config_from_run(store, from_run, **overrides)
    if preset is None and base is None:
        preset = "demo"
    if preset:
        cfg = TrainConfig.from_preset(preset)
        if base:
            cfg = cfg.with_(base=base)
    else:
        cfg = TrainConfig(base=base)
        model = store.find_model(base)
        if model is not None and model.meta.get("demo"):
            cfg = TrainConfig.from_preset("demo").with_(base=base)
    return cfg.with_(**{k: v for k, v in overrides.items() if v is not None})


def _print_preview(obj: Ctx, store: Store, cfg, as_json: bool, *, pair_ids: list[int] | None = None) -> None:
    from core.train.dataset import preview, snapshot, template_source
    from core.train.runs import resolve_base
    from core.train.templates import get_template, training_format
    from transformers import AutoTokenizer

    _label, path = resolve_base(store, cfg.base)
    cfg.validate()
    if cfg.preference:
        _print_preference_preview(store, cfg, path, as_json)
        return
    snap = snapshot(store)
    tok = AutoTokenizer.from_pretrained(path)
    source = template_source(tok, get_template(cfg.template) if cfg.template else None)
    pv = preview(tok, source, snap, max_len=cfg.max_seq_len, pair_ids=pair_ids)
    if as_json:
        emit_json({**pv.to_dict(), "dataset_sha256": snap.sha256, "eval_examples": len(snap.eval),
                   "format": training_format(cfg.template, path)})
        return
    click.echo(format_line(cfg.template, path))
    for s in pv.samples:
        click.echo(click.style(f"— pair {s['pair_id']} (trained tokens in green)", bold=True))
        click.echo("".join(click.style(t, fg="green", underline=True) if m else click.style(t, dim=True) for t, m in s["pieces"]))
    click.echo(
        f"{pv.examples} train examples, {len(snap.eval)} eval; {pv.tokens} tokens, {pv.trained_tokens} trained (answers); "
        f"longest {pv.longest} of max {cfg.max_seq_len}; dataset sha256 {snap.sha256[:12]}"
    )
    if pv.truncated:
        click.echo(
            click.style(f"warning: {len(pv.truncated)} pair(s) are longer than {cfg.max_seq_len} tokens and will be cut: ", fg="yellow")
            + ", ".join(map(str, pv.truncated[:20])),
            err=True,
        )


def format_line(template: str, folder) -> str:
    """The chat format a run trains in, as `train --preview` and `runs show` say it."""
    from core.train.templates import training_format

    fmt = training_format(template, folder)
    if fmt["named"]:
        return (f"chat template: {template} ({fmt['turns']}), named with --template in place of the base's own"
                + (f" ({fmt['own']})" if fmt["own"] else ""))
    return "chat template: the base's own" + (f" ({fmt['turns']})" if fmt["turns"] else "")


def _print_preference_preview(store: Store, cfg, path: str, as_json: bool) -> None:
    """A preference pair as DPO/ORPO get it: the prompt, the chosen and the rejected answer,
    rendered with the run's chat template and decoded from the very token ids the trainer gets."""
    from transformers import AutoTokenizer

    from core.train.dataset import template_source
    from core.train.preference_data import preview, snapshot
    from core.train.templates import get_template, training_format

    snap = snapshot(store)
    tok = AutoTokenizer.from_pretrained(path)
    source = template_source(tok, get_template(cfg.template) if cfg.template else None)
    pv = preview(tok, source, snap, max_len=cfg.max_seq_len)
    if as_json:
        emit_json({**pv.to_dict(), "method": cfg.method, "dataset_sha256": snap.sha256,
                   "format": training_format(cfg.template, path)})
        return
    click.echo(format_line(cfg.template, path))
    for s in pv.samples:
        click.echo(click.style(f"— preference {s['preference_id']}: the prompt (dim), the chosen answer (green), "
                               "the rejected answer (red) — the tokens the trainer gets", bold=True))
        click.echo(click.style(s["prompt"], dim=True))
        click.echo(click.style("chosen:   ", bold=True) + click.style(s["chosen"], fg="green"))
        click.echo(click.style("rejected: ", bold=True) + click.style(s["rejected"], fg="red"))
    click.echo(f"{pv.examples} preference pairs for {cfg.method}; {pv.tokens} tokens; longest {pv.longest} of max "
               f"{cfg.max_seq_len}; dataset sha256 {snap.sha256[:12]}")
    if pv.truncated:
        click.echo(click.style(f"warning: {len(pv.truncated)} pair(s) are longer than {cfg.max_seq_len} tokens; their answers "
                               "will be cut: ", fg="yellow") + ", ".join(map(str, pv.truncated[:20])), err=True)
    if pv.dropped:
        click.echo(click.style(f"warning: {len(pv.dropped)} pair(s) have a prompt longer than {cfg.max_seq_len} tokens and "
                               "are left out: ", fg="yellow") + ", ".join(map(str, pv.dropped[:20])), err=True)


def _run_event(run):
    """A run's state as the one progress event: its status, step of steps, loss and ETA."""
    from core.progress import ProgressEvent
    from core.train.runs import eta_s

    eta = eta_s(run)
    eta_text = f" ETA {int(eta // 60)}:{int(eta % 60):02d}" if eta is not None else ""
    loss = f"loss {run.loss:.4f}" if run.loss is not None else ""
    return ProgressEvent(run.status, run.step, run.max_steps or None, (loss + eta_text).strip(),
                         {"loss": run.loss} if run.loss is not None else {})


def _last_margin(obj: Ctx, run) -> str:
    """``, margin 1.234, accuracy 1.00`` from a preference run's last logged step."""
    if run.method == "sft":
        return ""
    with obj.store() as store:
        last = next((m for m in reversed(store.run_metrics(run.id)) if m.margin is not None), None)
    if last is None:
        return ""
    return f", margin {last.margin:.3f}" + (f", accuracy {last.accuracy:.2f}" if last.accuracy is not None else "")


def _follow(obj: Ctx, run_id: int) -> int:
    from core.train.runs import wait

    last = {"step": -1, "status": None}
    with ProgressPrinter() as progress:

        def show(run):
            if run.step != last["step"] or run.status != last["status"]:
                last.update(step=run.step, status=run.status)
                progress(_run_event(run))

        try:
            run = wait(obj.ws, run_id, timeout=float("inf"), poll=1.0, on_update=show)
        except KeyboardInterrupt:
            progress.close()
            click.echo(f"stopped following; run {run_id} goes on (`nastavnik runs logs {run_id} --follow`)", err=True)
            return 0
    if run.status == "done":
        losses = "".join(f", {name} {value:.4f}" for name, value in (("loss", run.loss), ("eval loss", run.eval_loss)) if value is not None)
        click.echo(f"run {run.id} done: {run.step} steps{losses}{_last_margin(obj, run)}; adapter {run.adapter_path}")
        return 0
    raise UserError(f"run {run.id} {run.status}: {run.error or ''}".rstrip(": "), hint=f"`nastavnik runs logs {run.id}` shows why")


@click.command(context_settings=CONTEXT)
@click.option("--base", help=field_help("base"))
@click.option("--preset", type=click.Choice(list(PRESETS)), help=field_help("preset"))
@click.option("--backend", type=click.Choice(list(BACKENDS)), help=field_help("backend"))
@click.option("--template", type=click.Choice(list(TEMPLATES)), help=field_help("template"))
@click.option("--load-in-4bit/--no-load-in-4bit", "load_in_4bit", default=None, help=field_help("load_in_4bit"))
@click.option("--dtype", type=click.Choice(list(DTYPES)), help=field_help("dtype"))
@click.option("--epochs", type=float, help=field_help("epochs"))
@click.option("--steps", "max_steps", type=int, help=field_help("max_steps"))
@click.option("--lr", type=float, help=field_help("lr"))
@click.option("--lora-r", type=int, help=field_help("lora_r"))
@click.option("--lora-alpha", type=int, help=field_help("lora_alpha"))
@click.option("--max-seq-len", type=int, help=field_help("max_seq_len"))
@click.option("--batch-size", type=int, help=field_help("batch_size"))
@click.option("--grad-accum", type=int, help=field_help("grad_accum"))
@click.option("--save-steps", type=int, help=field_help("save_steps"))
@click.option("--eval-steps", type=int, help=field_help("eval_steps"))
@click.option("--answer-eval-max", type=int, help=field_help("answer_eval_max"))
@click.option("--best-metric", type=click.Choice(list(BEST_METRICS)), help=field_help("best_metric"))
@click.option("--early-stop-patience", type=int, help=field_help("early_stop_patience"))
@click.option("--judge", metavar="NAME", help=field_help("judge"))
@click.option("--packing/--no-packing", default=None, help=field_help("packing"))
@click.option("--group-by-length/--no-group-by-length", default=None, help=field_help("group_by_length"))
@click.option("--gpus", "num_gpus", type=int, help=field_help("num_gpus"))
@click.option("--processes", "num_processes", type=int, help=field_help("num_processes"))
@click.option("--seed", type=int, help=field_help("seed"))
@click.option("--method", type=click.Choice(list(METHODS)), help=field_help("method"))
@click.option("--from-run", "from_run", type=int, metavar="N", help=field_help("from_run"))
@click.option("--beta", type=float, help=field_help("beta"))
@click.option("--sft-weight", "sft_weight", type=float, help=field_help("sft_weight"))
@click.option("--preview", is_flag=True, help="Show formatted examples with trained tokens marked (a preference pair for dpo/orpo); do not train.")
@click.option("--pairs", "preview_pairs", help="With --preview: show these pairs, e.g. 3,7-9 (default: the first three).")
@click.option("--detach", is_flag=True, help="Start and return; the run goes on in the background.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON (implies --detach).")
@pass_ctx
def train(obj: Ctx, base, preset, backend, template, load_in_4bit, dtype, epochs, max_steps, lr, lora_r, lora_alpha, max_seq_len,
          batch_size, grad_accum, save_steps, eval_steps, answer_eval_max, best_metric, early_stop_patience, judge, packing, group_by_length, num_gpus, num_processes, seed, method, from_run, beta, sft_weight, preview,
          preview_pairs, detach, as_json) -> None:
    """Fine-tune a LoRA adapter on the approved pairs (SFT) or the preference pairs (DPO, ORPO),
    in a background worker.

    The run survives closing the terminal or losing SSH; `nastavnik runs …` finds it again.
    A DPO/ORPO run trains on every preference pair (each correction records one); with
    --from-run N it starts from run N's adapter and exports into N's base.

    \b
    Examples:
      nastavnik train --preset demo --steps 30          # follow it until done
      nastavnik train --preset gemma3-4b --epochs 2 --detach --json
      nastavnik train --preview                          # what the model will learn
      nastavnik train --preview --json --pairs 3,7-9     # the exact text and trained substrings
      nastavnik train --backend unsloth --base demo-gemma3 --load-in-4bit --steps 10
      nastavnik train --method dpo --from-run 3 --steps 40   # DPO on the corrections, on top of SFT run 3
      nastavnik train --method orpo --preset demo --preview   # a preference pair as ORPO sees it
      nastavnik train --eval-steps 20 --early-stop-patience 3  # keep the best checkpoint by its answers' chrF
      nastavnik train --eval-steps 20 --judge judge-q8_0 --best-metric judge   # … or by a judge's scores
    """
    from core.train.runs import start_run

    with obj.store() as store:
        cfg = _config(obj, store, base, preset, from_run=from_run, backend=backend, template=template, epochs=epochs,
                      max_steps=max_steps, lr=lr, lora_r=lora_r, lora_alpha=lora_alpha, max_seq_len=max_seq_len,
                      batch_size=batch_size, grad_accum=grad_accum, save_steps=save_steps, eval_steps=eval_steps,
                      answer_eval_max=answer_eval_max, best_metric=best_metric, early_stop_patience=early_stop_patience, judge=judge, packing=packing, group_by_length=group_by_length,
                      num_gpus=num_gpus,
                      num_processes=num_processes, seed=seed, load_in_4bit=load_in_4bit, dtype=dtype, method=method, beta=beta,
                      sft_weight=sft_weight)
        if preview_pairs and not preview:
            raise UserError("--pairs goes with --preview", hint="nastavnik train --preview --pairs 3,7-9")
        if preview:
            _print_preview(obj, store, cfg, as_json, pair_ids=parse_ids((preview_pairs,)) if preview_pairs else None)
            return
        run = start_run(obj.ws, cfg, store=store)
    if as_json:
        emit_json(run.to_dict())
        return
    what = f"{run.train_pairs} preference pairs, {run.method}" if run.method != "sft" else f"{run.train_pairs} train pairs"
    click.echo(f"run {run.id} started (dataset {run.dataset_sha256[:12]}, {what}); log: {run.run_dir}/train.log")
    if detach:
        click.echo(f"follow it with `nastavnik runs logs {run.id} --follow`")
        return
    code = _follow(obj, run.id)
    if code:
        raise SystemExit(code)


# ---------------------------------------------------------------------------- runs


@click.group(context_settings=CONTEXT)
def runs() -> None:
    """Training runs: list, inspect, follow, cancel, resume.

    \b
    Examples:
      nastavnik runs list
      nastavnik runs show 3 --json
      nastavnik runs logs 3 --follow
      nastavnik runs cancel 3
      nastavnik runs resume 3      # after a crash or kill: from the last checkpoint
      nastavnik runs diff 3 5      # what changed in the data and settings from run 3 to run 5
    """


def _run_json(store: Store, run) -> dict:
    from core.train.answer_eval import read_evals
    from core.train.runs import run_checkpoints, run_paths

    d = run.to_dict()
    d["metrics"] = [m.to_dict() for m in store.run_metrics(run.id)]
    d["checkpoints"] = run_checkpoints(run)  # the steps `export RUN --checkpoint N` can take
    d["evals"] = read_evals(run_paths(run).evals) if run.run_dir else []
    return d


@runs.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def runs_list(obj: Ctx, as_json) -> None:
    """All runs, newest first."""
    from core.train.runs import refresh

    with obj.store() as store:
        refresh(store)
        rows = store.list_runs()
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    if not rows:
        click.echo("no runs yet — `nastavnik train` starts one")
    for r in rows:
        loss = f"loss {r.loss:.4f}" if r.loss is not None else ""
        click.echo(f"{r.id:>3} {r.status:<11} {r.base:<20} step {r.step}/{r.max_steps or '?'} {loss:<13} data {str(r.dataset_sha256)[:12]} {r.created[:19]}")


@runs.command("show", context_settings=CONTEXT)
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def runs_show(obj: Ctx, run_id, as_json) -> None:
    """One run with its settings and metrics."""
    from core.train.runs import refresh

    with obj.store() as store:
        refresh(store)
        data = _run_json(store, store.get_run(run_id))
    if as_json:
        emit_json(data)
        return
    for key in ("id", "status", "method", "from_run", "base", "preset", "backend", "dataset_sha256", "train_pairs", "eval_pairs",
                "step", "max_steps", "loss", "eval_loss", "best_step", "best_value", "checkpoints", "adapter_path", "error", "created", "started", "finished", "run_dir"):
        if data.get(key) is not None:
            click.echo(f"{key:>15}: {data[key]}")
    config = data.get("config") or {}
    base_dir = Path(str(config["base"])) if config.get("base") else None
    click.echo(f"{'template':>15}: " + format_line(config.get("template") or "", base_dir if base_dir and base_dir.is_dir() else None)
               .removeprefix("chat template: "))
    if data.get("setup", {}).get("reference"):
        click.echo(f"{'reference':>15}: {data['setup']['reference']}")
    metrics = data["metrics"]
    fmt = lambda v, f: (f.format(v) if v is not None else "-")  # noqa: E731
    if metrics and data["method"] != "sft":
        click.echo("   step      loss    margin  accuracy    chosen  rejected")
        for m in metrics[-10:]:
            click.echo(f"{m['step']:>7} {fmt(m['loss'], '{:9.4f}'):>9} {fmt(m['margin'], '{:9.4f}'):>9} {fmt(m['accuracy'], '{:9.2f}'):>9}"
                       f" {fmt(m['reward_chosen'], '{:9.4f}'):>9} {fmt(m['reward_rejected'], '{:9.4f}'):>9}")
    elif metrics:
        judged = any(m.get("judge") is not None for m in metrics)
        click.echo("   step      loss        lr  grad_norm  tokens/s eval_loss      chrF" + ("     judge" if judged else ""))
        for m in metrics[-10:]:
            click.echo(f"{m['step']:>7} {fmt(m['loss'], '{:9.4f}'):>9} {fmt(m['lr'], '{:9.2e}'):>9} {fmt(m['grad_norm'], '{:10.3f}'):>10} {fmt(m['tokens_per_s'], '{:9.0f}'):>9}"
                       f" {fmt(m['eval_loss'], '{:9.4f}'):>9} {fmt(m['chrf'], '{:9.2f}'):>9}"
                       + (f" {fmt(m.get('judge'), '{:9.2f}'):>9}" if judged else ""))


def _short(text: str, width: int = 60) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _echo_diff(diff) -> None:
    """A run diff as text: one section per kind of change, each pair as ``#id question``."""
    click.echo(f"run {diff.a} → run {diff.b}")
    if not diff.complete:
        click.echo("(a snapshot from before status, tags and reasons were kept: those show as unknown)")
    if diff.empty:
        click.echo("no changes in the data or the settings")
    if diff.settings:
        click.echo(f"settings ({len(diff.settings)}):")
        for c in diff.settings:
            click.echo(f"  {c.key}: {c.old!r} → {c.new!r}")
    if diff.kind_a != diff.kind_b:
        click.echo(f"run {diff.a} trained on {diff.kind_a}, run {diff.b} on {diff.kind_b}: their data is not compared")
    for noun, data in (("pairs", diff.pairs), ("preference pairs", diff.preferences)):
        if data is None:
            continue
        if not data.empty:
            click.echo(f"{noun}:")
        for item in data.added:
            click.echo(f"  + #{item.id} {_short(item.question)}  (added; was {item.before or 'unknown'})")
        for item in data.removed:
            click.echo(f"  - #{item.id} {_short(item.question)}  (removed: {item.reason or 'unknown'})")
        for item in data.edited:
            click.echo(f"  ~ #{item.id} {_short(item.question)}  (edited: {', '.join(c.field for c in item.changes)})")
            for change in item.changes:
                click.echo(f"      {change.field}:")
                for line in change.diff:
                    click.echo(f"      {line}")
        for item in getattr(data, "status", []):
            click.echo(f"  * #{item.id} {_short(item.question)}  (status: {item.old} → {item.new})")
        for item in getattr(data, "moved", []):
            click.echo(f"  > #{item.id} {_short(item.question)}  (split: {item.old} → {item.new})")
        for item in getattr(data, "tags", []):
            tags = " ".join([f"+{t}" for t in item.added] + [f"-{t}" for t in item.removed])
            click.echo(f"  # #{item.id} {_short(item.question)}  (tags: {tags})")
        if data.empty:
            click.echo(f"no changes in the {noun}")


@runs.command("diff", context_settings=CONTEXT)
@click.argument("run_a", type=int)
@click.argument("run_b", type=int, required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def runs_diff(obj: Ctx, run_a, run_b, as_json) -> None:
    """What changed from run A to run B: pairs added, removed (and why), edited (with the text
    diff), status changes, moves between splits, tag changes, settings; for preference runs the
    preference pairs. Without B: run A against the run before it.

    \b
    Examples:
      nastavnik runs diff 3 5
      nastavnik runs diff 5 --json      # run 5 against the run before it
    """
    from core.train.run_diff import compare_runs

    with obj.store() as store:
        diff = compare_runs(store, run_a, run_b)
    if as_json:
        emit_json(diff.to_dict())
        return
    _echo_diff(diff)


@runs.command("logs", context_settings=CONTEXT)
@click.argument("run_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends; exit 0 only if it ended done.")
@pass_ctx
def runs_logs(obj: Ctx, run_id, follow) -> None:
    """The worker's log (train.log).

    \b
    With --follow it prints new lines as the run writes them and returns when the run ends:
    exit 0 when it is done, 2 (with the reason) when it failed, was cancelled or interrupted,
    so `nastavnik runs logs 3 --follow && nastavnik export 3` stops on a broken run.
    Ctrl-C stops following; the run goes on.
    """
    from core.train.runs import follow as follow_run

    with obj.store() as store:
        run = store.get_run(run_id)
        log = Path(run.run_dir or obj.ws.runs_dir / str(run_id)) / "train.log"
        if not log.exists():
            raise UserError(f"run {run_id} has no log yet ({log})")
        with log.open("r", encoding="utf-8", errors="replace") as fh:
            try:
                if not follow:
                    click.echo(fh.read(), nl=False)
                    return
                for run in follow_run(store, run_id):  # the last one has ended: what the worker wrote before it is read
                    click.echo(fh.read(), nl=False)
            except KeyboardInterrupt:
                click.echo(f"\nstopped following; run {run_id} goes on", err=True)
                return
    if run.status != "done":
        raise UserError(f"run {run_id} {run.status}: {run.error or ''}".rstrip(": "), hint=f"`nastavnik runs show {run_id}` has its last metrics")


def _cancel_run(ws, run_id: int):
    from core.train.runs import cancel_run

    return cancel_run(ws, run_id)


cancel_command(runs, "cancel", "run_id", "Stop a run (it saves a checkpoint first, so `runs resume` can continue it).",
               _cancel_run, lambda run: f"run {run.id} {run.status} at step {run.step}")


@runs.command("resume", context_settings=CONTEXT)
@click.argument("run_id", type=int)
@click.option("--detach", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def runs_resume(obj: Ctx, run_id, detach, as_json) -> None:
    """Continue an interrupted, failed or cancelled run from its last checkpoint."""
    from core.train.runs import resume_run

    run = resume_run(obj.ws, run_id)
    if as_json:
        emit_json(run.to_dict())
        return
    click.echo(f"run {run.id} resumed")
    if not detach:
        code = _follow(obj, run.id)
        if code:
            raise SystemExit(code)
