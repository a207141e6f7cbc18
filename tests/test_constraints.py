"""The stack the suite runs on is the one constraints.txt pins (what `make` installs everywhere)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
# removed by the install step where its wheel does not import against the torch build (Makefile)
REMOVABLE = {"torchvision"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    out = {}
    for n, line in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        assert m, f"constraints.txt line {n}: {line!r} is not NAME==VERSION"
        out[_norm(m[1])] = m[2]
    return out


def test_every_pinned_package_is_installed_at_its_pinned_version():
    wrong = []
    for name, version in pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name not in REMOVABLE:
                wrong.append(f"{name}=={version} is not installed")
            continue
        if installed.split("+", 1)[0] != version:  # a local label (+cpu, +cu128) is the build, not the version
            wrong.append(f"{name}: {installed} installed, {version} pinned")
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
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = list(project["dependencies"]) + [d for extra in project["optional-dependencies"].values() for d in extra]
    p = pins()
    for dep in deps:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;,]+).*", dep)
        if m:
            assert p.get(_norm(m[1])) == m[2], f"pyproject pins {m[1]}=={m[2]}, constraints.txt {p.get(_norm(m[1]))}"
