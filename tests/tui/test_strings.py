"""The strings tables: one per language, the same keys in both, none twice, every key used exists.

A dict literal keeps the last of two equal keys without a word, so the tables' source is read
with ``ast``; the keys ``t("…")`` is called with across ``tui/`` must all be in the table (a
missing one shows its key to the user).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from tui.i18n import set_lang, t
from tui.strings.en import STRINGS as EN
from tui.strings.ru import STRINGS as RU

TUI = Path(__file__).resolve().parents[2] / "tui"


def _table_keys(lang: str) -> list[str]:
    tree = ast.parse((TUI / "strings" / f"{lang}.py").read_text(encoding="utf-8"))
    tables = [n.value for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign)) and isinstance(n.value, ast.Dict)]
    assert len(tables) == 1, f"{lang}.py holds one dict"
    return [ast.literal_eval(k) for k in tables[0].keys]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_no_key_is_defined_twice(lang):
    twice = [k for k, n in Counter(_table_keys(lang)).items() if n > 1]
    assert not twice, twice


def test_both_languages_have_the_same_keys():
    assert set(EN) - set(RU) == set(), "only in English"
    assert set(RU) - set(EN) == set(), "only in Russian"


def test_no_module_registers_strings_of_its_own():
    offenders = [str(p.relative_to(TUI)) for p in TUI.rglob("*.py") if "register(ru=" in p.read_text(encoding="utf-8")
                 or "\nregister(\n" in p.read_text(encoding="utf-8")]
    assert not offenders


def _literal_keys() -> set[tuple[str, str]]:
    """(file, key) for every ``t("key"…)`` call with a literal key in tui/."""
    out = set()
    for path in TUI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                out.add((str(path.relative_to(TUI)), node.args[0].value))
    return out


def test_every_literal_key_used_exists():
    used = _literal_keys()
    assert len(used) > 300  # the scan finds the calls
    missing = sorted((f, k) for f, k in used if k not in EN)
    assert not missing, missing


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_model_export_and_the_pairs_export_keep_their_own_words(lang):
    try:
        set_lang(lang)
        assert t("export_model.title") != t("import_export.export.title")
        assert t("export_model.run") != t("import_export.export.run")
    finally:
        set_lang("en")
