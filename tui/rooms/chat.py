"""The Chat room: talk to exported models, side by side, grade answers, turn them into pairs.

The turn itself — the conversation, each model's answer, what is stored — is
``core.loop.chat_turn.Chat``, which ``nastavnik chat`` shares. Each chosen model runs in its
own child process (``core.infer.runner.ChildRunner``): llama.cpp
prints to file descriptor 2 while it loads, and Textual draws on that same descriptor, so
loading in-process would write over the screen. Answers stream token by token into a
Markdown widget per model, one model after the other; Escape stops the answer being
written. ←/→ or a click choose an answer (the status line names it), 1–5 grade it (with an optional comment), e/у opens it in an
editor and saves it as a new pair with source ``chat:<conversation id>`` (and a preference:
the correction chosen over the model's answer). With two or more models side by side, p/з
picks the chosen answer as the better one: a preference with each other model's answer to
that question as the rejected one.

v/м turns the blind comparison on or off (``core.loop.blind``): the first two models chosen
answer each question as «A» and «B», in an order drawn per question, their names hidden (the
model lists too) until the user votes with a/ф (A is better), b/и (B is better) or t/е (a tie);
then the names show. An A/B vote records the preference ``p`` would (the winner's answer over
the loser's), a tie none; every vote is stored, and w/ц ranks the models by them
(``tui.dialogs.votes``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, Markdown, Select, Static

from tui.dialogs.correct import CorrectAnswerScreen, Correction, saved_note
from tui.dialogs.grade import GradeScreen
from tui.i18n import t
from tui.messages import PairsChanged
from tui.keys import both, localize
from tui.styles import sibling_css

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


@dataclass
class BlindRound:
    """One blind question: its two answers in the order shown (A, B), the seed that drew the
    order, and the vote once cast."""

    seed: int
    answers: list[Answer]
    winner: str | None = None


@dataclass
class Answer:
    widget: Markdown
    model: str
    label: str
    question: str
    text: str = ""
    message_id: int | None = None
    system: str | None = None  # the system prompt the model was given
    row: int = 0  # which question it answers: answers side by side share a row


class ChatRoom(Vertical):
    """Shown as a tab of the app."""

    DEFAULT_CSS = sibling_css(__file__)
    BINDINGS = [
        both("escape", "stop", "chat.stop"),
        both("left", "select(-1)", "chat.prev", show=False),
        both("right", "select(1)", "chat.next", show=False),
        both("e", "correct", "chat.edit"),
        both("p", "prefer", "chat.prefer", show=False),
        both("v", "blind", "chat.blind"),
        both("a", "vote('a')", "chat.vote_a"),
        both("b", "vote('b')", "chat.vote_b"),
        both("t", "vote('tie')", "chat.vote_tie"),
        both("w", "votes", "chat.votes", show=False),
        both("n", "new_chat", "chat.new"),
        both("enter", "focus_input", "chat.ask_key", show=False),
        *[both(str(i), f"grade({i})", f"chat.grade{i}", description="chat.grade", show=i == 1) for i in range(1, 6)],
    ]

    def __init__(self, ws: Workspace, **kw) -> None:
        super().__init__(**kw)
        from core.loop.chat_turn import Chat

        self.ws = ws
        self.chat = Chat(ws, in_process=False)  # the models in child processes, loaded on first use
        self.answers: list[Answer] = []
        self.selected = -1
        self._stop = threading.Event()
        self._status_text = ""  # what the status line says
        self.busy = False
        self._wanted: list[str] | None = None  # models to put side by side once they are listed
        self.blind = False  # the blind comparison: two models as A and B, names hidden until the vote
        self.blind_models: list[str] = []  # the two models it compares
        self.rounds: dict[int, BlindRound] = {}  # blind questions, by the row of their answers

    @property
    def conversation_id(self) -> int | None:
        """The stored conversation the next question goes to (None: the next one starts one)."""
        return self.chat.conversation_id

    @conversation_id.setter
    def conversation_id(self, value: int | None) -> None:
        self.chat.conversation_id = value

    @property
    def models(self) -> dict:
        """The loaded model runners, by name."""
        return self.chat.runners

    # -------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-models"):
            for n in range(3):
                yield Select([], prompt=t("chat.model", n=n + 1) if n == 0 else t("chat.none"), id=f"chat-model-{n}",
                             classes="chat-model")
        yield Input(placeholder=t("chat.system"), id="chat-system")
        yield VerticalScroll(id="chat-log")
        yield Static("", id="chat-status")
        yield Input(placeholder=t("chat.ask"), id="chat-input")

    def on_mount(self) -> None:
        self.reload_models()
        self.localize()

    def localize(self) -> None:
        """Texts in the current language (the app calls this after a language switch)."""
        localize(self)
        self.query_one("#chat-input", Input).placeholder = t("chat.ask")
        self.query_one("#chat-system", Input).placeholder = t("chat.system")

    def on_unmount(self) -> None:
        self._stop.set()
        self.close_models()

    def reload_models(self) -> None:
        """Fill the model lists from the store (read in a worker, shown by ``_show_models``)."""
        if self.is_mounted:
            self._load_models()

    @work(thread=True, exit_on_error=False, exclusive=True, group="chat-models")
    def _load_models(self) -> None:
        from textual.worker import get_current_worker

        from core.store import Store

        with Store(self.ws.db_path) as store:
            names = [m.name for m in store.list_models(kind="gguf")]
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_models, names)

    def _show_models(self, names: list[str]) -> None:
        if not self.is_mounted:
            return
        options = [(name, name) for name in names]
        for n, sel in enumerate(self.query(".chat-model").results(Select)):
            current = sel.value
            sel.set_options(options)
            if current in dict(options).values():
                sel.value = current
            elif n == 0 and options:
                sel.value = options[-1][1]
        if not options:
            self.status(t("chat.no_models"))
        elif self._status_text == t("chat.no_models"):
            self.status("")  # models now (exported since the room opened): the line no longer holds
        wanted = self._wanted
        if wanted and all(name in names for name in wanted):
            self._wanted = None
            for n, sel in enumerate(self.query(".chat-model").results(Select)):
                if n < len(wanted):
                    sel.value = wanted[n]
                else:
                    sel.clear()
            self._focus_input_if_shown()

    def choose_models(self, names: list[str]) -> None:
        """Put these models side by side (up to three, in this order) and the cursor in the
        question box; models exported a moment ago are listed first (a reload)."""
        self._wanted = list(names)[:3]
        self.reload_models()

    def chosen(self) -> list[str]:
        out = []
        for sel in self.query(".chat-model").results(Select):
            if not sel.is_blank() and isinstance(sel.value, str) and sel.value not in out:
                out.append(str(sel.value))
        return out

    def status(self, text: str) -> None:
        self._status_text = text
        self.query_one("#chat-status", Static).update(text)

    # -------------------------------------------------------------- asking

    @on(Input.Submitted, "#chat-input")
    def _ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.busy:
            self.notify(t("chat.busy"), severity="warning")
            return
        models = self.blind_models if self.blind else self.chosen()
        if not models:
            self.notify(t("chat.pick"), severity="warning")
            return
        event.input.value = ""
        self.ask(question, models)

    def ask(self, question: str, models: list[str]) -> None:
        """Send ``question`` to each model in turn (also the entry point for tests)."""
        log = self.query_one("#chat-log", VerticalScroll)
        log.mount(Static(question, classes="chat-question"))
        row = Horizontal(classes="chat-answers")
        log.mount(row)
        seed = None
        if self.blind:
            from core.loop.blind import blind_order, new_seed

            seed = new_seed()
            models = blind_order(models[:2], seed)
        widgets = []
        for n, key in enumerate(models):
            label = "AB"[n] if seed is not None else key
            col = Vertical(classes="chat-answer")
            row.mount(col)
            col.mount(Label(label, classes="chat-answer-model"))
            md = Markdown("", classes="chat-answer-text")
            col.mount(md)
            widgets.append(Answer(md, key, label, question))
        system = self.query_one("#chat-system", Input).value.strip() or None
        row_id = (self.answers[-1].row + 1) if self.answers else 0
        for a in widgets:
            a.system = system
            a.row = row_id
        if seed is not None:
            self.rounds[row_id] = BlindRound(seed, widgets)
        self.answers.extend(widgets)
        self._select(len(self.answers) - len(widgets))
        self.busy = True
        self._stop.clear()
        self._generate(question, widgets, system)

    @work(thread=True, exit_on_error=False, exclusive=True, group="chat")
    def _generate(self, question: str, answers: list[Answer], system: str | None) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        labels = {a.model: a.label for a in answers}  # blind: «A» and «B», never the names
        shown: dict[int, float] = {}  # when each answer was last drawn: at most every 50 ms

        def piece(i: int, text: str) -> None:
            answers[i].text += text
            now = time.monotonic()
            if now - shown.get(i, 0.0) > 0.05:
                shown[i] = now
                self.app.call_from_thread(self._show, answers[i], answers[i].text)

        def answered(i: int, done) -> None:
            a, r = answers[i], done.reply
            a.message_id = done.message_id
            self.app.call_from_thread(self._show, a, a.text)
            line = t("chat.speed", model=a.label, tokens=r.tokens, speed=r.tokens_per_s)
            if r.reason == "cancelled":
                line += " — " + t("chat.stopped")
            self.app.call_from_thread(self.status, line)

        try:
            self.chat.ask(question, [a.model for a in answers], system=system,
                          cancel=lambda: self._stop.is_set() or worker.is_cancelled,
                          on_loading=lambda name: self.app.call_from_thread(
                              self.status, t("chat.loading", model=labels.get(name, name))),
                          on_piece=piece, on_answer=answered)
        finally:
            self.app.call_from_thread(self._done)

    def _show(self, answer: Answer, text: str) -> None:
        answer.widget.update(text)
        self.query_one("#chat-log", VerticalScroll).scroll_end(animate=False)

    def _done(self) -> None:
        self.busy = False
        if self.current() is not None:
            # grading keys work at once; Enter goes back to the question box
            self.query_one("#chat-log", VerticalScroll).focus()
            self.notify(t("chat.blind_after" if self.blind else "chat.after"), timeout=4)

    def action_focus_input(self) -> None:
        self.query_one("#chat-input", Input).focus()

    def _focus_input_if_shown(self) -> None:
        """Focus the question box unless the user has already moved to another tab (focusing
        a widget in a hidden tab would switch back to it)."""
        from textual.css.query import NoMatches
        from textual.widgets import TabbedContent, TabPane

        try:
            pane = self.query_ancestor(TabPane)
            if self.query_ancestor(TabbedContent).active != pane.id:
                return
        except NoMatches:  # mounted on its own (tests, embedding)
            pass
        # at once: a deferred focus() landing after the user switched tabs would switch back
        self.screen.set_focus(self.query_one("#chat-input", Input))

    def on_show(self) -> None:
        if not self.busy:
            self.reload_models()
            # opening the room puts the cursor in the question box, so typing asks a question
            # instead of firing letter keys
            self.call_after_refresh(self._focus_input_if_shown)

    def action_stop(self) -> None:
        """Esc: stop the answer being written; when none is, leave the question box so the
        answer keys (e, 1–5, ←/→) work."""
        if self.busy:
            self._stop.set()
            self.chat.stop()  # now, not after the next token arrives
        else:
            self.query_one("#chat-log", VerticalScroll).focus()

    def action_new_chat(self) -> None:
        if self.busy:
            self.notify(t("chat.busy"), severity="warning")
            return
        self.chat.new()
        self.answers.clear()
        self.rounds.clear()
        self.selected = -1
        self.query_one("#chat-log", VerticalScroll).remove_children()

    def close_models(self) -> None:
        self.chat.close()

    @on(Select.Changed)
    def _model_changed(self) -> None:
        # another set of models starts another conversation
        if not self.busy and self.conversation_id is not None:
            self.chat.new()

    # -------------------------------------------------------------- grading and correcting

    def _select(self, index: int, *, say: bool = False) -> None:
        """Frame the answer that e, p and 1–5 act on; ``say``: name it in the status line too
        (the user chose it, with ←/→ or a click)."""
        if not self.answers:
            return
        index = max(0, min(index, len(self.answers) - 1))
        for n, a in enumerate(self.answers):
            a.widget.parent.set_class(n == index, "selected")
        self.selected = index
        if say:
            self.status(t("chat.chosen", model=self.answers[index].label, n=index + 1, total=len(self.answers)))

    def action_select(self, step: int) -> None:
        self._select(self.selected + step, say=True)

    def on_click(self, event: events.Click) -> None:
        """A click on an answer chooses it, and leaves the question box so its keys work."""
        widget = event.widget
        for n, a in enumerate(self.answers):
            column = a.widget.parent
            if widget is not None and column is not None and (widget is column or column in widget.ancestors):
                self._select(n, say=True)
                self.query_one("#chat-log", VerticalScroll).focus()
                return

    def current(self) -> Answer | None:
        if self.selected < 0 or self.selected >= len(self.answers):
            return None
        a = self.answers[self.selected]
        return a if a.message_id is not None else None

    def action_grade(self, score: int) -> None:
        answer = self.current()
        if answer is None:
            self.notify(t("chat.nothing"), severity="warning")
            return

        def done(comment: str | None) -> None:
            if comment is not None:
                self._save_grade(answer, score, comment)

        self.app.push_screen(GradeScreen(score), done)

    @work(thread=True, exit_on_error=False, group="chat-save")
    def _save_grade(self, answer: Answer, score: int, comment: str) -> None:
        from core.store import Store

        with Store(self.ws.db_path) as store:
            store.grade(answer.model, answer.question, score, comment=comment or None,
                        answer=answer.text, message_id=answer.message_id)
        self.app.call_from_thread(self.notify, t("chat.graded", score=score, model=answer.label))

    def action_correct(self) -> None:
        answer = self.current()
        if answer is None:
            self.notify(t("chat.nothing"), severity="warning")
            return

        def done(fix: Correction | None) -> None:
            if fix is not None:
                self._save_correction(answer.message_id, fix, answer.system or "")

        self.app.push_screen(CorrectAnswerScreen(answer.question, answer.text, model=answer.label, ws=self.ws), done)

    @work(thread=True, exit_on_error=False, group="chat-save")
    def _save_correction(self, message_id: int, fix: Correction, system: str) -> None:
        """The corrected answer as a new pair (source ``chat:<conversation id>``), off the UI thread."""
        from core.loop.corrections import correct_message
        from core.store import Store

        with Store(self.ws.db_path) as store:
            pair = correct_message(store, message_id, fix.answer, question=fix.question,
                                   status=fix.status, system=system, replace=fix.replace)
        self.app.call_from_thread(self._saved, pair, fix.replace is not None)

    def _saved(self, pair, replaced: bool = False) -> None:
        self.notify(saved_note(pair, replaced), timeout=8)
        self.app.post_message(PairsChanged(pair.id))

    def action_prefer(self) -> None:
        """p/з: the chosen answer is better than the other models' answers to the same question."""
        answer = self.current()
        if answer is None:
            self.notify(t("chat.nothing"), severity="warning")
            return
        others = [a for a in self.answers if a.row == answer.row and a is not answer and a.message_id is not None]
        if not others:
            self.notify(t("chat.prefer_one"), severity="warning")
            return
        self._save_preferences(answer.message_id, answer.label, [(a.message_id, a.label) for a in others])

    @work(thread=True, exit_on_error=False, group="chat-save")
    def _save_preferences(self, chosen_id: int, chosen: str, rejected: list[tuple[int, str]]) -> None:
        """One preference per other answer (``core.loop.corrections.prefer_answer``), off the UI thread."""
        from core.loop.corrections import prefer_answer
        from core.store import Store

        saved = []
        with Store(self.ws.db_path) as store:
            with store.transaction():  # all of them or none
                for message_id, label in rejected:
                    prefer_answer(store, chosen_id, message_id)
                    saved.append(label)
        self.app.call_from_thread(self._preferred, chosen_id, chosen, saved)

    def _preferred(self, chosen_id: int, chosen: str, rejected: list[str]) -> None:
        for a in self.answers:
            if a.message_id == chosen_id:
                a.widget.parent.add_class("preferred")
        self.notify(t("chat.preferred", chosen=chosen, rejected=", ".join(rejected)))

    # -------------------------------------------------------------- blind comparison

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The vote keys exist in the blind comparison only, and ``p`` outside it (a vote is
        how a blind pick becomes a preference)."""
        if action == "vote":
            return self.blind
        if action == "prefer":
            return not self.blind
        return True

    def action_blind(self) -> None:
        """v/м: the blind comparison on (the first two models chosen, as A and B) or off; either
        way a new conversation starts, so no name of an earlier answer stays on the screen."""
        if self.busy:
            self.notify(t("chat.busy"), severity="warning")
            return
        if not self.blind:
            models = self.chosen()
            if len(models) < 2:
                self.notify(t("chat.blind_pick"), severity="warning")
                return
            self.blind_models = models[:2]
        self.blind = not self.blind
        self.set_class(self.blind, "blind")
        self.action_new_chat()
        self.status(t("chat.blind_on" if self.blind else "chat.blind_off"))
        self.refresh_bindings()
        self._focus_input_if_shown()

    def _round(self) -> BlindRound | None:
        """The blind question the vote keys act on: that of the chosen answer, else the last."""
        if self.selected >= 0 and self.selected < len(self.answers):
            return self.rounds.get(self.answers[self.selected].row)
        return self.rounds[max(self.rounds)] if self.rounds else None

    def action_vote(self, winner: str) -> None:
        """a/b/t (ф/и/е): A is better, B is better, or a tie — stored, then the names show."""
        r = self._round()
        if r is None or any(a.message_id is None for a in r.answers):
            self.notify(t("chat.nothing"), severity="warning")
            return
        if r.winner is not None:
            self.notify(t("chat.blind_again"), severity="warning")
            return
        self._save_vote(r, winner)

    @work(thread=True, exit_on_error=False, group="chat-save")
    def _save_vote(self, r: BlindRound, winner: str) -> None:
        """The vote and (A or B) its preference, off the UI thread (``core.loop.blind.cast_vote``)."""
        from core.loop.blind import cast_vote
        from core.store import Store

        a, b = r.answers
        assert a.message_id is not None and b.message_id is not None
        with Store(self.ws.db_path) as store:
            vote = cast_vote(store, a.message_id, b.message_id, r.seed, winner)
        self.app.call_from_thread(self._voted, r, vote.winner)

    def _voted(self, r: BlindRound, winner: str) -> None:
        """Show the names: each column says which model it was; the winner's is marked."""
        r.winner = winner
        for letter, a in zip("AB", r.answers):
            a.label = a.model
            column = a.widget.parent
            if column is None:  # a new chat cleared the screen meanwhile
                continue
            column.query_one(".chat-answer-model", Label).update(f"{letter} — {a.model}")
            column.set_class(winner == letter.lower(), "preferred")
        a, b = (x.model for x in r.answers)
        key = "chat.blind_tie" if winner == "tie" else "chat.blind_won"
        text = t(key, a=a, b=b, winner=winner.upper())
        self.status(text)
        self.notify(text, timeout=8)

    def action_votes(self) -> None:
        """w/ц: the models ranked by every blind vote so far."""
        from tui.dialogs.votes import VotesScreen

        self.app.push_screen(VotesScreen(self.ws))
