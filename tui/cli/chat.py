"""``nastavnik chat``, ``chats`` and ``correct``: talk to exported GGUF models, find the
stored conversations and rank the models by blind votes, and turn a corrected answer into a new
training pair."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from core.errors import UserError
from tui.cli import CONTEXT, Ctx, emit_json, pass_ctx

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store


def register(cli: click.Group) -> None:
    cli.add_command(chat)
    cli.add_command(chats)
    cli.add_command(correct)


class NothingSaved(click.ClickException):
    """The editor came back without a change: not a mistake, but nothing happened (exit 1)."""

    exit_code = 1


def _edit(text: str) -> str | None:
    """``text`` opened in $EDITOR; the edited text, or None when it came back unchanged or empty."""
    edited = click.edit(text, extension=".md", require_save=True)
    if edited is None or not edited.strip() or edited.strip() == (text or "").strip():
        return None
    return edited.strip()


@click.command(context_settings=CONTEXT)
@click.argument("models", nargs=-1, required=True)
@click.option("-p", "--prompt", help="Ask this one question and exit (otherwise: a REPL on stdin).")
@click.option("-s", "--system", help="System prompt.")
@click.option("-t", "--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("-n", "--max-tokens", type=int, default=256, show_default=True)
@click.option("--grade", type=click.IntRange(1, 5), help="With --prompt: grade the answer 1–5 right away.")
@click.option("--comment", help="With --grade: a comment kept with the grade.")
@click.option("--json", "as_json", is_flag=True, help="Print the answers as JSON (with --prompt).")
@click.option("--gpu-layers", type=int, help="Layers to put on the GPU (-1: all, 0: none). Default: all when the model fits "
              "in free GPU memory and no training run is using the card.")
@pass_ctx
def chat(obj: Ctx, models, prompt, system, temperature, max_tokens, grade, comment, as_json, gpu_layers) -> None:
    """Chat with one or more GGUF models (a .gguf path, a name from `nastavnik models list`,
    an export folder name or a run id). With several models every question goes to each of
    them in turn, side by side. Conversations are kept in the store.

    In the REPL, an empty line or /exit ends; /grade N [comment] grades the last answers;
    /correct opens the last answer (of the first model; /correct 2 for the second) in
    $EDITOR and saves what you write as a new draft pair. Each answer's message id is shown
    on stderr after it, for `nastavnik correct ID` later.

    \b
    Examples:
      nastavnik chat run-3-q8_0 --prompt "Что такое LoRA?"
      nastavnik chat demo-q8_0 run-3-q8_0 -p "Что такое эпоха?" --json
      nastavnik chat run-3-q8_0 --system "Отвечай кратко."
    """
    from core.loop.chat_turn import Chat

    with Chat(obj.ws, gpu_layers=gpu_layers) as session:
        # one after the other: each plan reads the GPU's free memory after the models before it loaded
        for m in session.open(list(models)):
            if m.offload is not None and m.offload.note:
                click.echo(f"{m.ref.label}: {m.offload.note}", err=True)
        with obj.ws.store() as store:
            _chat_session(session, store, list(models), prompt, system, temperature, max_tokens, grade, comment,
                          as_json)


def _chat_session(session, store, models, prompt, system, temperature, max_tokens, grade, comment, as_json) -> None:
    """The questions of one ``nastavnik chat``: one --prompt, or a REPL on stdin."""

    def ask(question: str, *, stream: bool) -> list[dict]:
        def start(i, m) -> None:
            if stream and len(models) > 1:
                click.secho(f"── {m.ref.label}", fg="cyan", err=False)

        def piece(i, text) -> None:
            click.echo(text, nl=False)
            sys.stdout.flush()

        def answered(i, a) -> None:
            if stream:
                click.echo("")
                r = a.reply
                click.secho(f"   {r.tokens} tokens, {r.tokens_per_s:.1f} tokens/s, {r.reason}, message {a.message_id}",
                            fg="bright_black", err=True)

        answers = session.ask(question, models, system=system, temperature=temperature, max_tokens=max_tokens,
                              on_start=start, on_piece=piece if stream else None, on_answer=answered)
        return [a.to_dict() for a in answers]

    def do_grade(question: str, answers: list[dict], score: int, note: str | None) -> None:
        for a in answers:
            store.grade(a["model"], question, score, comment=note, answer=a["text"], message_id=a["message_id"])

    if prompt is not None:
        answers = ask(prompt, stream=not as_json)
        if grade:
            do_grade(prompt, answers, grade, comment)
        if as_json:
            emit_json({"conversation_id": session.conversation_id, "question": prompt, "answers": answers})
        return
    last_q, last_a = None, []
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            click.echo("> ", nl=False)
        line = sys.stdin.readline()
        if not line or not line.strip() or line.strip() in ("/exit", "/quit"):
            break
        line = line.rstrip("\n")
        if line.startswith("/grade"):
            parts = line.split(maxsplit=2)
            if last_q is None or len(parts) < 2 or not parts[1].isdigit():
                click.echo("usage: /grade N [comment], after an answer", err=True)
                continue
            do_grade(last_q, last_a, int(parts[1]), parts[2] if len(parts) > 2 else None)
            click.echo(f"graded {parts[1]}", err=True)
            continue
        if line.startswith("/correct"):
            parts = line.split()
            which = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1
            if not last_a or not 1 <= which <= len(last_a) or len(parts) > 2:
                click.echo(f"usage: /correct [N], after an answer (N = 1…{max(len(last_a), 1)}, the model)", err=True)
                continue
            _repl_correct(store, last_a[which - 1])
            continue
        last_q, last_a = line, ask(line, stream=True)


def _repl_correct(store: Store, answer: dict) -> None:
    from core.loop.corrections import correct_message

    text = _edit(answer["text"])
    if text is None:
        click.echo("nothing saved: the answer came back unchanged or empty", err=True)
        return
    try:
        pair = correct_message(store, answer["message_id"], text)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        return
    click.echo(f"saved pair {pair.id} ({pair.status}) from {pair.source}", err=True)


# ---------------------------------------------------------------------------- chats


@click.group(context_settings=CONTEXT)
def chats() -> None:
    """Find stored conversations and the ids of their messages (for `nastavnik correct`).

    \b
    Examples:
      nastavnik chats list
      nastavnik chats show 3
      nastavnik chats show 3 --json | jq '.messages[] | select(.role=="assistant") | .id'
      nastavnik chats votes
    """


def _grades_by_message(store: Store, conv) -> dict[int, object]:
    ids = {m.id for m in conv.messages}
    return {g.message_id: g for g in store.list_grades() if g.message_id in ids}


@chats.command("list", context_settings=CONTEXT)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of conversations (without the messages).")
@pass_ctx
def chats_list(obj: Ctx, limit, as_json) -> None:
    """List conversations, the most recently used first.  Example: nastavnik chats list --limit 5"""
    with obj.store() as store:
        found = store.list_conversations(limit=limit)
    rows = []
    for c in found:
        d = c.to_dict()
        del d["messages"]
        d["message_count"] = len(c.messages)
        d["answers"] = sum(1 for m in c.messages if m.role == "assistant")
        rows.append(d)
    if as_json:
        emit_json(rows)
        return
    for d in rows:
        click.echo(f"#{d['id']}  {d['updated'][:16].replace('T', ' ')}  {', '.join(d['models'])}  "
                   f"{d['message_count']} messages  {d['title'] or '-'}")
    if not rows:
        click.echo("no conversations yet: `nastavnik chat MODEL` starts one", err=True)


@chats.command("show", context_settings=CONTEXT)
@click.argument("conversation_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The conversation and its messages as JSON.")
@pass_ctx
def chats_show(obj: Ctx, conversation_id, as_json) -> None:
    """Show one conversation: every message with its id, role, model, tokens and grade.

    \b
    Example:
      nastavnik chats show 3
      nastavnik correct 17 --answer "Правильный ответ."   # 17: an assistant message above
    """
    with obj.store() as store:
        conv = store.get_conversation(conversation_id)
        grades = _grades_by_message(store, conv)
    if as_json:
        d = conv.to_dict()
        for m in d["messages"]:
            g = grades.get(m["id"])
            m["grade"] = {"score": g.score, "comment": g.comment} if g else None
        emit_json(d)
        return
    click.echo(f"#{conv.id} {conv.title or '-'}")
    click.echo(f"  models: {', '.join(conv.models)}   updated {conv.updated}")
    if conv.system:
        click.echo(f"  system: {conv.system}")
    for m in conv.messages:
        info = [m.role]
        if m.model:
            info.append(m.model)
        if m.tokens is not None:
            info.append(f"{m.tokens} tokens")
        g = grades.get(m.id)
        if g:
            info.append(f"grade {g.score}" + (f" ({g.comment})" if g.comment else ""))
        click.echo(f"[{m.id}] " + ", ".join(info))
        for text_line in m.content.splitlines() or [""]:
            click.echo(f"    {text_line}")


@chats.command("votes", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="The ranking and the number of votes as JSON.")
@pass_ctx
def chats_votes(obj: Ctx, as_json) -> None:
    """Rank the models by the blind votes cast in Chat (v in the Chat room): Bradley–Terry rating,
    win rate with its 95% Wilson interval, and how many votes each rests on. A tie counts as half
    a win for each side.

    \b
    Example:
      nastavnik chats votes
      nastavnik chats votes --json | jq '.models[0].model'
    """
    from core.eval.ranking import METHOD, rank

    with obj.store() as store:
        votes = store.blind_votes()
    table = rank([(v.model_a, v.model_b, v.winner) for v in votes])
    if as_json:
        emit_json({"votes": len(votes), "method": METHOD, "models": [s.to_dict() for s in table]})
        return
    if not votes:
        click.echo("no blind votes yet: in Chat, v starts a blind comparison of two models", err=True)
        return
    click.echo(f"{len(votes)} votes; rating: Bradley–Terry on the Elo scale; win rate with its 95% interval")
    width = max(len(s.model) for s in table)
    for s in table:
        rating = f"{s.rating:6.0f}" if s.rating is not None else "     -"
        click.echo(f"{s.model:<{width}}  {rating}  {s.win_rate:4.0%} [{s.low:.0%}–{s.high:.0%}]  "
                   f"{s.wins}–{s.ties}–{s.losses} (won–tied–lost) of {s.votes}")


# ---------------------------------------------------------------------------- correct


@click.command(context_settings=CONTEXT)
@click.argument("message_id", type=int, required=False)
@click.option("--eval", "eval_pair", type=int, metavar="PAIR_ID",
              help="Correct a model's evaluation answer to this eval pair instead (needs --model).")
@click.option("--model", help="With --eval: the model whose answer you correct.")
@click.option("-a", "--answer", help="The corrected answer (otherwise --answer-file, or $EDITOR opens).")
@click.option("--answer-file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the corrected answer from this file; - reads stdin.")
@click.option("-q", "--question", help="Another question for the pair (default: the one the model answered).")
@click.option("--approve", is_flag=True, help="Save the pair approved (default: draft, to review later).")
@click.option("-t", "--tag", "tags", multiple=True, help="A tag for the new pair; repeat for more.")
@click.option("--no-context", is_flag=True,
              help="A chat answer: save a single-turn pair (default: the earlier turns go with it as context).")
@click.option("--replace", "replace", type=int, metavar="PAIR_ID",
              help="Write the correction into this pair (the train pair that asks the question) instead of a new one: "
                   "one revision, `nastavnik pairs undo` takes it back.")
@click.option("--json", "as_json", is_flag=True, help="Print the new pair as JSON.")
@pass_ctx
def correct(obj: Ctx, message_id, eval_pair, model, answer, answer_file, question, approve, tags, no_context, replace,
            as_json) -> None:
    """Turn a model's answer, corrected, into a new training pair (split train), and record
    a preference: the correction chosen over the model's answer (`nastavnik prefs list`).

    MESSAGE_ID is an assistant message of a chat (`nastavnik chats show ID` lists them; the
    chat REPL prints it after each answer); the pair gets the question that message answered
    and the source chat:<conversation id>. With --eval PAIR_ID --model M it corrects an
    evaluation answer instead (source eval:<pair id>:<model>). When a train pair already asks
    that question, --replace ITS_ID puts the correction into it instead of a second pair with
    another answer (a conflict `nastavnik pairs dedup` lists).

    Without --answer or --answer-file the model's answer opens in $EDITOR; closing it
    unchanged or empty saves nothing (exit 1).

    \b
    Examples:
      nastavnik correct 17 --answer "Эпоха — один полный проход по обучающим данным."
      nastavnik correct 17 --answer-file fixed.md --approve --tag исправлено
      echo "Правильный ответ." | nastavnik correct 17 --answer-file -
      nastavnik correct 17                      # edit the answer in $EDITOR
      nastavnik correct --eval 42 --model run-3-q8_0 --answer "…" --json
    """
    from core.loop.corrections import answer_message, correct_eval, correct_message, eval_answer

    if eval_pair is None and model:
        raise UserError("--model goes with --eval", hint="nastavnik correct --eval PAIR_ID --model M")
    if eval_pair is not None and message_id is not None:
        raise UserError("give a MESSAGE_ID or --eval PAIR_ID, not both")
    if eval_pair is None and message_id is None:
        raise UserError("what to correct?", hint="give a MESSAGE_ID (`nastavnik chats show ID` lists them) "
                        "or --eval PAIR_ID --model M")
    if eval_pair is not None and not model:
        raise UserError("--eval needs --model", hint="the model whose answer you correct, as `nastavnik eval` named it")
    if answer is not None and answer_file is not None:
        raise UserError("give --answer or --answer-file, not both")
    if answer_file is not None:
        answer = _read_answer(answer_file)
    status = "approved" if approve else "draft"
    with obj.store() as store:
        if answer is None:  # the model's answer, in the editor
            original = answer_message(store, message_id).content if eval_pair is None else \
                eval_answer(store, eval_pair, model).answer
            answer = _edit(original)
            if answer is None:
                raise NothingSaved("nothing saved: the answer came back unchanged or empty")
        if eval_pair is None:
            pair = correct_message(store, message_id, answer, question=question, status=status, tags=tags,
                                   with_context=not no_context, replace=replace)
        else:
            pair = correct_eval(store, eval_pair, model, answer, question=question, status=status, tags=tags,
                                replace=replace)
        prefs = store.preferences_of_pair(pair.id)
    if as_json:
        emit_json({**pair.to_dict(), "preference_id": prefs[0].id if prefs else None})
    else:
        click.echo(f"saved pair {pair.id} ({pair.status}) from {pair.source}"
                   + (f" and preference {prefs[0].id} (`nastavnik prefs show {prefs[0].id}`)" if prefs else ""))


def _read_answer(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}", hint="give a readable text file, or - for stdin") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text", hint="save the answer as UTF-8") from None
