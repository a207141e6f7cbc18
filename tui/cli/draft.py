"""``nastavnik draft``: a teacher model drafts answers, or whole pairs from a document, for review."""

from __future__ import annotations

import sys

import click

from core.errors import UserError
from tui.cli import CONTEXT, Ctx, ProgressPrinter, emit_json, pass_ctx


def register(cli: click.Group) -> None:
    cli.add_command(draft)


@click.command(context_settings=CONTEXT)
@click.option("--teacher", required=True, help="The GGUF that drafts: a name from `nastavnik models list`, a path, "
              "an export folder or a run id.")
@click.option("-q", "--question", help="Draft the answer to this one question.")
@click.option("--from-file", "from_file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Draft questions and answers from this document (- reads stdin).")
@click.option("-n", "--count", type=click.IntRange(1), default=10, show_default=True,
              help="With --from-file: how many pairs to draft.")
@click.option("-s", "--system", help="With -q: the system prompt the pair is trained with (the teacher sees it too).")
@click.option("-t", "--tag", "tags", multiple=True, help="With -q: a tag for the new pair; repeat for more.")
@click.option("--max-tokens", type=click.IntRange(32),
              help="The longest answer in tokens (default 1024); with --from-file the question and answer "
              "together (default 2048, at most half the teacher's context).")
@click.option("--ctx", "n_ctx", type=click.IntRange(256), default=4096, show_default=True,
              help="Context to load the teacher with (at most the one it was trained with is used).")
@click.option("--encoding", help="With --from-file: the document's text encoding (default: detected).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def draft(obj: Ctx, teacher, question, from_file, count, system, tags, max_tokens, n_ctx, encoding, as_json) -> None:
    """A teacher model drafts training pairs; they are saved as drafts (never approved by
    themselves) with the source teacher:<model>, for you to review, edit and approve.

    With -q the teacher answers one question (streamed as it writes); the pair is saved and
    printed. With --from-file it reads a document, split into chunks that fit its context,
    and writes COUNT questions with their answers, as JSON its output is constrained to (a
    llama.cpp grammar), so every answer parses. Questions asked before are skipped and
    counted as duplicates.

    \b
    Examples:
      nastavnik draft --teacher qwen-7b-q8_0 -q "Что такое эпоха обучения?"
      nastavnik draft --teacher qwen-7b-q8_0 --from-file notes.txt --count 20
      nastavnik draft --teacher qwen-7b-q8_0 --from-file notes.txt -n 5 --json
      nastavnik pairs list --status draft      # then review them
    """
    from core.loop.drafting import DEFAULT_MAX_TOKENS, DEFAULT_PAIR_TOKENS, draft_from_document, draft_pair, read_document

    if (question is None) == (from_file is None):
        raise UserError("give -q QUESTION or --from-file FILE", hint="nastavnik draft --teacher M -q \"Что такое LoRA?\"")
    if question is not None:
        streamed = {"any": False}

        def piece(text: str) -> None:
            if not as_json:
                streamed["any"] = True
                click.echo(text, nl=False)
                sys.stdout.flush()

        pair = draft_pair(obj.ws, teacher, question, system=system, max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
                          on_piece=piece, tags=tags)
        if as_json:
            emit_json(pair.to_dict())
            return
        if streamed["any"]:
            click.echo("")
        click.echo(f"saved draft pair {pair.id} from {pair.source}: review it with `nastavnik pairs show {pair.id}`",
                   err=True)
        return

    if from_file == "-":
        text, name = sys.stdin.read(), "stdin"
    else:
        text, name = read_document(from_file, encoding), from_file
    with ProgressPrinter(quiet=as_json) as progress:
        result = draft_from_document(obj.ws, teacher, text, count=count, name=name,
                                     max_tokens=max_tokens or DEFAULT_PAIR_TOKENS, n_ctx=n_ctx, progress=progress)
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"drafted {len(result.saved)} of {result.requested} pair(s) from {result.chunks} chunk(s) of {name}: "
               f"{result.duplicates} duplicate(s) skipped, {result.failed} failed")
    for p in result.saved:
        click.echo(f"  #{p.id} {p.question[:90]}")
    for why in result.failures:
        click.echo(f"  failed: {why}", err=True)
    if result.saved:
        click.echo("review them: `nastavnik pairs list --status draft`", err=True)
