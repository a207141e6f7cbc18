"""House rules that keep the project navigable: core never reaches into the UI, data folders
never shadow installed packages, the workspace lands where the README says, and tests sit by
kind with their helpers in plain modules."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_the_ui():
    offenders = {
        str(p.relative_to(REPO)): sorted(_imports(p) & {"tui", "textual", "textual_plotext", "textual_serve"})
        for p in (REPO / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# ---------------------------------------------------------------------------- tests by kind

TEST_KINDS = {
    "core": "the domain, by stage (store, formats, train, export, infer, eval, loop)",
    "cli": "`nastavnik …` as a script or a person types it",
    "tui": "the app driven with Pilot, and its snapshots",
    "e2e": "the real binary in tmux, `nastavnik serve` in a browser, the demo loop",
}
REPO_CHECKS = {"test_layout.py", "test_constraints.py", "test_bench_smoke.py", "test_docs_links.py"}  # the repository itself


def _test_only_imports(source: str) -> list[str]:
    """The imports of a conftest or a test module in ``source`` (helpers belong in tests/support/)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tests" and any(p == "conftest" or p.startswith("test_") for p in parts[1:]):
                found.append(name)
    return found


def test_the_import_check_sees_conftests_and_test_modules():
    assert _test_only_imports("from tests.export.conftest import run_cli") == ["tests.export.conftest", "tests.export.conftest.run_cli"]
    assert _test_only_imports("from tests.tui import test_tmux") == ["tests.tui.test_tmux"]
    assert _test_only_imports("import tests.conftest") == ["tests.conftest"]
    assert _test_only_imports("from tests.support.cli import run_cli\nimport textual.widgets") == []


def test_nothing_imports_a_conftest_or_another_test_module():
    offenders = {
        str(p.relative_to(REPO)): _test_only_imports(p.read_text(encoding="utf-8"))
        for p in (REPO / "tests").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_test_module_sits_in_the_folder_of_its_kind():
    misplaced = []
    for p in (REPO / "tests").rglob("test_*.py"):
        parts = p.relative_to(REPO / "tests").parts
        if (len(parts) == 1 and parts[0] not in REPO_CHECKS) or (len(parts) > 1 and parts[0] not in TEST_KINDS):
            misplaced.append("/".join(parts))
    assert misplaced == [], f"test modules go under tests/{{{','.join(TEST_KINDS)}}}/ (tests/test_layout.py)"


def test_datasets_folder_does_not_shadow_the_datasets_package():
    assert not (REPO / "datasets" / "__init__.py").exists()


def test_workspace_location(tmp_path, monkeypatch):
    from core.workspace import Workspace, default_home

    monkeypatch.delenv("NASTAVNIK_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "nastavnik"
    monkeypatch.setenv("NASTAVNIK_HOME", str(tmp_path / "env"))
    assert default_home() == tmp_path / "env"
    ws = Workspace.open(tmp_path / "flag")
    assert ws.home == (tmp_path / "flag").resolve()
    for sub in ("models", "runs", "exports"):
        assert (ws.home / sub).is_dir()
    ws.update_settings(lang="ru")
    assert Workspace.open(tmp_path / "flag").setting("lang") == "ru"


def test_home_flag_wins_over_environment(cli, home, tmp_path):
    from tests.support.cli import run_cli

    other = tmp_path / "other"
    assert run_cli(other, "pairs", "add", "-q", "В?", "-a", "О.").code == 0
    assert (other / "nastavnik.db").exists()
    assert cli("pairs", "list", "--json").json() == []


def _core_imports(path: Path) -> set[str]:
    """The core modules ``path`` imports, at any depth of the file (lazy imports count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("core."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("core."):
            names.add(node.module)
    return names


def test_inference_sits_below_evaluation_and_the_loop():
    """core/infer runs models and knows nothing of what they are used for; core/eval scores
    answers and never reaches into the teaching loop (core/loop), which may use both."""
    rules = {"infer": ("core.eval", "core.loop"), "eval": ("core.loop",)}
    offenders = {}
    for package, banned in rules.items():
        for p in (REPO / "core" / package).rglob("*.py"):
            bad = sorted(m for m in _core_imports(p) if m.startswith(banned))
            if bad:
                offenders[str(p.relative_to(REPO))] = bad
    assert offenders == {}


# ---------------------------------------------------------------------------- the TUI's layers

TUI = REPO / "tui"


def _modules_imported(source: str) -> set[str]:
    """Every module ``source`` imports by its full dotted name, wherever the import sits (a
    function, ``if TYPE_CHECKING``): a layer is crossed by a lazy import too."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _crossings(module: str, imported: set[str]) -> list[str]:
    """The imports of ``module`` (``tui.widgets.pair_table``) that reach above its layer: a widget
    imports no room, dialog or app; a dialog no room or app; a room no other room."""
    parts = module.split(".")
    above = {"widgets": ("tui.rooms", "tui.dialogs", "tui.app"), "dialogs": ("tui.rooms", "tui.app")}.get(parts[1], ())
    found = [name for name in imported if any(name == a or name.startswith(a + ".") for a in above)]
    if parts[1] == "rooms" and len(parts) > 2:
        own = f"tui.rooms.{parts[2]}"
        found += [name for name in imported if name.startswith("tui.rooms.") and not (name == own or name.startswith(own + "."))]
    return sorted(found)


def test_the_layer_check_sees_each_crossing():
    assert _crossings("tui.widgets.pair_editor", _modules_imported("from tui.dialogs.conflict import merged")) == [
        "tui.dialogs.conflict", "tui.dialogs.conflict.merged"]
    assert _crossings("tui.widgets.x", _modules_imported("def f():\n    import tui.app")) == ["tui.app"]
    assert _crossings("tui.dialogs.compare", _modules_imported("from tui.rooms import evaluate")) == [
        "tui.rooms", "tui.rooms.evaluate"]
    assert _crossings("tui.dialogs.compare", _modules_imported("import tui.rooms.evaluate")) == ["tui.rooms.evaluate"]
    assert _crossings("tui.rooms.evaluate", _modules_imported("from tui.rooms.chat import saved_note")) == [
        "tui.rooms.chat", "tui.rooms.chat.saved_note"]
    assert _crossings("tui.rooms.train.room", _modules_imported("from tui.rooms.train.setup import TrainSetup")) == []
    assert _crossings("tui.dialogs.dedup", _modules_imported("from tui.dialogs.merge import MergeScreen\nimport tui.widgets")) == []


def test_tui_layers():
    """Widgets import nothing above them, dialogs no room or app, rooms never another room."""
    offenders = {}
    for path in TUI.rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        found = _crossings(module, _modules_imported(path.read_text(encoding="utf-8")))
        if found:
            offenders[module] = found
    assert offenders == {}


def _inline_css(source: str) -> list[str]:
    """The class attributes ``DEFAULT_CSS`` / ``CSS`` that ``source`` writes as a string literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                targets = item.targets if isinstance(item, ast.Assign) else [item.target] if isinstance(item, ast.AnnAssign) else []
                value = getattr(item, "value", None)
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in ("DEFAULT_CSS", "CSS") and isinstance(value, (ast.Constant, ast.JoinedStr)):
                        found.append(f"{node.name}.{target.id}")
    return found


def test_the_css_check_sees_an_inline_block():
    assert _inline_css('class A:\n    DEFAULT_CSS = """\n    A { height: 1; }\n    """') == ["A.DEFAULT_CSS"]
    assert _inline_css('class B:\n    CSS = "B { width: 2; }"') == ["B.CSS"]
    assert _inline_css("class C:\n    DEFAULT_CSS = sibling_css(__file__)") == []


def test_no_module_under_tui_has_an_inline_css_block():
    """Styles live in sibling .tcss files (tui/styles.py says how each kind of class loads them)."""
    offenders = {str(p.relative_to(REPO)): _inline_css(p.read_text(encoding="utf-8")) for p in TUI.rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_sibling_stylesheet_belongs_to_a_module():
    """A .tcss under tui/ sits beside the module that loads it (app.tcss beside app.py)."""
    orphans = [str(p.relative_to(REPO)) for p in TUI.rglob("*.tcss") if not p.with_suffix(".py").is_file()]
    assert orphans == []
