"""``nastavnik chat``: talk to exported GGUF models, one or several side by side."""

from __future__ import annotations

import sys

import click

from tui.cli import CONTEXT, Ctx, emit_json, pass_ctx


def register(cli: click.Group) -> None:
    cli.add_command(chat)


@click.command(context_settings=CONTEXT)
@click.argument("models", nargs=-1, required=True)
@click.option("-p", "--prompt", help="Ask this one question and exit (otherwise: a REPL on stdin).")
@click.option("-s", "--system", help="System prompt.")
@click.option("-t", "--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("-n", "--max-tokens", type=int, default=256, show_default=True)
@click.option("--grade", type=click.IntRange(1, 5), help="With --prompt: grade the answer 1–5 right away.")
@click.option("--comment", help="With --grade: a comment kept with the grade.")
@click.option("--json", "as_json", is_flag=True, help="Print the answers as JSON (with --prompt).")
@pass_ctx
def chat(obj: Ctx, models, prompt, system, temperature, max_tokens, grade, comment, as_json) -> None:
    """Chat with one or more GGUF models (a .gguf path, a name from `nastavnik models list`,
    an export folder name or a run id). With several models every question goes to each of
    them in turn, side by side. Conversations are kept in the store.

    In the REPL, an empty line or /exit ends; /grade N [comment] grades the last answers.

    \b
    Examples:
      nastavnik chat run-3-q8_0 --prompt "Что такое LoRA?"
      nastavnik chat demo-q8_0 run-3-q8_0 -p "Что такое эпоха?" --json
      nastavnik chat run-3-q8_0 --system "Отвечай кратко."
    """
    from core.chat import messages_for, open_model

    ws = obj.ws
    opened = [open_model(ws, m) for m in models]
    store = ws.store()
    try:
        conv = store.add_conversation([m.ref.key for m in opened], system=system)
        history: dict[str, list[dict]] = {m.ref.key: [] for m in opened}

        def ask(question: str, *, stream: bool) -> list[dict]:
            store.add_message(conv.id, "user", question)
            out = []
            for m in opened:
                if stream:
                    if len(opened) > 1:
                        click.secho(f"── {m.ref.label}", fg="cyan", err=False)
                    for piece in m.stream(messages_for(history[m.ref.key], question, system),
                                          temperature=temperature, max_tokens=max_tokens):
                        click.echo(piece, nl=False)
                        sys.stdout.flush()
                    click.echo("")
                else:
                    m.reply(messages_for(history[m.ref.key], question, system), temperature=temperature, max_tokens=max_tokens)
                r = m.last
                msg = store.add_message(conv.id, "assistant", r.text, model=m.ref.key, tokens=r.tokens, seconds=round(r.seconds, 4))
                history[m.ref.key] += [{"role": "user", "content": question}, {"role": "assistant", "content": r.text}]
                if stream:
                    click.secho(f"   {r.tokens} tokens, {r.tokens_per_s:.1f} tokens/s, {r.reason}", fg="bright_black", err=True)
                out.append({"model": m.ref.key, "message_id": msg.id, **r.to_dict()})
            return out

        def do_grade(question: str, answers: list[dict], score: int, note: str | None) -> None:
            for a in answers:
                store.grade(a["model"], question, score, comment=note, answer=a["text"], message_id=a["message_id"])

        if prompt is not None:
            answers = ask(prompt, stream=not as_json)
            if grade:
                do_grade(prompt, answers, grade, comment)
            if as_json:
                emit_json({"conversation_id": conv.id, "question": prompt, "answers": answers})
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
            last_q, last_a = line, ask(line, stream=True)
    finally:
        for m in opened:
            m.close()
        store.close()
