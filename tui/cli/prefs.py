"""``nastavnik prefs …``: the preference pairs every correction records — list, show, remove,
restore, history, import and export (TRL and LLaMA-Factory)."""

from __future__ import annotations

from typing import Callable

import click

from core.store import Store
from tui.cli import CONTEXT, Ctx, emit_json, history_command, parse_ids, pass_ctx, undo_command

KIND = click.Choice(["chat", "eval", "compare", "import"])


def register(cli: click.Group) -> None:
    cli.add_command(prefs)


@click.group(context_settings=CONTEXT)
def prefs() -> None:
    """Preference pairs: a prompt, the answer a person chose and the one they rejected.

    Every correction (`nastavnik correct`, Chat and Evaluate in the app) records one: the
    model's answer is rejected, the correction chosen. Picking the better of two models'
    answers in a side-by-side chat records one too. They share the pairs' trash and undo
    (`nastavnik pairs undo` takes back the last change to either).

    \b
    Examples:
      nastavnik prefs list --model run-3-q8_0
      nastavnik prefs show 4 --json
      nastavnik prefs export prefs.jsonl           # TRL: prompt/chosen/rejected messages
      nastavnik prefs export lf_data/              # LLaMA-Factory ranking dataset
      nastavnik prefs import dpo.jsonl
    """


def _filter(model=None, run=None, kind=None, search=None, trash=False):
    from core.store import PreferenceFilter

    return PreferenceFilter(model=model, run_id=run, kind=kind, query=search, trash=trash)


def _one_line(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _print_pref(p, *, full: bool = True) -> None:
    who = p.model or "?"
    if p.chosen_model:
        who += f" vs {p.chosen_model}"
    run = f" run {p.run_id}" if p.run_id is not None else ""
    click.echo(f"#{p.id} {p.kind} {who}{run}" + (" (in trash)" if p.deleted else "") + f"  {p.source or '-'}")
    if not full:
        click.echo(f"  prompt:   {_one_line(p.prompt)}")
        click.echo(f"  chosen:   {_one_line(p.chosen)}")
        click.echo(f"  rejected: {_one_line(p.rejected)}")
        return
    if p.system:
        click.echo(f"  system:   {p.system}")
    for turn in p.context:
        click.echo(f"  {turn.get('role', '?')}: {turn.get('content', '')}")
    click.echo(f"  prompt:   {p.prompt}")
    click.echo(f"  chosen:   {p.chosen}" + ("" if p.chosen_model else "   (written by a person)"))
    click.echo(f"  rejected: {p.rejected}")
    if p.pair_id is not None:
        click.echo(f"  pair:     #{p.pair_id}")


def _filter_options(fn):
    for opt in reversed([
        click.option("--model", help="Only preferences with this model (rejected or chosen)."),
        click.option("--run", type=int, help="Only preferences from models of this training run."),
        click.option("--kind", type=KIND, help="What made them: a chat correction, an eval correction, "
                     "a side-by-side pick, or an import."),
        click.option("--search", help="Only preferences whose prompt or answers contain every word."),
    ]):
        fn = opt(fn)
    return fn


@prefs.command("list", context_settings=CONTEXT)
@_filter_options
@click.option("--trash", is_flag=True, help="List the trash instead.")
@click.option("--desc", is_flag=True, help="Newest first.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many (default: all).")
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of preferences.")
@pass_ctx
def list_(obj: Ctx, model, run, kind, search, trash, desc, limit, offset, as_json) -> None:
    """List preference pairs, filtered.  Example: nastavnik prefs list --kind chat --json"""
    with obj.store() as store:
        found = store.list_preferences(_filter(model, run, kind, search, trash), desc=desc, offset=offset, limit=limit)
    if as_json:
        emit_json([p.to_dict() for p in found])
        return
    for p in found:
        _print_pref(p, full=False)
    if not found:
        click.echo("no preferences match" if (model or run or kind or search or trash) else
                   "no preferences yet: correct an answer (`nastavnik correct`) to record one", err=True)


@prefs.command(context_settings=CONTEXT)
@click.argument("ids", nargs=-1, required=True)
@click.option("--trl", is_flag=True, help="Print each as the trainer reads it (TRL's prompt/chosen/rejected).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(obj: Ctx, ids, trl, as_json) -> None:
    """Show preference pairs in full.  Example: nastavnik prefs show 4 7-9"""
    with obj.store() as store:
        found = store.get_preferences(parse_ids(ids))
    if trl:
        emit_json([p.to_trl() for p in found])
        return
    if as_json:
        emit_json([p.to_dict() for p in found])
        return
    for p in found:
        _print_pref(p)
        click.echo(f"  updated {p.updated}")


def _trash_command(name: str, method: Callable[[Store, list[int]], int], past: str, help_text: str):
    @prefs.command(name, help=help_text, context_settings=CONTEXT)
    @click.argument("ids", nargs=-1, required=True)
    @pass_ctx
    def command(obj: Ctx, ids) -> None:
        with obj.store() as store:
            n = method(store, parse_ids(ids))
        click.echo(f"{past} {n} preference" + ("" if n == 1 else "s"))

    return command


_trash_command("rm", Store.delete_preferences, "moved to trash:",
               "Move preference pairs to the trash (`prefs restore` or `pairs undo` brings them back).  "
               "Example: nastavnik prefs rm 4 7-9")
_trash_command("restore", Store.restore_preferences, "restored:", "Bring preference pairs back from the trash.  "
               "Example: nastavnik prefs restore 4")


def _echo_revision(r) -> None:
    state = "did not exist" if not r.existed else ("in trash" if r.deleted else "live")
    click.echo(f"rev {r.id}  {r.created}  {r.summary or r.action}  (before: {state})")


history_command(prefs, "preference_id", "Every change to a preference pair, oldest first (the state before each).",
                lambda store, pref_id: (store.preference_history(pref_id), store.get_preference(pref_id)),
                _echo_revision, _print_pref)


undo_command(prefs, "Undo the last change to pairs or preferences (the same as `pairs undo`).")


@prefs.command("import", context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option("--format", "fmt", type=click.Choice(["trl", "llamafactory"]),
              help="Force how records are read (default: from dataset_info.json or the records' keys).")
@click.option("--encoding", help="Text encoding, e.g. cp1251 (default: detected).")
@click.option("--skip-bad", type=click.Path(dir_okay=False, path_type=str),
              help="Import the good records; write the bad ones with reasons to this JSONL file.")
@click.option("--keep-duplicates", is_flag=True, help="Import preferences even when the store has them already.")
@click.option("--json", "as_json", is_flag=True, help='Print {"imported": N, "duplicates": N, "rejected": N}.')
@pass_ctx
def import_(obj: Ctx, files, fmt, encoding, skip_bad, keep_duplicates, as_json) -> None:
    """Import preference pairs: TRL JSONL (prompt/chosen/rejected, as messages or text, or
    two conversations with an implicit prompt) or a LLaMA-Factory ranking dataset (its
    dataset_info.json, its folder, or a data file in alpaca or sharegpt ranking layout).

    A file with a bad record imports nothing and names the file, line and field.

    \b
    Examples:
      nastavnik prefs import dpo.jsonl
      nastavnik prefs import LLaMA-Factory/data/dataset_info.json --json
    """
    from core.formats.prefs_io import import_preferences

    with obj.store() as store:
        counts = import_preferences(store, files, fmt=fmt, encoding=encoding, skip_bad=skip_bad,
                                    skip_duplicates=not keep_duplicates)
    if as_json:
        emit_json(counts.to_dict())
        return
    click.echo(f"imported {counts.imported}, skipped {counts.duplicates} duplicate(s), rejected {counts.rejected}")
    for example in counts.duplicate_examples[:5]:
        click.echo(f"  duplicate: {example}", err=True)


@prefs.command(context_settings=CONTEXT)
@click.argument("out", type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["trl", "llamafactory"]),
              help="trl (JSONL) or llamafactory (a folder with dataset_info.json); default: from OUT.")
@_filter_options
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def export(obj: Ctx, out, fmt, model, run, kind, search, as_json) -> None:
    """Write the preference pairs for a trainer: TRL conversational JSONL (DPOTrainer,
    ORPOTrainer) or a LLaMA-Factory folder (sharegpt ranking data + dataset_info.json).

    \b
    Examples:
      nastavnik prefs export prefs.jsonl
      nastavnik prefs export lf_data --format llamafactory   # dataset: nastavnik_preferences
    """
    from core.formats.prefs_io import export_preferences

    with obj.store() as store:
        n = export_preferences(store, out, fmt=fmt, flt=_filter(model, run, kind, search))
    if as_json:
        emit_json({"exported": n, "path": out})
    else:
        click.echo(f"exported {n} preference" + ("" if n == 1 else "s") + f" to {out}")
    if n == 0 and not as_json:
        click.echo("the file holds no preferences: none match" if (model or run or kind or search) else
                   "the file holds no preferences: correct an answer (`nastavnik correct`) to record one", err=True)
