"""What an undone action was, in the UI's language.

The store writes each action's summary in English ("edit pair 229", "tag основы on 3"), and the
CLI prints it so. The app's undo notices read the same action: each summary the store writes
has a pattern here, and its parts fill the entry ``action.<name>`` of the strings table. A
summary no pattern knows is shown as the store wrote it.
"""

from __future__ import annotations

import re

from tui.i18n import has, t

_N = r"(?P<n>\d+)"
_ID = r"(?P<id>\d+)"
_IDS = r"(?:: (?P<ids>.*))?"

# (action name in the strings table, the summary's pattern), as core/store writes them
PATTERNS: list[tuple[str, re.Pattern]] = [
    (name, re.compile(pattern + r"$"))
    for name, pattern in [
        ("add_pair", rf"add pair {_ID}(?: \+ preference (?P<pref>\d+))?"),
        ("add_preference", rf"add preference {_ID}"),
        ("import_pairs", rf"import {_N} pairs"),
        ("import_preferences", rf"import {_N} preferences?"),
        ("edit", rf"edit pair {_ID}"),
        ("trash", rf"trash {_N}{_IDS}"),
        ("merge", rf"merge into pair {_ID}, trash {_N}{_IDS}"),
        ("keep", rf"keep pair {_ID}, trash {_N}{_IDS}"),
        ("delete_preferences", rf"delete {_N} preferences?{_IDS}"),
        ("restore_preferences", rf"restore {_N} preferences?{_IDS}"),
        ("delete", rf"delete {_N}"),
        ("restore", rf"restore {_N}"),
        ("status", rf"mark {_N} as (?P<status>\w+)"),
        ("split_to", rf"move {_N} to (?P<split>\w+)"),
        ("toggle_split", rf"toggle split of {_N}"),
        ("split_random", rf"split {_N}: (?P<eval>\d+) to eval"),
        ("tag", rf"tag (?P<tags>.*) on {_N}"),
        ("untag", rf"untag (?P<tags>.*) on {_N}"),
        ("tags", rf"tags (?P<tags>.*) on {_N}"),
        ("revert", rf"revert pair {_ID} to revision (?P<rev>\d+)"),
        ("draft", rf"teacher draft for pair {_ID}"),
    ]
]


def action_text(summary: str) -> str:
    """The store's summary of an action in the UI's language ("edit pair 229" → «правка пары 229»)."""
    for name, pattern in PATTERNS:
        match = pattern.match(summary)
        if match is None:
            continue
        values = {k: v for k, v in match.groupdict().items() if v is not None}
        if "status" in values and has(f"stats.status.{values['status']}"):
            values["status"] = t(f"stats.status.{values['status']}")
        if "split" in values and has(f"stats.split.{values['split']}"):
            values["split"] = t(f"stats.split.{values['split']}")
        text = t(f"action.{name}", **{k: v for k, v in values.items() if k not in ("ids", "pref")})
        if values.get("pref"):
            text += t("action.and_preference", id=values["pref"])
        if values.get("ids"):
            text += f": {values['ids']}"
        return text
    return summary
