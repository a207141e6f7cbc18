"""``make gpu-kit``: what a GPU machine without network lacks for ``bench/gpu_check.py``, in one folder.

    .venv/bin/python tools/gpu_kit.py [--out .gpu-kit] [--python-version 3.12] [--cuda 130]

The machine it is made for (the GPU machine lent to these sessions, docs/gpu.md): Linux x86-64,
no network, Python 3.12 with torch 2.11 (CUDA 13.0), triton, transformers 5.17, accelerate,
safetensors, sentencepiece, tokenizers, pyarrow, pandas … installed, and none of Unsloth, TRL,
bitsandbytes, datasets, sqlite-utils; at most 64 MiB travel with the working tree. The kit
(``.gpu-kit/``, gitignored) holds:

* ``wheels/``: the pinned versions (constraints.txt) of what the check's path imports and that
  machine lacks, as CPython ``--python-version`` manylinux x86-64 wheels from PyPI, slimmed to
  what is imported: Unsloth without its Studio app and CLI (``studio/``, ``unsloth_cli/``: 26
  of its 28 MB), bitsandbytes with its CPU library and the CUDA ``--cuda`` one only (3.5 of 43
  MB), torchao without its tests. PEFT travels too, pinned: that image's version is not known.
* ``llama.cpp-VERSION.tar.xz``: the files ``make`` unpacks from the pinned llama-cpp-python
  sdist (``core.infer.llamacpp``): the real vocabularies the replicas are built with (35 MB of vocab-only
  GGUFs, ~5 MB compressed), the official chat templates and the converter. The replicas
  themselves are built there from their configs (``core/train/replicas.py``), not carried.
* ``run.sh``: installs the wheels with ``pip --no-index --no-deps --target``, unpacks the
  llama.cpp files, runs ``bench/gpu_check.py`` (its arguments passed on) and leaves the report
  in ``$OUT`` when that is set.
* ``manifest.json``: each file, its size, and what was left out of each wheel.

It refuses (exit 1) when the kit and the working tree together pass 64 MiB.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
LIMIT = 64 * 2**20  # what travels with the working tree to the lent GPU machine
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
DOWNLOADS = REPO / ".cache" / "gpu-kit-downloads"

# distribution → what bench/gpu_check.py's path needs it for. The rest of what it imports is on that
# image (KINDS.md's package list: torch, triton, transformers, accelerate, huggingface-hub,
# safetensors, tokenizers, sentencepiece, numpy, pandas, pyarrow, xxhash, fsspec, click, jinja2,
# pyyaml, regex, requests, tqdm, psutil, pillow, torchvision, tabulate, python-dateutil …);
# measured by recording every module the check's processes import (the CLI, the worker of each
# backend, the DPO worker, the merge, the replica builder) and subtracting that list.
KIT = {
    "unsloth": "the unsloth backend",
    "unsloth-zoo": "imported by unsloth",
    "trl": "SFT and DPO trainers",
    "bitsandbytes": "4-bit layers (nf4), the prequantized base, adamw_8bit",
    "peft": "LoRA (that image's version is not known: the pinned one travels)",
    "datasets": "TRL's and the pipeline's datasets",
    "dill": "imported by datasets",
    "multiprocess": "imported by datasets",
    "torchao": "imported by unsloth when present, as in `make install`",
    "cut-cross-entropy": "Unsloth's fused loss on CUDA when present, as in `make install`",
    "sqlite-utils": "the workspace's store",
    "sqlite-fts4": "imported by sqlite-utils",
}
# left out of a wheel: (distribution, regex over the paths in the wheel)
DROP = {
    "unsloth": r"^(studio|unsloth_cli)/",
    "torchao": r"^test/",
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    """constraints.txt's exact versions by normalised name."""
    out = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[normalize(name)] = version.strip()
    return out


def download(dist: str, version: str, python_version: str) -> Path:
    """The wheel of ``dist==version`` for CPython ``python_version`` on manylinux x86-64, from PyPI
    (the machine's own pip settings, which add local wheels, are ignored), kept in .cache/."""
    dest = DOWNLOADS / f"cp{python_version.replace('.', '')}"
    dest.mkdir(parents=True, exist_ok=True)
    stem = normalize(dist).replace("-", "_")
    found = [p for p in dest.glob("*.whl") if normalize(p.name.split("-")[0]).replace("-", "_") == stem
             and p.name.split("-")[1] == version]
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--isolated", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp", *(a for p in PLATFORMS for a in ("--platform", p)),
           "-d", str(dest), f"{dist}=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PIP_CONFIG_FILE=os.devnull))
    if proc.returncode:
        raise SystemExit(f"gpu_kit: could not download {dist}=={version}: {proc.stderr.strip()[-500:]}")
    found = [p for p in dest.glob("*.whl") if normalize(p.name.split("-")[0]).replace("-", "_") == stem
             and p.name.split("-")[1] == version]
    if not found:
        raise SystemExit(f"gpu_kit: pip saved no wheel of {dist}=={version} in {dest}")
    return found[0]


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def slim(src: Path, dst: Path, drop: re.Pattern | None) -> list[str]:
    """``src`` without the paths ``drop`` matches, its RECORD rewritten (and its entry points and
    top_level.txt without what was dropped); the dropped top-level folders or files."""
    dropped: list[str] = []
    with zipfile.ZipFile(src) as zin:
        record = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        kept_tops = {n.split("/")[0] for n in zin.namelist() if not (drop and drop.search(n))}
        gone_tops = {n.split("/")[0] for n in zin.namelist() if drop and drop.search(n)} - kept_tops  # left out whole
        rows = []
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
            for info in zin.infolist():
                name = info.filename
                if name == record:
                    continue
                if drop and drop.search(name):
                    dropped.append(name)
                    continue
                data = zin.read(info)
                if name.endswith(".dist-info/entry_points.txt") and gone_tops:
                    lines = [ln for ln in data.decode().splitlines()
                             if not re.match(r"^\s*[\w.-]+\s*=\s*(" + "|".join(map(re.escape, gone_tops)) + r")\b", ln)]
                    data = ("\n".join(lines) + "\n").encode()
                if name.endswith(".dist-info/top_level.txt") and gone_tops:
                    data = ("\n".join(t for t in data.decode().split() if t not in gone_tops) + "\n").encode()
                out = zipfile.ZipInfo(name, date_time=info.date_time)
                out.external_attr, out.compress_type = info.external_attr, zipfile.ZIP_DEFLATED
                zout.writestr(out, data)
                rows.append(f"{name},{_record_hash(data)},{len(data)}")
            rows.append(f"{record},,")
            zout.writestr(zipfile.ZipInfo(record, date_time=(2026, 1, 1, 0, 0, 0)), "\n".join(rows) + "\n")
    # a folder left out whole is named once ("studio/"); else each file ("bitsandbytes/libbitsandbytes_cuda118.so")
    return sorted({n.split("/")[0] + "/" if n.split("/")[0] in gone_tops else n for n in dropped})


def bnb_drop(cuda: str) -> re.Pattern:
    """bitsandbytes: every native library but the CPU one and CUDA ``cuda``'s (torch's CUDA 13.0 → 130)."""
    return re.compile(rf"^bitsandbytes/libbitsandbytes_(?!cpu\.so$|cuda{cuda}\.so$)[^/]+\.so$")


def llamacpp_archive(out: Path) -> tuple[Path, list[str]]:
    """The unpacked llama.cpp files (``make``'s copy, else the cache) as ``llama.cpp-VERSION.tar.xz``."""
    from core.infer.llamacpp import LLAMA_CPP_PYTHON, converter_dir

    folder = converter_dir()
    target = out / f"llama.cpp-{LLAMA_CPP_PYTHON}.tar.xz"
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    with tarfile.open(target, "w:xz", preset=9) as tar:
        tar.add(folder, arcname=folder.name, filter=lambda t: None if "__pycache__" in t.name else t)
    return target, names


RUN_SH = r"""#!/usr/bin/env bash
# The GPU check on a machine without network (made by `make gpu-kit`, tools/gpu_kit.py):
#   bash .gpu-kit/run.sh [bench/gpu_check.py's arguments: --smoke, --only gemma3:unsloth, --jobs N …]
# PYTHON: the interpreter that has torch (default python3); GPU_KIT_TMP: where it installs, unpacks
# and builds (default /tmp/nastavnik-gpu-kit); with $OUT set, report.json and the log are left there.
set -euo pipefail
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$KIT")"
PY="${PYTHON:-python3}"
TMP="${GPU_KIT_TMP:-/tmp/nastavnik-gpu-kit}"
SITE="$TMP/site-__STAMP__"
mkdir -p "$TMP"
if [ ! -f "$SITE/.installed" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$KIT"/wheels/*.whl
  touch "$SITE/.installed"
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
if [ ! -f "$TMP/cache/__LLAMACPP__/.complete-2" ]; then
  mkdir -p "$TMP/cache" && tar -xJf "$KIT/__LLAMACPP__.tar.xz" -C "$TMP/cache"
fi
export NASTAVNIK_LLAMACPP_CACHE="$TMP/cache" PYTHONUNBUFFERED=1
rm -rf "$TMP/work"
# the progress log where it comes back even if the run is cut short
LOG="$TMP/gpu_check.log"
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then LOG="$OUT/gpu_check.log"; fi
code=0
"$PY" "$REPO/bench/gpu_check.py" --replicas "$TMP/replicas" --out "$TMP/work" "$@" 2> >(tee "$LOG" >&2) || code=$?
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
  cp "$TMP/work/report.json" "$OUT/gpu_check_report.json" 2>/dev/null || true
fi
exit $code
"""


def tree_bytes() -> int:
    """What travels besides the kit: tracked files and untracked ones git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout
    total = 0
    for name in filter(None, out.decode().split("\0")):
        p = REPO / name
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".gpu-kit")
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    parser.add_argument("--cuda", default="130", help="the CUDA of that machine's torch, as bitsandbytes names it (13.0 → 130)")
    args = parser.parse_args(argv)
    versions = pins()
    out = args.out
    tmp = Path(tempfile.mkdtemp(prefix=".gpu-kit-", dir=out.parent))
    try:
        (tmp / "wheels").mkdir()
        manifest: dict = {"python": args.python_version, "cuda": args.cuda, "wheels": {}}
        for dist, why in KIT.items():
            version = versions.get(normalize(dist))
            if not version:
                raise SystemExit(f"gpu_kit: constraints.txt pins no {dist}")
            src = download(dist, version, args.python_version)
            drop = bnb_drop(args.cuda) if dist == "bitsandbytes" else re.compile(DROP[dist]) if dist in DROP else None
            dst = tmp / "wheels" / src.name
            if drop:
                dropped = slim(src, dst, drop)
            else:
                shutil.copyfile(src, dst)
                dropped = []
            manifest["wheels"][src.name] = {"why": why, "bytes": dst.stat().st_size, "pypi_bytes": src.stat().st_size,
                                            **({"left_out": dropped} if dropped else {})}
            print(f"{src.name}: {dst.stat().st_size / 2**20:.2f} MiB" + (f" (of {src.stat().st_size / 2**20:.1f})" if dropped else ""))
        archive, files = llamacpp_archive(tmp)
        manifest["llamacpp"] = {"file": archive.name, "bytes": archive.stat().st_size, "files": len(files),
                                "vocab": [f for f in files if "ggml-vocab" in f and f.endswith(".gguf")]}
        print(f"{archive.name}: {archive.stat().st_size / 2**20:.2f} MiB ({len(files)} files)")
        stamp = hashlib.sha256("".join(sorted(f"{k}{v['bytes']}" for k, v in manifest["wheels"].items())).encode()).hexdigest()[:10]
        (tmp / "run.sh").write_text(RUN_SH.replace("__STAMP__", stamp).replace("__LLAMACPP__", archive.name[: -len(".tar.xz")]),
                                    encoding="utf-8")
        (tmp / "run.sh").chmod(0o755)
        kit = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        tree = tree_bytes()
        manifest.update(kit_bytes=kit, tree_bytes=tree, limit_bytes=LIMIT)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{out}: {kit / 2**20:.1f} MiB; with the working tree ({tree / 2**20:.1f} MiB) {(kit + tree) / 2**20:.1f} of 64 MiB")
    if kit + tree > LIMIT:
        print("gpu_kit: the kit and the working tree pass 64 MiB: they do not travel together", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
