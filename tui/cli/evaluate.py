"""``nastavnik eval``: answer every eval pair with each model and score the answers; and
``nastavnik judge``: the judge's rubric (a workspace file) and how well its scores agree with
the user's own grades."""

from __future__ import annotations

import click

from core.eval.evaluate import EVAL_SPLITS
from tui.cli import CONTEXT, Ctx, ProgressPrinter, emit_json, pass_ctx


def register(cli: click.Group) -> None:
    cli.add_command(eval_)
    cli.add_command(judge)


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def echo_agreement(rows) -> None:
    """One line per judge: n, Spearman's ρ, exact and ±1 agreement with the user's grades."""
    for a in rows:
        click.echo(f"judge {a.judge}: n {a.n}, spearman {_num(a.spearman, '.2f')}, exact {_num(a.exact, '.0%')}, "
                   f"±1 {_num(a.within_one, '.0%')}")


@click.command("eval", context_settings=CONTEXT)
@click.argument("models", nargs=-1, required=True)
@click.option("--split", type=click.Choice(EVAL_SPLITS), default="eval", show_default=True,
              help="Which pairs: the eval split, the train split (did it learn them?), or the pairs your corrections wrote.")
@click.option("--judge", help="A GGUF model that grades each answer 1–5 by a written rubric.")
@click.option("--rubric", "rubric_file", type=click.Path(dir_okay=False),
              help="Judge by this rubric file instead of the workspace's (see `nastavnik judge rubric`).")
@click.option("-n", "--max-tokens", type=int, default=128, show_default=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole grid as JSON, with the scores per tag (by_tag) and the judges' agreement with your grades.")
@pass_ctx
def eval_(obj: Ctx, models, split, judge, rubric_file, max_tokens, as_json) -> None:
    """Answer every approved eval pair (every eval pair when none is approved yet) with each
    MODEL, greedily, and score chrF and exact match against the reference answer; with
    --judge also a 1–5 judge score. The "ru drift" column is the share of answers that left
    Russian (most of their letters, outside code, formulas and the reference's own terms,
    not Cyrillic). Results are kept: running again only answers what is
    missing (new pairs, new models, changed questions). The judge reads the workspace's
    rubric (`nastavnik judge rubric`); after the rubric changes it judges the answers again,
    and only the current rubric's scores are shown. The scores are also broken down by the
    pairs' tags (untagged pairs in a bucket of their own).

    \b
    Examples:
      nastavnik eval demo-q8_0 run-3-q8_0
      nastavnik eval run-3-q8_0 --judge big-judge-q8_0 --json
    """
    from core.eval.evaluate import evaluate
    from core.eval.rubric import read_file

    rubric = read_file(rubric_file) if rubric_file else None
    with ProgressPrinter(quiet=as_json) as progress:
        report = evaluate(obj.ws, list(models), judge=judge, split=split, rubric=rubric, max_tokens=max_tokens,
                          progress=progress)
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
    if any(t.tag is not None for t in report.by_tag):
        click.echo(f"{'tag':20} {'model':30} {'pairs':>5} {'chrF':>6} {'exact':>6} {'judge':>6}")
        for row in report.by_tag:
            for model, sc in row.models.items():
                name = row.tag if row.tag is not None else "(no tag)"
                click.echo(f"{name[:20]:20} {model[-30:]:30} {sc.pairs:5} {sc.chrf:6.1f} {sc.exact:6.1%} "
                           f"{_num(sc.judge, '.2f'):>6}")
    if report.stale_judgements:
        click.echo(f"{report.stale_judgements} answers were judged by an earlier rubric: run with --judge to judge them again",
                   err=True)
    echo_agreement(report.agreement)


@click.group(context_settings=CONTEXT)
def judge() -> None:
    """The judge's rubric and whether its scores can be trusted."""


@judge.command("rubric", context_settings=CONTEXT)
@click.option("--show", is_flag=True, help="Print the rubric's text.")
@click.option("--edit", is_flag=True, help="Open the rubric in $EDITOR.")
@click.option("--reset", is_flag=True, help="Put the default rubric (in Russian) back.")
@click.option("--json", "as_json", is_flag=True, help="Print path, hash and text as JSON.")
@pass_ctx
def judge_rubric(obj: Ctx, show: bool, edit: bool, reset: bool, as_json: bool) -> None:
    """Print the path of the rubric the judge reads: <workspace>/judge_rubric.md, written
    with the default (in Russian) the first time. Edit it with any editor: {question},
    {reference} and {answer} are replaced by the eval question, the reference answer and the
    model's answer ({answer} is required); the judge must reply with a 1–5 score
    ("Оценка: 4"). Each judgement keeps the rubric's hash, so scores of an edited rubric are
    never mixed with the old ones.

    \b
    Examples:
      nastavnik judge rubric --edit
      nastavnik judge rubric --show
    """
    from core.eval import rubric as rubrics

    current = rubrics.reset(obj.ws) if reset else rubrics.load(obj.ws)
    if edit:
        edited = click.edit(current.text, extension=".md", require_save=True)
        if edited is not None:
            current = rubrics.write(obj.ws, edited)
    if as_json:
        emit_json(current.to_dict())
        return
    if show:
        click.echo(current.text.rstrip("\n"))
        return
    click.echo(str(current.path))
    click.echo(f"hash {current.hash}", err=True)


@judge.command("agreement", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print the agreement per judge as JSON.")
@pass_ctx
def judge_agreement_cmd(obj: Ctx, as_json: bool) -> None:
    """How well each judge's scores agree with your own 1–5 grades of the same answers (the
    judgements of the current rubric): n (answers both scored), Spearman's rank correlation,
    exact agreement and agreement within ±1. Grade answers in Evaluate (Enter, 1–5).

    \b
    Example:
      nastavnik judge agreement --json
    """
    from core.eval import rubric as rubrics
    from core.eval.agreement import judge_agreement

    current = rubrics.load(obj.ws)
    with obj.store() as store:
        rows = judge_agreement(store.judgements(rubric=current.hash), store.list_grades())
    if as_json:
        emit_json({"rubric": current.hash, "judges": [a.to_dict() for a in rows]})
        return
    if not rows:
        click.echo("no judgements by the current rubric yet: nastavnik eval MODEL --judge JUDGE", err=True)
    echo_agreement(rows)
