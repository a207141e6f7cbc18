"""The command palette (ctrl+p): every action of the app, in the current language."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.i18n import register, t

register(
    ru={
        "cmd.train.start": "Обучение: запустить прогон с настройками формы",
        "cmd.train.cancel": "Обучение: остановить идущий прогон",
        "cmd.train.preview": "Обучение: предпросмотр примеров и токенов",
        "cmd.export.gguf": "Экспорт: прогон или модель в GGUF",
        "cmd.export.chat": "Экспорт и чат: последний прогон рядом с базой",
        "cmd.chat.new": "Чат: новый разговор (n)",
        "cmd.chat.stop": "Чат: остановить ответ (esc)",
        "cmd.chat.correct": "Чат: исправить ответ в новую пару (e)",
        "cmd.chat.prefer": "Чат: этот ответ лучше другой модели (p)",
        "cmd.eval.run": "Оценка: прогнать выбранные модели по оценочной выборке",
        "cmd.eval.worse": "Оценка: только вопросы, где стало хуже",
        "cmd.eval.refresh": "Оценка: обновить таблицу",
        "cmd.approve": "Пары: одобрить (a)",
        "cmd.reject": "Пары: отклонить (x)",
        "cmd.draft": "Пары: вернуть в черновик (u)",
        "cmd.tags": "Пары: теги (t)",
        "cmd.split": "Пары: переключить обуч/пров (s)",
        "cmd.mark": "Пары: отметить строку (пробел)",
        "cmd.mark_all": "Пары: отметить видимые строки",
        "cmd.unmark": "Пары: снять все отметки (U)",
        "cmd.delete": "Пары: удалить в корзину (d)",
        "cmd.undo": "Пары: отменить последнее действие (ctrl+z)",
        "cmd.new": "Пары: новая пара (n)",
        "cmd.edit": "Пары: править пару (enter)",
        "cmd.history": "Пары: история пары (h)",
        "cmd.import": "Пары: импорт (i)",
        "cmd.export": "Пары: экспорт (e)",
        "cmd.search": "Пары: поиск (/)",
        "cmd.clear": "Пары: сбросить поиск и фильтр (esc)",
        "cmd.filter": "Пары: фильтр по статусу, выборке, тегу (f)",
        "cmd.only_draft": "Пары: показать только черновики",
        "cmd.only_approved": "Пары: показать только одобренные",
        "cmd.only_rejected": "Пары: показать только отклонённые",
        "cmd.only_eval": "Пары: показать только проверочную выборку",
        "cmd.sort": "Пары: сортировать по следующему столбцу (o)",
        "cmd.reverse": "Пары: обратный порядок (r)",
        "cmd.stats": "Пары: статистика (g, F2)",
        "cmd.dedup": "Пары: дубли и конфликты (D)",
        "cmd.prefs": "Пары: предпочтения — выбранный и отвергнутый ответы (p)",
        "cmd.teacher": "Пары: черновики от учителя по документу (w)",
        "cmd.tab.pairs": "Перейти: Пары (1)",
        "cmd.tab.train": "Перейти: Обучение (2)",
        "cmd.tab.chat": "Перейти: Чат (3)",
        "cmd.tab.evaluate": "Перейти: Оценка (4)",
        "cmd.lang.ru": "Язык: русский",
        "cmd.lang.en": "Language: English",
        "cmd.help": "Справка: все клавиши (?, F1)",
        "cmd.quit": "Выход (q)",
    },
    en={
        "cmd.train.start": "Train: start a run with the form's settings",
        "cmd.train.cancel": "Train: cancel the running run",
        "cmd.train.preview": "Train: preview examples and tokens",
        "cmd.export.gguf": "Export: a run or a model to GGUF",
        "cmd.export.chat": "Export and chat: the newest run next to its base",
        "cmd.chat.new": "Chat: new conversation (n)",
        "cmd.chat.stop": "Chat: stop the answer (esc)",
        "cmd.chat.correct": "Chat: correct the answer into a new pair (e)",
        "cmd.chat.prefer": "Chat: this answer is better than the other model's (p)",
        "cmd.eval.run": "Evaluate: run the chosen models on the eval split",
        "cmd.eval.worse": "Evaluate: only questions that got worse",
        "cmd.eval.refresh": "Evaluate: refresh the grid",
        "cmd.approve": "Pairs: approve (a)",
        "cmd.reject": "Pairs: reject (x)",
        "cmd.draft": "Pairs: back to draft (u)",
        "cmd.tags": "Pairs: tags (t)",
        "cmd.split": "Pairs: toggle train/eval (s)",
        "cmd.mark": "Pairs: mark the row (space)",
        "cmd.mark_all": "Pairs: mark the visible rows",
        "cmd.unmark": "Pairs: unmark all (U)",
        "cmd.delete": "Pairs: delete to trash (d)",
        "cmd.undo": "Pairs: undo the last action (ctrl+z)",
        "cmd.new": "Pairs: new pair (n)",
        "cmd.edit": "Pairs: edit the pair (enter)",
        "cmd.history": "Pairs: history of the pair (h)",
        "cmd.import": "Pairs: import (i)",
        "cmd.export": "Pairs: export (e)",
        "cmd.search": "Pairs: search (/)",
        "cmd.clear": "Pairs: clear search and filter (esc)",
        "cmd.filter": "Pairs: filter by status, split, tag (f)",
        "cmd.only_draft": "Pairs: show drafts only",
        "cmd.only_approved": "Pairs: show approved only",
        "cmd.only_rejected": "Pairs: show rejected only",
        "cmd.only_eval": "Pairs: show the eval split only",
        "cmd.sort": "Pairs: sort by the next column (o)",
        "cmd.reverse": "Pairs: reverse the order (r)",
        "cmd.stats": "Pairs: statistics (g, F2)",
        "cmd.dedup": "Pairs: duplicates and conflicts (D)",
        "cmd.prefs": "Pairs: preferences — chosen and rejected answers (p)",
        "cmd.teacher": "Pairs: drafts from a teacher, from a document (w)",
        "cmd.tab.pairs": "Go to: Pairs (1)",
        "cmd.tab.train": "Go to: Train (2)",
        "cmd.tab.chat": "Go to: Chat (3)",
        "cmd.tab.evaluate": "Go to: Evaluate (4)",
        "cmd.lang.ru": "Язык: русский",
        "cmd.lang.en": "Language: English",
        "cmd.help": "Help: every key (?, F1)",
        "cmd.quit": "Quit (q)",
    },
)

#: (i18n key, room action) for the actions of the Pairs room
PAIRS_COMMANDS = (
    ("cmd.approve", "approve"),
    ("cmd.reject", "reject"),
    ("cmd.draft", "draft"),
    ("cmd.tags", "tags"),
    ("cmd.split", "toggle_split"),
    ("cmd.mark", "mark"),
    ("cmd.mark_all", "mark_all"),
    ("cmd.unmark", "unmark"),
    ("cmd.delete", "delete"),
    ("cmd.undo", "undo"),
    ("cmd.new", "new_pair"),
    ("cmd.edit", "edit"),
    ("cmd.history", "history"),
    ("cmd.import", "import"),
    ("cmd.export", "export"),
    ("cmd.search", "search"),
    ("cmd.clear", "clear"),
    ("cmd.filter", "filter"),
    ("cmd.sort", "cycle_sort"),
    ("cmd.reverse", "reverse_sort"),
    ("cmd.stats", "toggle_stats"),
    ("cmd.dedup", "dedup"),
    ("cmd.prefs", "preferences"),
    ("cmd.teacher", "teacher_drafts"),
)

#: (room, i18n key, room action) for the actions of the other rooms
ROOM_COMMANDS = (
    ("train", "cmd.train.start", "start"),
    ("train", "cmd.train.cancel", "cancel_run"),
    ("train", "cmd.train.preview", "preview"),
    ("chat", "cmd.chat.new", "new_chat"),
    ("chat", "cmd.chat.stop", "stop"),
    ("chat", "cmd.chat.correct", "correct"),
    ("chat", "cmd.chat.prefer", "prefer"),
    ("evaluate", "cmd.eval.run", "run"),
    ("evaluate", "cmd.eval.worse", "toggle_worse"),
    ("evaluate", "cmd.eval.refresh", "refresh_grid"),
)


def commands(app) -> list[tuple[str, object]]:
    """Every palette entry as (title, callback)."""
    from core.store import PairFilter

    out: list[tuple[str, object]] = [(t(key), partial(app.pairs_action, action)) for key, action in PAIRS_COMMANDS]

    def only(**kw):
        def run():
            app.action_tab("pairs")
            room = app.pairs_room
            room.set_filter(PairFilter(query=room.table.flt.query, **kw))

        return run

    out += [
        (t("cmd.only_draft"), only(status="draft")),
        (t("cmd.only_approved"), only(status="approved")),
        (t("cmd.only_rejected"), only(status="rejected")),
        (t("cmd.only_eval"), only(split="eval")),
    ]
    out += [(t(key), partial(app.room_action, tab, action)) for tab, key, action in ROOM_COMMANDS]
    out += [
        (t("cmd.export.gguf"), app.open_export),
        (t("cmd.export.chat"), partial(app.export_and_chat, None)),
    ]
    for tab in ("pairs", "train", "chat", "evaluate"):
        out.append((t(f"cmd.tab.{tab}"), partial(app.action_tab, tab)))
    out += [
        (t("cmd.lang.ru"), partial(app.set_language, "ru")),
        (t("cmd.lang.en"), partial(app.set_language, "en")),
        (t("cmd.help"), app.action_help),
        (t("cmd.quit"), app.exit),
    ]
    return out


class NastavnikCommands(Provider):
    """Every action of the app; fuzzy-matched as you type."""

    def _commands(self):
        app = self.app
        if not hasattr(app, "pairs_room"):
            return []
        return commands(app)

    async def discover(self) -> Hits:
        for title, callback in self._commands():
            yield DiscoveryHit(title, callback)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title)
