"""The stack the suite runs on is the one constraints.txt pins (what `make` installs everywhere).

constraints.requires.json (written by `make constraints`, tools/constraints.py) records what every
pinned package requires on each target the file must install on: this machine, and Linux x86-64
with PyPI's CUDA torch for Python 3.11 and 3.14. These tests check it offline, in well under a
second: a pin that one target cannot install (triton==3.9.0 beside the CUDA torch, issue 21)
fails here, not on the user's GPU box.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
RECORD = REPO / "constraints.requires.json"
# removed by the install step where its wheel cannot work with the installed torch build (Makefile)
REMOVABLE = {"torchvision", "xformers"}
PYTHONS = ("3.11", "3.12", "3.13", "3.14")


def _tool(name: str):
    """A script from tools/ as a module (tools/ is not a package: the Makefile runs them)."""
    spec = importlib.util.spec_from_file_location(f"nastavnik_tools_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


tool = _tool("constraints")
xformers_check = _tool("stale_xformers")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    return tool.read_pins(CONSTRAINTS.read_text(encoding="utf-8"))


def record() -> dict:
    return json.loads(RECORD.read_text(encoding="utf-8"))


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def roots() -> list[str]:
    """pyproject's dependencies and every extra: what `make install` asks pip for."""
    return tool.project_requirements(project())[0]


def test_every_pin_satisfies_what_every_pinned_package_requires_on_every_target():
    problems = tool.unmet(record(), pins(), roots())
    assert not problems, "\n".join(problems) + "\n— run `make constraints`"


def test_the_check_catches_a_pin_one_target_cannot_install():
    """The conflict of issue 21: triton 3.9.0 installs beside the CPU torch, not beside PyPI's CUDA one."""
    broken = pins() | {"triton": "3.9.0"}
    problems = tool.unmet(record(), broken, roots())
    about_torch = [p for p in problems if "torch 2.13.0 requires triton==3.7.1" in p]
    assert sorted(p.split(":", 1)[0] for p in about_torch) == ["cuda-cp311", "cuda-cp314"], problems
    assert all("pins triton==3.9.0" in p for p in about_torch)
    # the CPU torch needs no triton, and Unsloth's triton>=3.0.0 takes 3.9.0: only the pin itself differs there
    assert [p for p in problems if p.startswith("local-")] == [
        "local-cp311: triton 3.7.1 is recorded, constraints.txt pins 3.9.0"]


def test_the_check_catches_a_requirement_nothing_pins():
    unpinned = {name: version for name, version in pins().items() if name != "filelock"}
    problems = tool.unmet(record(), unpinned, roots())
    assert any("torch 2.13.0 requires filelock, and filelock is not pinned" in p for p in problems), problems


def test_a_requirement_whose_marker_is_false_on_a_target_is_not_checked_there():
    """Unsloth's triton-windows line holds on Windows only: no target here needs it pinned."""
    unsloth = record()["targets"]["cuda-cp311"]["packages"]["unsloth"]
    assert any(line.startswith("triton-windows") for line in unsloth["requires_dist"])
    assert "triton-windows" not in pins()


def test_every_pin_is_installed_by_some_target():
    recorded = {name for target in record()["targets"].values() for name in target["packages"]}
    assert not set(pins()) - recorded, "pins no target installs: run `make constraints`"


def test_the_record_is_as_make_constraints_writes_it():
    data = record()
    assert RECORD.read_text(encoding="utf-8") == json.dumps(data, indent=1, sort_keys=True) + "\n"
    assert data["extras"] == sorted(project()["project"]["optional-dependencies"])
    for target in data["targets"].values():
        assert set(target["environment"]) == set(tool.ENV_KEYS)


def test_python_3_11_to_3_14_are_allowed_and_each_target_is_one_of_them():
    allowed = SpecifierSet(project()["project"]["requires-python"])
    assert [v for v in ("3.10", *PYTHONS, "3.15") if v in allowed] == list(PYTHONS)
    versions = {name: t["environment"]["python_version"] for name, t in record()["targets"].items()}
    assert set(versions.values()) <= set(PYTHONS), versions
    assert {versions.get("cuda-cp311"), versions.get("cuda-cp314")} == {"3.11", "3.14"}, versions


def test_every_python_release_pyproject_admits_can_install_every_pin():
    """pip resolves 3.14, not 3.14.1; networkx 3.6.1 and torchvision 0.28.0 refuse 3.14.1 alone."""
    problems = tool.python_problems(record(), project()["project"]["requires-python"])
    assert not problems, "\n".join(problems) + "\n— refuse those releases in pyproject.toml's requires-python"


def test_the_python_check_catches_a_release_one_pin_refuses():
    data = record()
    packages = data["targets"]["cuda-cp314"]["packages"]
    packages["networkx"] = packages["networkx"] | {"requires_python": ">=3.11,!=3.13.4"}
    problems = tool.python_problems(data, ">=3.11,<3.15,!=3.14.1")
    assert len(problems) == 1 and problems[0].startswith("networkx ") and problems[0].endswith("not 3.13.4"), problems


def _this_target() -> dict:
    """The recorded target that describes this venv: the same torch build, this Python if recorded."""
    torch = metadata.version("torch")
    python = default_environment()["python_version"]
    same_build = [t for t in record()["targets"].values() if t["packages"]["torch"]["version"] == torch]
    assert same_build, f"torch {torch} is installed, and no target of constraints.requires.json has it"
    return next((t for t in same_build if t["environment"]["python_version"] == python), same_build[0])


def _needed_here(target: dict) -> set[str]:
    """The packages pyproject's requirements lead to in this interpreter, through the recorded metadata."""
    packages, environment = target["packages"], default_environment()
    needed, todo = set(), [r for r in map(Requirement, roots()) if tool.applies(r, environment, [])]
    while todo:
        name = _norm(todo.pop().name)
        if name in needed:
            continue
        needed.add(name)
        info = packages[name]
        todo += [Requirement(line) for line in info["requires_dist"]
                 if tool.applies(Requirement(line), environment, info["requested_extras"])]
    return needed


def test_every_package_this_venv_needs_is_installed_at_its_pin():
    p, wrong = pins(), []
    for name in sorted(_needed_here(_this_target()) - REMOVABLE):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}=={p[name]} is not installed")
            continue
        if installed.split("+", 1)[0] != p[name]:  # a local label (+cpu, +cu130) is the build, not the version
            wrong.append(f"{name}: {installed} installed, {p[name]} pinned")
    assert not wrong, "; ".join(wrong) + " — run `make install` (or refresh the file with `make constraints`)"


def test_the_unsloth_stack_is_pinned_together():
    p = pins()
    for name in ("torch", "transformers", "trl", "datasets", "peft", "accelerate", "bitsandbytes", "unsloth", "unsloth-zoo",
                 "llama-cpp-python", "textual"):
        assert name in p, f"{name} is not pinned"
    assert p["unsloth"] == p["unsloth-zoo"]
    major_minor = tuple(int(x) for x in p["transformers"].split(".")[:2])
    assert major_minor <= (5, 17), "Unsloth 2026.10 supports transformers up to 5.17"


def test_pyproject_pins_agree_with_the_constraints():
    p = pins()
    for dep in roots():
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;,]+).*", dep)
        if m:
            assert p.get(_norm(m[1])) == m[2], f"pyproject pins {m[1]}=={m[2]}, constraints.txt {p.get(_norm(m[1]))}"


def _fake_xformers(tmp_path: Path, built_for: str | None, extension: bool = True) -> Path:
    package = tmp_path / "xformers"
    package.mkdir()
    if extension:
        (package / "_C.so").write_bytes(b"")
    if built_for is not None:
        (package / "cpp_lib.json").write_text(json.dumps({"version": {"torch": built_for, "cuda": 1208}}))
    return package


@pytest.mark.parametrize(("built_for", "extension", "torch", "stale"), [
    ("2.10.0+cu128", True, "2.13.0+cu130", True),   # PyPI's xformers 0.0.35 beside PyPI's torch 2.13
    ("2.10.0+cu128", True, "2.13.0+cpu", True),     # ... and beside the CPU torch
    ("2.13.0+cu130", True, "2.13.0+cu130", False),  # compiled for this torch: it stays
    (None, False, "2.13.0+cu130", True),            # a pure-Python build: nothing Unsloth can load
])
def test_xformers_goes_when_compiled_for_another_torch(tmp_path, built_for, extension, torch, stale):
    reason = xformers_check.stale_reason(_fake_xformers(tmp_path, built_for, extension), torch)
    assert (reason is not None) == stale, reason


def test_no_xformers_compiled_for_another_torch_is_installed():
    package = xformers_check.installed_xformers()
    if package is not None:
        import torch

        reason = xformers_check.stale_reason(package, torch.__version__)
        assert reason is None, f"{reason} — run `make install` (its step fix-xformers removes it)"
