"""``nastavnik pairs …``: write, find, clean, split, import and export question–answer pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import click

from core.errors import UserError
from core.store import SPLITS, STATUSES, Store
from core.text import split_tags
from tui.cli import CONTEXT, Ctx, ProgressPrinter, emit_json, history_command, parse_ids, pass_ctx, undo_command

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace

STATUS = click.Choice(STATUSES)
SPLIT = click.Choice(SPLITS)


def register(cli: click.Group) -> None:
    cli.add_command(pairs)


@click.group(context_settings=CONTEXT)
def pairs() -> None:
    """Write, find, clean, split, import and export question–answer pairs.

    \b
    Examples:
      nastavnik pairs add -q "Что такое LoRA?" -a "Способ дообучения…" -t основы
      nastavnik pairs list --status draft --json
      nastavnik pairs approve 12 15-20
      nastavnik pairs split --eval-fraction 0.1 --seed 42
    """


def _print_pair(p, *, full: bool = True) -> None:
    tags = f" [{', '.join(p.tags)}]" if p.tags else ""
    deleted = " (in trash)" if p.deleted else ""
    click.echo(f"#{p.id} {p.status}/{p.split}{tags}{deleted}")
    if p.system:
        click.echo(f"  system:   {p.system}")
    for turn in p.context:
        click.echo(f"  {turn.get('role', '?')}: {turn.get('content', '')}")
    if full:
        click.echo(f"  question: {p.question}")
        click.echo(f"  answer:   {p.answer}")
    else:
        q = p.question.replace("\n", " ")
        a = p.answer.replace("\n", " ")
        click.echo(f"  Q: {q[:100]}")
        click.echo(f"  A: {a[:100]}")


@pairs.command(context_settings=CONTEXT)
@click.option("-q", "--question", required=True, help="The question (the user's turn).")
@click.option("-a", "--answer", required=True, help="The answer the model should learn.")
@click.option("-s", "--system", help="Optional system prompt.")
@click.option("-t", "--tag", "tags", multiple=True, help="A tag; repeat for more.")
@click.option("--status", type=STATUS, default="draft", show_default=True)
@click.option("--split", type=SPLIT, default="train", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the new pair as JSON.")
@pass_ctx
def add(obj: Ctx, question, answer, system, tags, status, split, as_json) -> None:
    """Add one pair.

    \b
    Example:
      nastavnik pairs add -q "Что такое эпоха?" -a "Один проход по всем данным." -t основы
    """
    with obj.store() as store:
        if store.find_duplicate(question, answer):
            raise UserError("this pair is already in the store", hint="`nastavnik pairs search` finds it")
        pair = store.add_pair(question, answer, system=system, tags=tags, status=status, split=split, source="cli")
    if as_json:
        emit_json(pair.to_dict())
    else:
        click.echo(f"added pair {pair.id}")


@pairs.command(context_settings=CONTEXT)
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(obj: Ctx, ids, as_json) -> None:
    """Show pairs in full.  Example: nastavnik pairs show 12 15-17"""
    with obj.store() as store:
        found = store.get_pairs(parse_ids(ids))
    if as_json:
        emit_json([p.to_dict() for p in found])
    else:
        for p in found:
            _print_pair(p)
            click.echo(f"  source:   {p.source or '-'}   updated {p.updated}")
            if p.teacher:
                click.echo(f"  teacher:  {p.teacher}, " + ("edited by a person" if p.edited else "as drafted"))


def _filter(status, split, tag, query=None, trash=False):
    from core.store import PairFilter

    return PairFilter(status=status, split=split, tag=tag, query=query, trash=trash)


@pairs.command("list", context_settings=CONTEXT)
@click.option("--status", type=STATUS, help="Only pairs with this status.")
@click.option("--split", type=SPLIT, help="Only pairs in this split.")
@click.option("--tag", help="Only pairs with this tag.")
@click.option("--trash", is_flag=True, help="List the trash instead.")
@click.option("--sort", default="id", show_default=True, help="id, updated, created, status, split, question, answer.")
@click.option("--desc", is_flag=True, help="Newest / largest first.")
@click.option("--limit", type=int, default=None, help="At most this many (default: all).")
@click.option("--offset", type=int, default=0)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of pairs.")
@pass_ctx
def list_(obj: Ctx, status, split, tag, trash, sort, desc, limit, offset, as_json) -> None:
    """List pairs, filtered.  Example: nastavnik pairs list --status approved --split eval --json"""
    with obj.store() as store:
        found = store.list_pairs(_filter(status, split, tag, trash=trash), order=sort, desc=desc, offset=offset, limit=limit)
    if as_json:
        emit_json([p.to_dict() for p in found])
        return
    for p in found:
        _print_pair(p, full=False)
    if not found:
        click.echo("no pairs match", err=True)


@pairs.command(context_settings=CONTEXT)
@click.argument("query")
@click.option("--status", type=STATUS)
@click.option("--split", type=SPLIT)
@click.option("--tag")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def search(obj: Ctx, query, status, split, tag, limit, as_json) -> None:
    """Find pairs whose question or answer contains every word of QUERY.

    Matches parts of words, ignores case and treats ё as е:
    "обуч" finds "Обучение", "елка" finds "ёлка".
    """
    with obj.store() as store:
        flt = _filter(status, split, tag, query=query)
        found = store.list_pairs(flt, order="updated", desc=True, limit=limit)
        total = store.count_pairs(flt)
    if as_json:
        emit_json([p.to_dict() for p in found])
        return
    for p in found:
        _print_pair(p, full=False)
    click.echo(f"{total} match" + ("" if total == 1 else "es") + (f", showing {len(found)}" if total > len(found) else ""), err=True)


EDIT_SECTIONS = ("question", "answer", "system", "tags")


def _edit_doc(p) -> str:
    """The pair as a text document for $EDITOR or --file; ``_parse_doc`` reads it back."""
    lines = [
        f"# Pair {p.id} · {p.status} · {p.split}. Edit the text under each === line, save and close.",
        "# Lines starting with # above the first === line are ignored; tags are comma separated.",
        f"# version: {p.updated}",
    ]
    for key in EDIT_SECTIONS:
        value = ", ".join(p.tags) if key == "tags" else (getattr(p, key) or "")
        lines += [f"=== {key} ===", value]
    return "\n".join(lines) + "\n"


def _parse_doc(text: str, where: str) -> tuple[dict, str | None]:
    """(values, version) from a document ``_edit_doc`` wrote and a person edited."""
    version = None
    sections: dict[str, list[str]] = {}
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        head = line.strip()
        if head.startswith("===") and head.endswith("===") and len(head) > 6:
            current = head.strip("= ").lower()
            if current not in EDIT_SECTIONS:
                raise UserError(
                    f"{where}, line {n}: unknown section {current!r}", hint="the sections are: " + ", ".join(EDIT_SECTIONS)
                )
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif head.startswith("# version:"):
            version = head.split(":", 1)[1].strip() or None
        elif head and not head.startswith("#"):
            raise UserError(f"{where}, line {n}: text before the first === line", hint="put it under === question === or === answer ===")
    missing = [k for k in ("question", "answer") if k not in sections]
    if missing:
        raise UserError(f"{where} has no === {missing[0]} === section", hint="keep the === lines the editor started with")
    values = {k: "\n".join(v).strip("\n") for k, v in sections.items()}
    out = {"question": values["question"], "answer": values["answer"]}
    if "system" in values:
        out["system"] = values["system"].strip()
    if "tags" in values:
        out["tags"] = split_tags(values["tags"])
    return out, version


def _keep_edit(ws: Workspace, pair_id: int, text: str):
    """Write an edit that could not be saved where the user will find it; returns the path."""
    from core.store.base import now

    folder = ws.home / "edits"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now()[:19].replace(":", "-")
    n = 1
    path = folder / f"pair-{pair_id}-{stamp}.txt"
    while path.exists():  # never write over an earlier kept edit
        n += 1
        path = folder / f"pair-{pair_id}-{stamp}-{n}.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pairs.command(context_settings=CONTEXT)
@click.argument("pair_id", type=int)
@click.option("-q", "--question")
@click.option("-a", "--answer")
@click.option("-s", "--system", help="New system prompt; an empty string removes it.")
@click.option("--status", type=STATUS)
@click.option("--split", type=SPLIT)
@click.option("-e", "--editor", "use_editor", is_flag=True, help="Edit question, answer, system prompt and tags in $EDITOR.")
@click.option(
    "--file", "from_file", type=click.Path(dir_okay=False, exists=True), help="Take them from FILE (the text --editor shows)."
)
@click.option("--if-updated", metavar="STAMP", help="Refuse if the pair changed after STAMP (its \"updated\" in show --json).")
@click.option("--force", is_flag=True, help="Save even if the pair was changed elsewhere meanwhile.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def edit(obj: Ctx, pair_id, question, answer, system, status, split, use_editor, from_file, if_updated, force, as_json) -> None:
    """Change a pair; the old text stays in its history.

    With --editor the pair opens in $EDITOR; if someone changes it elsewhere (the app,
    another command, an undo) before you save, nothing is overwritten: the command stops,
    keeps your text in a file and says how to look and how to overwrite (--force).
    A --file with a "# version:" line is checked the same way.

    \b
    Examples:
      nastavnik pairs edit 12 -a "Исправленный ответ."
      nastavnik pairs edit 12 --editor
      nastavnik pairs edit 12 -a "…" --if-updated 2026-11-25T10:00:00.000+00:00
    """
    from core.store import PairChanged

    changes = {k: v for k, v in dict(question=question, answer=answer, system=system, status=status, split=split).items() if v is not None}
    if use_editor and from_file:
        raise UserError("--editor and --file both give the text", hint="use one of them")
    if (use_editor or from_file) and {"question", "answer", "system"} & set(changes):
        raise UserError("--editor and --file give the text themselves", hint="leave out -q, -a and -s")
    if force and if_updated:
        raise UserError("--force and --if-updated contradict each other", hint="use one of them")
    kept_text = None
    expected = if_updated
    with obj.store() as store:
        if use_editor:
            loaded = store.get_pair(pair_id)
            text = click.edit(_edit_doc(loaded), extension=".txt", require_save=True)
            if text is None:
                click.echo(f"pair {pair_id}: the editor closed without saving; nothing changed")
                return
            kept_text = text
            try:
                values, _ = _parse_doc(text, "the edited text")
            except UserError as exc:
                path = _keep_edit(obj.ws, pair_id, text)
                raise UserError(exc.message, hint=f"your text is kept in {path}; fix it there and run "
                                f"`nastavnik pairs edit {pair_id} --file {path}`") from None
            before = {"question": loaded.question, "answer": loaded.answer, "system": loaded.system or "", "tags": loaded.tags}
            if values == before and not changes:
                click.echo(f"pair {pair_id}: nothing changed")
                return
            changes.update(values)
            expected = None if force else loaded
        elif from_file:
            from pathlib import Path

            values, version = _parse_doc(Path(from_file).read_text(encoding="utf-8"), from_file)
            changes.update(values)
            expected = None if force else version
        elif not changes:
            raise UserError("nothing to change", hint="give --question, --answer, --system, --status, --split or --editor")
        try:
            pair = store.update_pair(pair_id, **changes, expected=expected)
        except PairChanged as exc:
            where = ""
            if kept_text is not None:
                path = _keep_edit(obj.ws, pair_id, kept_text)
                where = f"; your edit is kept in {path}"
                retry = f"`nastavnik pairs edit {pair_id} --file {path} --force`"
            elif from_file:
                retry = f"`nastavnik pairs edit {pair_id} --file {from_file} --force`"
            else:
                retry = "the same command with --force"
            if exc.gone:
                hint = f"restore it with `nastavnik pairs restore {pair_id}` and run {retry}, or add it anew with `nastavnik pairs add`"
                if exc.current is None:
                    hint = "add it anew with `nastavnik pairs add`"
            else:
                hint = f"see it with `nastavnik pairs show {pair_id}`; {retry} overwrites it with yours"
            raise UserError(exc.message + where, hint=hint) from None
        except UserError as exc:
            if kept_text is None:
                raise
            path = _keep_edit(obj.ws, pair_id, kept_text)
            raise UserError(exc.message, hint=f"your text is kept in {path}; fix it and run "
                            f"`nastavnik pairs edit {pair_id} --file {path}`") from None
    if as_json:
        emit_json(pair.to_dict())
    else:
        click.echo(f"saved pair {pair.id}")


def _bulk_command(name: str, help_text: str, method: Callable[..., int], arg=None, past: str = ""):
    @pairs.command(name, help=help_text, context_settings=CONTEXT)
    @click.argument("ids", nargs=-1, required=True)
    @pass_ctx
    def command(obj: Ctx, ids) -> None:
        with obj.store() as store:
            n = method(store, parse_ids(ids), arg) if arg is not None else method(store, parse_ids(ids))
        click.echo(f"{past} {n} pair" + ("" if n == 1 else "s"))

    return command


_bulk_command("approve", "Approve pairs for training.  Example: nastavnik pairs approve 3 7-9", Store.set_status, "approved", "approved")
_bulk_command("reject", "Reject pairs (kept, never trained on).  Example: nastavnik pairs reject 4", Store.set_status, "rejected", "rejected")
_bulk_command("rm", "Move pairs to the trash (undo with `pairs restore`).  Example: nastavnik pairs rm 5", Store.delete_pairs, None, "moved to trash")
_bulk_command("restore", "Bring pairs back from the trash.  Example: nastavnik pairs restore 5", Store.restore_pairs, None, "restored")


@pairs.command(context_settings=CONTEXT)
@click.argument("ids", nargs=-1, required=True)
@click.option("-t", "--tag", "tags", multiple=True, required=True, help="Tag to add (or remove); repeat for more.")
@click.option("--remove", is_flag=True, help="Remove the tags instead of adding them.")
@pass_ctx
def tag(obj: Ctx, ids, tags, remove) -> None:
    """Add or remove tags.  Example: nastavnik pairs tag 3 7-9 -t основы -t lora"""
    with obj.store() as store:
        n = (store.remove_tags if remove else store.add_tags)(parse_ids(ids), tags)
    click.echo(f"{'untagged' if remove else 'tagged'} {n} pair" + ("" if n == 1 else "s"))


@pairs.command(context_settings=CONTEXT)
@click.argument("ids", nargs=-1)
@click.option("--to", "target", type=SPLIT, help="Move the given pairs to this split.")
@click.option("--eval-fraction", type=float, help="Randomly put this share of pairs in eval, the rest in train.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --eval-fraction (same seed, same split).")
@click.option("--status", type=STATUS, help="With --eval-fraction: only pairs with this status.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def split(obj: Ctx, ids, target, eval_fraction, seed, status, as_json) -> None:
    """Assign pairs to the train or eval split.

    \b
    Examples:
      nastavnik pairs split --eval-fraction 0.1 --seed 42   # random 10% to eval
      nastavnik pairs split 12 15 --to eval                  # these two to eval
    """
    with obj.store() as store:
        if eval_fraction is not None:
            if ids:
                raise UserError("give either ids with --to, or --eval-fraction, not both")
            counts = store.split_random(eval_fraction, seed=seed, flt=_filter(status, None, None))
        elif ids and target:
            n = store.set_split(parse_ids(ids), target)
            counts = {target: n}
        else:
            raise UserError("nothing to split", hint="give --eval-fraction 0.1, or ids with --to eval")
    if as_json:
        emit_json(counts)
    else:
        click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


def _echo_revision(r) -> None:
    if not r.existed:
        click.echo(f"rev {r.id}  {r.created}  (before: pair created by {r.action})")
        return
    click.echo(f"rev {r.id}  {r.created}  before {r.action}: {r.status}/{r.split} [{', '.join(r.tags)}]")
    click.echo(f"  Q: {r.question}")
    click.echo(f"  A: {r.answer}")


history_command(pairs, "pair_id", "Every earlier state of a pair, oldest first; `pairs revert` brings one back.",
                lambda store, pair_id: (store.history(pair_id), store.get_pair(pair_id)), _echo_revision, _print_pair)


@pairs.command(context_settings=CONTEXT)
@click.argument("pair_id", type=int)
@click.argument("revision_id", type=int)
@pass_ctx
def revert(obj: Ctx, pair_id, revision_id) -> None:
    """Bring a pair back to a revision from `pairs history`.  Example: nastavnik pairs revert 12 31"""
    with obj.store() as store:
        store.revert(pair_id, revision_id)
    click.echo(f"pair {pair_id} is back at revision {revision_id}")


undo_command(pairs, "Undo the last change to pairs or preferences (edit, approve, tag, delete, import, correction …).")


@pairs.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def dedup(obj: Ctx, as_json) -> None:
    """List duplicate groups (same question and answer after normalising) and conflicts
    (same question, different answers)."""
    with obj.store() as store:
        report = store.dedup()
    if as_json:
        emit_json(
            {
                "duplicates": [[p.to_dict() for p in g] for g in report.duplicates],
                "conflicts": [[p.to_dict() for p in g] for g in report.conflicts],
            }
        )
        return
    click.echo(f"{len(report.duplicates)} duplicate group(s), {len(report.conflicts)} conflict(s)")
    for group in report.duplicates:
        click.echo("duplicates: " + ", ".join(f"#{p.id}" for p in group) + f"  {group[0].question[:70]!r}")
    for group in report.conflicts:
        click.echo(f"conflict: {group[0].question[:70]!r}")
        for p in group:
            click.echo(f"  #{p.id} {p.status}: {p.answer[:70]!r}")


@pairs.command(context_settings=CONTEXT)
@click.option("--status", type=STATUS)
@click.option("--split", type=SPLIT)
@click.option("--tag")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def stats(obj: Ctx, status, split, tag, as_json) -> None:
    """Counts by status, split and tag, and length percentiles (characters and estimated tokens)."""
    with obj.store() as store:
        data = store.stats(_filter(status, split, tag))
    if as_json:
        emit_json(data)
        return
    click.echo(f"total {data['total']}  (trash {data['trash']})")
    click.echo("status: " + ", ".join(f"{k} {v}" for k, v in data["status"].items()))
    click.echo("split:  " + ", ".join(f"{k} {v}" for k, v in data["split"].items()))
    if data["tags"]:
        click.echo("tags:   " + ", ".join(f"{k} {v}" for k, v in data["tags"].items()))
    for name, pct in data["length"].items():
        click.echo(f"{name:16} p50 {pct['p50']:>6}  p90 {pct['p90']:>6}  p99 {pct['p99']:>6}  max {pct['max']:>6}")


@pairs.command("import", context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option("--format", "fmt", help="Force a format instead of detecting it (see `nastavnik formats`).")
@click.option("--encoding", help="Text encoding, e.g. cp1251 (default: detected).")
@click.option("--skip-bad", type=click.Path(dir_okay=False, path_type=str), help="Import the good rows; write the bad ones with reasons to this JSONL file.")
@click.option("-t", "--tag", "tags", multiple=True, help="Tag every imported pair; repeat for more.")
@click.option("--status", type=STATUS, help="Status for imported pairs (default: as in the file, else draft).")
@click.option("--split", type=SPLIT, help="Split for imported pairs (default: as in the file, else train).")
@click.option("--keep-duplicates", is_flag=True, help="Import pairs even when the store has them already.")
@click.option("--json", "as_json", is_flag=True, help='Print {"imported": N, "duplicates": N, "rejected": N}.')
@pass_ctx
def import_(obj: Ctx, files, fmt, encoding, skip_bad, tags, status, split, keep_duplicates, as_json) -> None:
    """Import pairs from files: messages JSONL, ShareGPT, Alpaca, question/answer JSONL,
    CSV/TSV, Parquet, a `datasets` folder or a LLaMA-Factory dataset_info.json.

    A file with a bad row imports nothing and names the file, line and field; with
    --skip-bad the good rows go in and the bad ones are written out with their reasons.

    \b
    Examples:
      nastavnik pairs import chat.jsonl
      nastavnik pairs import вопросы.csv --encoding cp1251 -t excel
      nastavnik pairs import dump.jsonl --skip-bad rejects.jsonl --json
    """
    from core.formats.pairs_io import import_files

    # not a terminal: no progress lines, the counts line says it all
    with obj.store() as store, ProgressPrinter(quiet=as_json, lines=False) as progress:
        counts = import_files(
            store,
            files,
            fmt=fmt,
            encoding=encoding,
            skip_bad=skip_bad,
            tags=tags,
            status=status,
            split=split,
            skip_duplicates=not keep_duplicates,
            progress=progress,
        )
    if as_json:
        emit_json(counts.to_dict())
    else:
        click.echo(f"imported {counts.imported}, skipped {counts.duplicates} duplicate(s), rejected {counts.rejected}")
        for example in counts.duplicate_examples[:5]:
            click.echo(f"  duplicate: {example}", err=True)
        if skip_bad and counts.rejected:
            click.echo(f"bad rows with reasons: {skip_bad}", err=True)


@pairs.command(context_settings=CONTEXT)
@click.argument("out", type=click.Path(path_type=str))
@click.option("--format", "fmt", help="messages, sharegpt, alpaca, csv, tsv, parquet, hf (default: from the file name).")
@click.option("--status", type=STATUS, help="Only pairs with this status.")
@click.option("--split", type=SPLIT, help="Only pairs in this split.")
@click.option("--tag", help="Only pairs with this tag.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def export(obj: Ctx, out, fmt, status, split, tag, as_json) -> None:
    """Write pairs to a file other tools read.

    \b
    Examples:
      nastavnik pairs export train.jsonl --status approved --split train
      nastavnik pairs export data.csv                 # opens in Excel
      nastavnik pairs export hf_folder --format hf    # datasets.load_from_disk
    """
    from core.formats.pairs_io import export_pairs

    with obj.store() as store:
        n = export_pairs(store, out, fmt=fmt, flt=_filter(status, split, tag))
    if as_json:
        emit_json({"exported": n, "path": out})
    else:
        click.echo(f"exported {n} pair" + ("" if n == 1 else "s") + f" to {out}")
