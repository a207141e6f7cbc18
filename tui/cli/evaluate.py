"""``nastavnik eval``: answer every eval pair with each model and score the answers."""

from __future__ import annotations

import click

from core.eval.evaluate import EVAL_SPLITS
from tui.cli import CONTEXT, Ctx, ProgressPrinter, emit_json, pass_ctx


def register(cli: click.Group) -> None:
    cli.add_command(eval_)


@click.command("eval", context_settings=CONTEXT)
@click.argument("models", nargs=-1, required=True)
@click.option("--split", type=click.Choice(EVAL_SPLITS), default="eval", show_default=True,
              help="Which pairs: the eval split, the train split (did it learn them?), or the pairs your corrections wrote.")
@click.option("--judge", help="A GGUF model that grades each answer 1–5 by a written rubric.")
@click.option("-n", "--max-tokens", type=int, default=128, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the whole grid as JSON.")
@pass_ctx
def eval_(obj: Ctx, models, split, judge, max_tokens, as_json) -> None:
    """Answer every approved eval pair (every eval pair when none is approved yet) with each
    MODEL, greedily, and score chrF and exact match against the reference answer; with
    --judge also a 1–5 judge score. The "ru drift" column is the share of answers that left
    Russian (most of their letters, outside code, formulas and the reference's own terms,
    not Cyrillic). Results are kept: running again only answers what is
    missing (new pairs, new models, changed questions).

    \b
    Examples:
      nastavnik eval demo-q8_0 run-3-q8_0
      nastavnik eval run-3-q8_0 --judge big-judge-q8_0 --json
    """
    from core.eval.evaluate import evaluate

    with ProgressPrinter(quiet=as_json) as progress:
        report = evaluate(obj.ws, list(models), judge=judge, split=split, max_tokens=max_tokens, progress=progress)
    if as_json:
        emit_json(report.to_dict())
        return
    if report.pairs_used == "all":
        click.echo("no approved eval pairs yet: using every eval pair", err=True)
    click.echo(f"{'model':40} {'pairs':>5} {'chrF':>6} {'exact':>6} {'judge':>6} {'grade':>6} {'ru drift':>8}")
    for s in report.summaries:
        j = f"{s.judge:.2f}" if s.judge is not None else "-"
        g = f"{s.grade:.2f}" if s.grade is not None else "-"
        d = f"{s.drift:.0%}" if s.drift is not None else "-"
        click.echo(f"{s.model[-40:]:40} {s.pairs:5} {s.chrf:6.1f} {s.exact:6.1%} {j:>6} {g:>6} {d:>8}")
    worse = [r for r in report.rows if r.worse(report.models)]
    if len(report.models) > 1:
        click.echo(f"{len(worse)} of {len(report.rows)} questions got worse from one model to the next")
