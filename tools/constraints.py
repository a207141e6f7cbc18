"""Resolve constraints.txt for every machine it must install on, and record why each pin holds.

Why this exists: constraints.txt used to be a `pip freeze` of a scratch venv on the CPU machine
we develop on, whose pip settings add a local CPU torch wheel that needs no triton. PyPI's
Linux torch (a CUDA build) pins triton exactly, so the frozen `triton==3.9.0` made the stack
impossible to install on every GPU box (issue 21). One file must hold on all of these targets:

- ``local``: this machine, resolved the way ``make install`` installs (its pip settings, ``-e .``);
  here that is the CPU torch;
- ``cuda-cp311`` and ``cuda-cp314``: Linux x86-64 with PyPI's CUDA torch, for the oldest and the
  newest Python that pyproject.toml admits. pip resolves these without installing anything:
  ``--dry-run --report`` with ``--platform``, ``--python-version`` and ``--only-binary=:all:``,
  isolated from this machine's pip settings. (It reads only the metadata where the index serves
  it apart, as pypi.org does; from an index that does not, it downloads the wheels to read it.)

pip evaluates dependency markers (``python_version >= "3.12"``) against the interpreter it runs
on, not against ``--python-version`` (its own report says so: pip/_internal/models/
installation_report.py). So for a target that is not this interpreter, pip runs with its marker
environment replaced by the target's.

The pins are kept where they still resolve; a pin that a target cannot install (pip names it in
its conflict) is re-resolved and the change is printed with pip's reason. ``--upgrade`` starts
from pyproject.toml's ranges instead. The targets are resolved until all agree on one version of
every package; if they cannot, this exits 1 naming the package and each target's version.

constraints.requires.json records, per target, its marker environment and what every pinned
package requires there; tests/test_constraints.py checks offline that the pins satisfy it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ModuleNotFoundError:  # a fresh venv has pip, whose vendored copy is what pip resolves with
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
RECORD = REPO / "constraints.requires.json"
PYPROJECT = REPO / "pyproject.toml"
# the marker variables a record keeps; platform_release and platform_version describe a kernel
# build, not a target, and would make the file differ from machine to machine
ENV_KEYS = ("implementation_name", "implementation_version", "os_name", "platform_machine",
            "platform_python_implementation", "platform_system", "python_full_version",
            "python_version", "sys_platform")
# glibc 2.17 (manylinux2014) to 2.35 (Ubuntu 22.04): a GPU box at least that new takes these
# wheels. pip does not expand an explicit --platform into the older manylinux tags: all are given.
GLIBC_MINORS = range(17, 36)
LEGACY_MANYLINUX = ("manylinux2014", "manylinux2010", "manylinux1")
# on PyPI as a source archive only: pip --platform cannot build it, so its metadata is read here
# (pip builds the metadata only) and its requirements join the targets' own
SDIST_ONLY = ("llama-cpp-python",)
MAX_ROUNDS = 4
PROJECT_NAME = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["name"]

# Runs pip with the target's marker environment (argv[1], JSON; "null" keeps this interpreter's).
# Patched before pip's modules import it, so the resolver and the report both see the target.
PIP_RUNNER = """
import json, sys
env = json.loads(sys.argv[1])
if env:
    from pip._vendor.packaging import markers
    markers.default_environment = lambda: dict(env)
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


class ConstraintsError(SystemExit):
    """A failure `make constraints` reports in plain words (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"make constraints: {message}")


@dataclass(frozen=True)
class Target:
    """One machine the pins must install on; ``python`` None: this interpreter, as it is."""

    name: str
    description: str
    python: str | None = None

    def environment(self) -> dict[str, str] | None:
        """The marker environment pip must see, or None for this interpreter's own."""
        if self.python is None:
            return None
        full = f"{self.python}.0"
        return {"implementation_name": "cpython", "implementation_version": full, "os_name": "posix",
                "platform_machine": "x86_64", "platform_python_implementation": "CPython",
                "platform_release": "", "platform_system": "Linux", "platform_version": "",
                "python_full_version": full, "python_version": self.python, "sys_platform": "linux"}

    def pip_args(self) -> list[str]:
        """The platform options of this target (none for this machine)."""
        if self.python is None:
            return []
        abi = "cp" + self.python.replace(".", "")
        platforms = [f"manylinux_2_{m}_x86_64" for m in reversed(GLIBC_MINORS)]
        platforms += [f"{tag}_x86_64" for tag in LEGACY_MANYLINUX]
        args = ["--isolated", "--only-binary=:all:", "--python-version", self.python,
                "--implementation", "cp", "--abi", abi]
        for platform in platforms:
            args += ["--platform", platform]
        return args


def local_target() -> Target:
    """This machine as `make install` sees it: the interpreter running this script, its pip settings."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return Target(f"local-{tag}", "this machine with its pip settings, as `make install` installs (-e .)")


def cuda_target(python: str) -> Target:
    """Linux x86-64 with PyPI's (CUDA) torch for one Python version."""
    tag = "cp" + python.replace(".", "")
    return Target(f"cuda-{tag}", f"Linux x86-64, PyPI's CUDA torch, CPython {python}, glibc >= 2.17", python)


def norm(name: str) -> str:
    """The one spelling of a package name used as a key everywhere (PEP 503)."""
    return str(canonicalize_name(name))


def public(version: str) -> str:
    """A version without its local label: +cpu or +cu130 names a build, and a pin matches both."""
    return str(Version(version).public)


def read_pins(text: str) -> dict[str, str]:
    """NAME==VERSION lines of a constraints file (comments and blank lines skipped)."""
    pins = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if not match:
            raise ConstraintsError(f"constraints.txt line {number}: {line!r} is not NAME==VERSION")
        pins[norm(match[1])] = match[2]
    return pins


def header(text: str) -> str:
    """The comment block that opens constraints.txt: kept as it is when the pins are rewritten."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def project_requirements(pyproject: dict) -> tuple[list[str], list[str]]:
    """pyproject's dependencies and every optional extra (what `make install` asks for), and the extras."""
    project = pyproject["project"]
    extras = sorted(project.get("optional-dependencies", {}))
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return requirements, extras


def requires_python(pyproject: Path) -> str:
    """The Python versions the project admits (pyproject.toml's requires-python)."""
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["requires-python"]


def exact_names(requirements: list[str]) -> set[str]:
    """Packages the project itself pins with ==: dropping their constraint cannot resolve a conflict."""
    names = set()
    for line in requirements:
        req = Requirement(line)
        if any(spec.operator == "==" for spec in req.specifier):
            names.add(norm(req.name))
    return names


def applies(req: Requirement, environment: dict[str, str], extras: list[str]) -> bool:
    """Whether a requirement holds in a target for the extras requested of its package (as pip decides)."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**environment, "extra": extra}) for extra in (extras or [""]))


def kept_requirements(lines: list[str], environment: dict[str, str], extras: list[str]) -> list[str]:
    """requires_dist without the lines only an unrequested extra needs (keeps the record small).

    Lines whose platform or Python marker is false stay: the test evaluates them, as pip does.
    """
    kept = []
    for line in lines:
        req = Requirement(line)
        if req.marker is not None and "extra" in str(req.marker) and not applies(req, environment, extras):
            continue
        kept.append(line)
    return kept


def run_pip(target: Target, requirements: list[str], pins: dict[str, str],
            extra_args: list[str]) -> tuple[dict | None, str]:
    """One `pip install --dry-run --report` for a target: its report, or None and pip's output."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())), encoding="utf-8")
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-c", PIP_RUNNER, json.dumps(target.environment()), "install", "--dry-run",
                   "--ignore-installed", "--disable-pip-version-check", "--report", str(report),
                   "-c", str(constraints), *target.pip_args(), *extra_args, *requirements]
        env = dict(os.environ)
        if target.python is not None:
            env["PIP_CONFIG_FILE"] = os.devnull  # --isolated still reads the machine-wide pip.conf
            if os.environ.get("PIP_CERT"):  # --isolated ignores PIP_*: keep trusting this machine's CA
                command += ["--cert", os.environ["PIP_CERT"]]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
        if proc.returncode != 0:
            return None, proc.stdout + proc.stderr
        return json.loads(report.read_text(encoding="utf-8")), ""


def conflict_lines(output: str) -> str:
    """The part of pip's failure that says why (its conflict or the missing distribution), indented."""
    why = r"requested|depends on|No matching distribution|Could not find a version|ERROR"
    keep = [line.strip() for line in output.splitlines() if re.search(why, line)]
    return "\n".join(f"    {line}" for line in keep[:20]) or output.strip()[-2000:]


def culprit_pins(output: str, pins: dict[str, str], fixed: set[str]) -> set[str]:
    """Pins pip names as the cause of a failure that dropping would let it re-resolve."""
    names = re.findall(r"The user requested \(constraint\) ([A-Za-z0-9_.-]+)", output)
    names += re.findall(r"No matching distribution found for ([A-Za-z0-9_.-]+)", output)
    names += re.findall(r"Could not find a version that satisfies the requirement ([A-Za-z0-9_.-]+)", output)
    return {norm(n) for n in names if norm(n) in pins and norm(n) not in fixed}


def report_environment(report: dict, target: Target) -> dict[str, str]:
    """The marker environment pip resolved with; refuses a report whose environment is not the target's."""
    environment = {key: report["environment"][key] for key in ENV_KEYS}
    wanted = target.environment()
    if wanted is not None and any(environment[k] != wanted[k] for k in ENV_KEYS):
        raise ConstraintsError(f"{target.name}: pip resolved with the marker environment {environment}, not the "
                               "target's; this pip's internals changed (tools/constraints.py, PIP_RUNNER)")
    return environment


def requested_extras(items: list[dict], environment: dict[str, str]) -> dict[str, set[str]]:
    """The extras asked of each package in a report, by the user or by a package that requires it.

    pip's report carries only the user's (``requested_extras`` of the top-level items), so the
    extras a package's own requirements ask for (fsspec[http], cuda-toolkit[cublas, ...]) are
    followed here, until no requirement adds one.
    """
    extras = {norm(i["metadata"]["name"]): {norm(e) for e in i.get("requested_extras") or []} for i in items}
    changed = True
    while changed:
        changed = False
        for item in items:
            own = sorted(extras[norm(item["metadata"]["name"])])
            for line in item["metadata"].get("requires_dist") or []:
                req = Requirement(line)
                dep = norm(req.name)
                wanted = {norm(e) for e in req.extras}
                if dep in extras and applies(req, environment, own) and not wanted <= extras[dep]:
                    extras[dep] |= wanted
                    changed = True
    return extras


def packages_of(report: dict, environment: dict[str, str]) -> dict[str, dict]:
    """What a pip report would install: name → version, requirements there, requested extras."""
    extras = requested_extras(report["install"], environment)
    out = {}
    for item in report["install"]:
        meta = item["metadata"]
        name = norm(meta["name"])
        if name == norm(PROJECT_NAME):
            continue
        out[name] = {
            "version": meta["version"],
            "requires_python": meta.get("requires_python") or "",
            "requested_extras": sorted(extras[name]),
            "requires_dist": kept_requirements(meta.get("requires_dist") or [], environment, sorted(extras[name])),
        }
    return out


@dataclass
class Resolver:
    """Resolves the targets until they agree on one version of every package."""

    requirements: list[str]
    extras: list[str]
    fixed: set[str]
    pins: dict[str, str]
    log: list[str]

    def sdist_packages(self) -> dict[str, dict]:
        """Metadata of the source-only packages, read on this machine (pip builds only the metadata)."""
        wanted = [r for r in self.requirements if norm(Requirement(r).name) in SDIST_ONLY]
        if not wanted:
            return {}
        report, error = run_pip(local_target(), wanted, self.pins, ["--no-deps"])
        if report is None:
            raise ConstraintsError(f"cannot read the metadata of {', '.join(wanted)}:\n{conflict_lines(error)}")
        return packages_of(report, report_environment(report, local_target()))

    def roots(self, target: Target, sdists: dict[str, dict]) -> tuple[list[str], list[str]]:
        """What pip is asked for: `-e .` here; elsewhere the project's requirements, with each
        source-only package replaced by what it requires."""
        if target.python is None:
            return [], ["-e", f".[{','.join(self.extras)}]"]
        roots = [r for r in self.requirements if norm(Requirement(r).name) not in SDIST_ONLY]
        for package in sdists.values():
            roots += package["requires_dist"]
        return roots, []

    def resolve(self, target: Target, sdists: dict[str, dict]) -> dict:
        """Resolve one target under the current pins, re-resolving the pins pip names as the conflict."""
        roots, extra_args = self.roots(target, sdists)
        dropped: set[str] = set()
        started = time.monotonic()
        while True:
            pins = {n: v for n, v in self.pins.items() if n not in dropped}
            report, error = run_pip(target, roots, pins, extra_args)
            if report is not None:
                break
            culprits = culprit_pins(error, pins, self.fixed)
            if not culprits:
                raise ConstraintsError(f"{target.name} ({target.description}) cannot install the stack:\n"
                                       f"{conflict_lines(error)}")
            for name in sorted(culprits):
                self.log.append(f"{target.name}: {name}=={pins[name]} does not install there, so it is re-resolved; "
                                f"pip said:\n{conflict_lines(error)}")
                print(f"  {self.log[-1]}", flush=True)
            dropped |= culprits
        environment = report_environment(report, target)
        packages = packages_of(report, environment)
        if target.python is not None:
            packages.update({n: p for n, p in sdists.items() if applies_root(n, self.requirements, environment)})
        seconds = round(time.monotonic() - started, 1)
        print(f"  {target.name}: {len(packages)} packages in {seconds} s", flush=True)
        return {"description": target.description, "environment": environment, "packages": packages}


def applies_root(name: str, requirements: list[str], environment: dict[str, str]) -> bool:
    """Whether the project asks for a package in a target (a root requirement whose marker holds)."""
    return any(norm(Requirement(r).name) == name and applies(Requirement(r), environment, [])
               for r in requirements)


def disagreements(results: dict[str, dict], pins: dict[str, str]) -> list[str]:
    """Packages a target resolved at another version than the pins: one line each."""
    out = []
    for name, result in results.items():
        for package, info in result["packages"].items():
            if public(info["version"]) != pins.get(package):
                out.append(f"{package}: {name} needs {public(info['version'])}, the pins say {pins.get(package)}")
    return out


def agree(resolver: Resolver, targets: list[Target]) -> dict[str, dict]:
    """Resolve every target, then again those that disagree with a later one, until all agree."""
    sdists = resolver.sdist_packages()
    results: dict[str, dict] = {}
    for round_number in range(1, MAX_ROUNDS + 1):
        stale = [t for t in targets
                 if t.name not in results or disagreements({t.name: results[t.name]}, resolver.pins)]
        if not stale:
            return results
        print(f"round {round_number}: resolving {', '.join(t.name for t in stale)}", flush=True)
        for target in stale:
            results[target.name] = resolver.resolve(target, sdists)
            for package, info in results[target.name]["packages"].items():
                resolver.pins[package] = public(info["version"])
    lines = disagreements(results, resolver.pins)
    if lines:
        raise ConstraintsError("the targets need different versions, no one file can hold on all of them:\n  "
                               + "\n  ".join(lines))
    return results


def unmet(record: dict, pins: dict[str, str], roots: list[str] | None = None) -> list[str]:
    """Every requirement that holds in a recorded target and that the pins do not satisfy.

    ``roots``: the project's own requirements, checked in every target too. Used by `make
    constraints` before it writes anything and by tests/test_constraints.py, offline.
    """
    problems = []
    for target, data in sorted(record["targets"].items()):
        scope = Scope(target, data["environment"], pins, data["packages"])
        checks = [(f"{PROJECT_NAME} (pyproject.toml)", line, []) for line in roots or []]
        for name, info in sorted(scope.packages.items()):
            if pins.get(name) != public(info["version"]):
                problems.append(f"{target}: {name} {info['version']} is recorded, "
                                f"constraints.txt pins {pins.get(name)}")
            checks += [(f"{name} {pins.get(name)}", line, info["requested_extras"]) for line in info["requires_dist"]]
        problems += [p for who, line, extras in checks if (p := scope.problem(who, Requirement(line), extras))]
    return problems


@dataclass(frozen=True)
class Scope:
    """One recorded target and the pins checked against it."""

    target: str
    environment: dict[str, str]
    pins: dict[str, str]
    packages: dict[str, dict]

    def problem(self, who: str, req: Requirement, extras: list[str]) -> str | None:
        """Why the pins do not meet one requirement of ``who`` here; None when they do, or it does not apply."""
        if not applies(req, self.environment, extras):
            return None
        name, pin = norm(req.name), self.pins.get(norm(req.name))
        if pin is None:
            return f"{self.target}: {who} requires {req}, and {name} is not pinned"
        if not req.specifier.contains(pin, prereleases=True):
            return f"{self.target}: {who} requires {req}, constraints.txt pins {name}=={pin}"
        if name not in self.packages:
            return f"{self.target}: {who} requires {req}, but the record of {self.target} has no {name}"
        missing = {norm(e) for e in req.extras} - set(self.packages[name]["requested_extras"])
        if missing:
            return f"{self.target}: {who} requires {req}, but {name}'s extras {sorted(missing)} are not recorded"
        return None


def python_problems(record: dict, requires_python: str) -> list[str]:
    """Pins whose Requires-Python refuses a Python release that pyproject.toml admits.

    pip resolves a target for a minor version (3.14) and does not see a single release a package
    refuses: networkx 3.6.1 says !=3.14.1 (CPython 3.14.1 broke it). Every patch release up to .30
    of every admitted minor is tried, so pyproject.toml has to refuse such a release too.
    """
    admitted = SpecifierSet(requires_python)
    releases = [Version(f"3.{minor}.{patch}") for minor in range(8, 20) for patch in range(31)]
    releases = [r for r in releases if admitted.contains(r)]
    problems = {}
    seen = {(name, info["version"], info["requires_python"])
            for data in record["targets"].values() for name, info in data["packages"].items()}
    for name, version, needs in seen:
        spec = SpecifierSet(needs)
        refused = [str(r) for r in releases if not spec.contains(r)]
        if refused:
            problems[name] = (f"{name} {version} requires Python {needs}, pyproject.toml "
                              f"admits {requires_python}: not {', '.join(refused[:5])}")
    return [problems[name] for name in sorted(problems)]


def write_outputs(old_text: str, results: dict[str, dict], extras: list[str]) -> tuple[str, dict]:
    """The new constraints.txt (old header, one sorted pin per package any target installs) and record."""
    pins = {}
    for result in results.values():
        for name, info in result["packages"].items():
            pins[name] = public(info["version"])
    text = header(old_text) + "".join(f"{name}=={pins[name]}\n" for name in sorted(pins))
    record = {"extras": extras, "targets": results}
    return text, record


def changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """One line per pin added, removed or moved, for the summary."""
    out = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            out.append(f"{name}: {old.get(name, '(none)')} -> {new.get(name, '(none)')}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Resolve every target, check the result offline, write constraints.txt and its record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--upgrade", action="store_true", help="start from pyproject.toml's ranges, not the pins")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files would change")
    args = parser.parse_args(argv)
    requirements, extras = project_requirements(tomllib.loads(PYPROJECT.read_text(encoding="utf-8")))
    old_text = CONSTRAINTS.read_text(encoding="utf-8")
    old = read_pins(old_text)
    resolver = Resolver(requirements, extras, exact_names(requirements), {} if args.upgrade else dict(old), [])
    started = time.monotonic()
    results = agree(resolver, [cuda_target("3.11"), local_target(), cuda_target("3.14")])
    text, record = write_outputs(old_text, results, extras)
    new = read_pins(text)
    problems = unmet(record, new, requirements) + python_problems(record, requires_python(PYPROJECT))
    if problems:
        raise ConstraintsError("the resolved pins do not meet what the packages require:\n  " + "\n  ".join(problems))
    record_text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    print("\n".join(resolver.log) or ("resolved from pyproject.toml's ranges" if args.upgrade
                                      else "every pin kept installs on every target"))
    print("pins changed:\n  " + ("\n  ".join(changes(old, new)) or "none"))
    if args.check:
        same = text == old_text and RECORD.is_file() and RECORD.read_text(encoding="utf-8") == record_text
        print(f"checked in {time.monotonic() - started:.0f} s: the files are {'current' if same else 'out of date'}")
        return 0 if same else 1
    CONSTRAINTS.write_text(text, encoding="utf-8")
    RECORD.write_text(record_text, encoding="utf-8")
    print(f"wrote {CONSTRAINTS.name} ({len(new)} pins) and {RECORD.name} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
