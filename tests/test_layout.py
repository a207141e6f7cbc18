"""House rules that keep the project navigable: core never reaches into the UI, data folders
never shadow installed packages, and the workspace lands where the README says."""

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
    other = tmp_path / "other"
    from tui.cli import main
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["--home", str(other), "pairs", "add", "-q", "В?", "-a", "О."]) == 0
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
