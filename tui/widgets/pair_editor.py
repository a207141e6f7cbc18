"""Edit one pair: question, answer, system prompt and tags, with live length counts.

``PairEditor`` is the form; ``EditPairScreen`` hosts it full-screen (it fits 80×24),
saves with ctrl+s as one revision (in a worker, with its own store) and asks before
throwing away unsaved edits on escape (the shared ``ConfirmScreen`` asks).

A save carries the pair as the editor loaded it: if someone changed it elsewhere in the
meantime (another window, the CLI, a correction from Chat, an undo) the store refuses
(``PairChanged``) and ``PairConflictScreen`` shows what differs and lets the user overwrite,
take the saved version or keep editing; if the pair went to the trash, save the edit as a
new pair or discard it. Nothing is lost without the user choosing it.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static, TextArea

from core.errors import UserError
from core.store import Pair, PairChanged, Store
from core.text import estimate_tokens
from tui.screens._dialogs import ConfirmScreen
from tui.screens.conflict import PairConflictScreen, editable, merged
from tui.i18n import register, t
from tui.keys import both, localize

register(
    ru={
        "ed.title.new": "Новая пара",
        "ed.title.edit": "Пара #{id} · {status} · {split}",
        "ed.question": "Вопрос",
        "ed.answer": "Ответ",
        "ed.system": "Системный промпт (необязательно)",
        "ed.tags": "Теги через запятую",
        "ed.count": "{chars} симв. · ~{tokens} ток.",
        "ed.save": "Сохранить",
        "ed.cancel": "Отмена",
        "ed.saved": "Пара #{id} сохранена",
        "ed.unchanged": "Изменений нет",
        "ed.discard": "Есть несохранённые правки. Выбросить их?",
        "ed.reloaded": "Загружена версия пары #{id}, сохранённая в другом месте",
        "ed.saved_new": "Правка сохранена новой парой #{id}",
        "ed.merged": "Их изменения и ваши правки объединены; ctrl+s сохранит",
    },
    en={
        "ed.title.new": "New pair",
        "ed.title.edit": "Pair #{id} · {status} · {split}",
        "ed.question": "Question",
        "ed.answer": "Answer",
        "ed.system": "System prompt (optional)",
        "ed.tags": "Tags, comma separated",
        "ed.count": "{chars} chars · ~{tokens} tok",
        "ed.save": "Save",
        "ed.cancel": "Cancel",
        "ed.saved": "Pair #{id} saved",
        "ed.unchanged": "Nothing changed",
        "ed.discard": "There are unsaved edits. Throw them away?",
        "ed.reloaded": "Loaded pair #{id} as it was saved elsewhere",
        "ed.saved_new": "Your edit is saved as the new pair #{id}",
        "ed.merged": "Their changes and your edit are merged; ctrl+s saves them",
    },
)


def parse_tags(text: str) -> list[str]:
    out: list[str] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def count_label(text: str) -> str:
    return t("ed.count", chars=len(text), tokens=estimate_tokens(text))


class PairEditor(Vertical):
    """The form. ``values()`` is what the user typed; ``dirty`` says if it differs from the start."""

    DEFAULT_CSS = """
    PairEditor { height: 1fr; }
    PairEditor .ed-head { height: 1; }
    PairEditor .ed-label { width: 1fr; text-style: bold; }
    PairEditor .ed-count { width: auto; color: $foreground-muted; }
    PairEditor TextArea { height: 1fr; min-height: 3; border: none; padding: 0 1; }
    PairEditor TextArea:focus { border: none; background: $boost; }
    PairEditor #system { height: 3; min-height: 2; }
    PairEditor Input { height: 1; border: none; padding: 0 1; }
    PairEditor Input:focus { border: none; background: $boost; }
    """

    def __init__(self, pair: Pair | None, *, system: str | None = None, tags: list[str] | None = None, **kw) -> None:
        super().__init__(**kw)
        self.pair = pair
        if pair is not None:
            self.initial = editable(pair)
        else:
            self.initial = {"question": "", "answer": "", "system": system or "", "tags": list(tags or [])}

    def compose(self) -> ComposeResult:
        for key, label, height in (("question", "ed.question", None), ("answer", "ed.answer", None), ("system", "ed.system", None)):
            with Horizontal(classes="ed-head"):
                yield Label(t(label), classes="ed-label", id=f"{key}-label")
                yield Label(count_label(self.initial[key]), classes="ed-count", id=f"{key}-count")
            yield TextArea(self.initial[key], id=key, soft_wrap=True, tab_behavior="focus", show_line_numbers=False)
        with Horizontal(classes="ed-head"):
            yield Label(t("ed.tags"), classes="ed-label", id="tags-label")
        yield Input(", ".join(self.initial["tags"]), id="tags")

    def on_mount(self) -> None:
        self.query_one("#question", TextArea).focus()

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        area = event.text_area
        if area.id:
            self.query_one(f"#{area.id}-count", Label).update(count_label(area.text))

    def values(self) -> dict:
        return {
            "question": self.query_one("#question", TextArea).text,
            "answer": self.query_one("#answer", TextArea).text,
            "system": self.query_one("#system", TextArea).text,
            "tags": parse_tags(self.query_one("#tags", Input).value),
        }

    @property
    def dirty(self) -> bool:
        return self.values() != self.initial

    def load(self, pair: Pair, values: dict | None = None) -> None:
        """Start again from ``pair``, showing ``values`` (default: the pair itself) as the edit."""
        self.pair = pair
        self.initial = editable(pair)
        shown = values or self.initial
        for key in ("question", "answer", "system"):
            self.query_one(f"#{key}", TextArea).load_text(shown[key])
            self.query_one(f"#{key}-count", Label).update(count_label(shown[key]))
        self.query_one("#tags", Input).value = ", ".join(shown["tags"])


class EditPairScreen(Screen[Pair | None]):
    """Full-screen editor; dismisses with the saved pair, or None when cancelled."""

    DEFAULT_CSS = """
    EditPairScreen { layout: vertical; }
    EditPairScreen #editor-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "ctrl+s", id="i18n:ed.save", priority=True),
        Binding("escape", "cancel", "esc", id="i18n:ed.cancel"),
    ]

    def __init__(self, db_path: Path, pair: Pair | None, *, system: str | None = None, tags: list[str] | None = None) -> None:
        super().__init__()
        self.db_path = db_path
        self.pair = pair  # as loaded: a save refuses to overwrite a change made since
        self.defaults = {"system": system, "tags": tags}
        self._saving = False
        #: True once a save found the pair changed elsewhere: whoever shows pairs should re-read
        self.store_changed = False

    def _title(self) -> str:
        if self.pair is None:
            return t("ed.title.new")
        return t("ed.title.edit", id=self.pair.id, status=t("status." + self.pair.status), split=t("split." + self.pair.split))

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="editor-title")
        yield PairEditor(self.pair, system=self.defaults["system"], tags=self.defaults["tags"], id="editor")
        yield Footer()

    def on_mount(self) -> None:
        localize(self)
        if self.pair is not None:
            self._check_fresh(self.pair.id)

    @work(thread=True, group="editor-fresh", exclusive=True)
    def _check_fresh(self, pair_id: int) -> None:
        """The editor opens at once from the table's copy; read the pair again behind it."""
        try:
            with Store(self.db_path, migrate=False) as store:
                pair = store.get_pair(pair_id)
        except UserError:
            return  # gone: the save will say so and offer to keep the text
        self.app.call_from_thread(self._fresh, pair)

    def _fresh(self, pair: Pair) -> None:
        """If the pair changed since the table read it and nothing is typed yet, show it as it is now."""
        if self.pair is None or self._saving or pair.id != self.pair.id or pair.updated == self.pair.updated:
            return
        if pair.deleted is not None or self.editor.dirty:
            return  # trashed, or typed in already: a save shows the difference and lets the user choose
        if editable(pair) != editable(self.pair):
            self.editor.load(pair)
            self.store_changed = True  # the table behind showed an older copy
        self.pair = pair
        self.query_one("#editor-title", Static).update(self._title())

    @property
    def editor(self) -> PairEditor:
        return self.query_one(PairEditor)

    def action_save(self) -> None:
        if self._saving:
            return
        values = self.editor.values()
        if self.pair is not None and not self.editor.dirty:
            self.notify(t("ed.unchanged"))
            self.dismiss(None)
            return
        self._saving = True
        self._save(values)

    @work(thread=True, group="editor-save", exclusive=True)
    def _save(self, values: dict, expected: Pair | None = None, as_new: bool = False) -> None:
        """Write ``values``: over the pair if it is still as ``expected`` (default: as loaded), or as a new pair."""
        try:
            with Store(self.db_path, migrate=False) as store:
                system = values["system"] if values["system"].strip() else None
                if self.pair is None or as_new:
                    split = self.pair.split if self.pair is not None else "train"
                    pair = store.add_pair(
                        values["question"], values["answer"], system=system, tags=values["tags"], split=split, source="tui"
                    )
                else:
                    pair = store.update_pair(
                        self.pair.id,
                        question=values["question"],
                        answer=values["answer"],
                        system=system,
                        tags=values["tags"],
                        expected=expected or self.pair,
                    )
        except PairChanged as exc:
            self.app.call_from_thread(self._conflict, exc, values)
            return
        except UserError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._saved, pair, as_new)

    def _failed(self, message: str) -> None:
        self._saving = False
        self.notify(message, severity="error", timeout=6)

    def _saved(self, pair: Pair, as_new: bool = False) -> None:
        self.notify(t("ed.saved_new" if as_new else "ed.saved", id=pair.id))
        self.dismiss(pair)

    def _conflict(self, exc: PairChanged, values: dict) -> None:
        """The pair changed elsewhere since it was loaded: let the user choose, write nothing until then."""
        self._saving = False
        self.store_changed = True

        def chosen(choice: str | None) -> None:
            if choice == "mine":  # overwrite, but only the version the dialog showed
                self._saving = True
                self._save(values, expected=exc.current)
            elif choice == "new":
                self._saving = True
                self._save(values, as_new=True)
            elif choice == "theirs":
                self.pair = exc.current
                self.editor.load(exc.current)
                self.query_one("#editor-title", Static).update(self._title())
                self.notify(t("ed.reloaded", id=exc.current.id))
                self.editor.query_one("#question", TextArea).focus()
            elif choice == "merge":  # shown, not saved: the user looks, then ctrl+s
                dialog_merge = merged(values, self.pair, exc.current)
                self.pair = exc.current
                self.editor.load(exc.current, dialog_merge)
                self.query_one("#editor-title", Static).update(self._title())
                self.notify(t("ed.merged"))
            elif choice == "discard":
                self.dismiss(None)
            # "keep" (or escape): back to the edit, still measured against what was loaded

        self.app.push_screen(PairConflictScreen(values, self.pair, exc.current), chosen)

    def action_cancel(self) -> None:
        if not self.editor.dirty:
            self.dismiss(None)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen(t("ed.discard"), focus_yes=False), answered)
