"""Export benchmarks: time and peak memory of each step per billion parameters, measured on
random-initialised Llama replicas of two sizes — the figures a user of a 12B model needs.

    .venv/bin/python bench/export.py            # replicas of ~0.1B and ~0.37B parameters (2–3 minutes on 2 cores)
    .venv/bin/python bench/export.py --quick    # ~0.03B and ~0.07B, the same code
    .venv/bin/python bench/export.py --smoke    # two toys: only that it runs and prints its lines
    .venv/bin/python bench/export.py --lora-only   # just export-lora and chat-lora

Each step runs the project's own code (``core.export.merge`` with a LoRA adapter on every
linear layer, ``core.infer.llamacpp.convert_hf_to_gguf`` to F16, ``core.infer.llamacpp.quantize``) in a
fresh child process, which reports the step's seconds and its peak resident memory (its
own or, for the converter, that of the process it starts). Two sizes give a line: seconds and
bytes per parameter (the slope) plus what every run pays (the intercept: Python, torch,
llama.cpp). One line per step:

  export-merge   ratio = the streamed merge's peak anonymous memory (RssAnon, polled from the
                 parent: VmHWM and ru_maxrss count the pages of the memory-mapped shards) per
                 billion parameters, in GB, goal<=0.3; the note compares it with the in-memory
                 merge (``merge_in_memory``, PEFT's merge_and_unload) measured in the same run
                 and extrapolates a 12B merge. ``--merge-only`` runs just the two merges.
  export-merge-time  ratio = seconds per billion parameters, streamed ÷ in memory, goal<=1.0.
  export-<step>  ratio = the peak-memory slope ÷ 4 bytes per parameter (the fp32 weights: what
                 the merge must hold, since it merges into the full-precision base), goal=none —
                 these are reported figures; the memory bound itself belongs to the model
                 families issue. The note gives GB and seconds per billion parameters and the
                 extrapolation to 12B.
  export-lora    the loop's later iterations: a run's adapter exported as a GGUF LoRA
                 (``export(..., lora=True)``, the base GGUF already built and registered, as on
                 every run after the first) vs the full export of the same run (merge, F16,
                 Q8_0), each ``core.export.export`` call timed in a fresh child (imports before
                 the clock), parity off, the two alternated and the faster of two kept (the
                 note adds CPU seconds, converters' imports included, which a shared machine's
                 load moves less). Both lines fitted over the two sizes; at replica sizes
                 what every run pays dominates, so ratio = the full export's seconds ÷ the LoRA
                 export's, both extrapolated to 12B, goal>=20; the note gives the two sizes'
                 seconds and ratios, and the bytes each writes (file and export folder).
  chat-lora      decode tokens/s of the base GGUF (Q8_0, memory-mapped) with the run's GGUF LoRA
                 applied the runner's way (``load_llama(lora=…)``, llama.cpp's adapter calls)
                 ÷ the merged Q8_0 GGUF of the same run, greedy from the same prompt, the best
                 of a few rounds each in its own fresh child; goal>=0.9. The note gives each
                 one's RSS and RssAnon, and those of ``Llama(lora_path=…)`` (mmap off).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib
from benchlib import REPO, claim, pick, say

STEPS = ("merge", "convert", "quantize-q8_0", "quantize-q4_k_m")  # and merge-in-memory, the merge before streaming


def sizes(mode: str) -> list[dict]:
    return pick(
        mode,
        [benchlib.replica_shape("full"), dict(hidden=1024, layers=24, intermediate=4096, heads=16, kv_heads=4, positions=2048)],
        [dict(hidden=512, layers=8, intermediate=1536, heads=8, kv_heads=4, positions=2048), benchlib.replica_shape("quick")],
        [dict(hidden=256, layers=1, intermediate=512, heads=4, kv_heads=4, positions=512), benchlib.replica_shape("smoke")],
    )


def adapter_for(replica: Path, out: Path) -> Path:
    """A LoRA adapter (rank 16, every linear layer, non-zero B) saved as a run saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if (out / "adapter_config.json").exists():
        return out
    model = AutoModelForCausalLM.from_pretrained(str(replica), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules=list(benchlib.LORA_TARGETS), task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01)  # a trained adapter changes the weights; B = 0 would merge to nothing
    model.save_pretrained(str(out))
    return out


CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
step, args = sys.argv[2], json.loads(sys.argv[3])
from pathlib import Path
extra = {}
if step in ("merge", "merge-in-memory"):
    import peft, torch, transformers  # noqa: F401 — imported before the clock: the imports are no part of a merge
    from core.export import Source
    from core.export.merge import merge, merge_in_memory
    t0 = time.perf_counter()
    (merge if step == "merge" else merge_in_memory)(Source("bench", model_dir=Path(args["base"]), adapter_dir=Path(args["adapter"])),
                                                    Path(args["out"]))
elif step == "convert":
    from core.infer.llamacpp import convert_hf_to_gguf
    t0 = time.perf_counter()
    convert_hf_to_gguf(Path(args["merged"]), Path(args["out"]), outtype="f16", cache_dir=Path(args["cache"]), log_file=Path(args["log"]))
elif step == "export":
    import peft, torch, transformers  # noqa: F401 — before the clock, as for the merge
    from core.export import export
    from core.workspace import Workspace
    ws = Workspace.open(Path(args["home"]))
    t0 = time.perf_counter()
    r = export(ws, args["adapter"], quants=[args["quant"]], name=args["name"], parity=False, lora=args["lora"])
    extra = {"file": str(r.files[0].path), "folder": str(r.folder), "how": r.to_dict().get("how"),
             "reused": "base" not in r.seconds}
elif step == "chat":
    from core.infer.llamacpp import load_llama, threads
    lora = Path(args["lora"]) if args.get("lora") else None
    if args["how"] == "lora_path":  # llama-cpp-python's own way: mmap off for the whole base
        import llama_cpp
        n = threads()
        llm = llama_cpp.Llama(model_path=args["gguf"], lora_path=str(lora), n_ctx=args["ctx"], n_threads=n,
                              n_threads_batch=n, n_gpu_layers=0, verbose=False)
    else:
        llm = load_llama(Path(args["gguf"]), log_file=Path(args["log"]), n_ctx=args["ctx"], lora=lora)
    ids = llm.tokenize(args["prompt"].encode("utf-8"))
    rates = []
    t0 = time.perf_counter()
    for _ in range(args["rounds"]):
        llm.reset()
        n, first = 0, None
        for _tok in llm.generate(ids, temp=0.0, reset=True):
            n += 1
            if first is None:
                first = time.perf_counter()
            elif n == args["tokens"]:
                break
        rates.append((n - 1) / (time.perf_counter() - first))
    status = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.split(":")[0] in ("VmRSS", "RssAnon", "RssFile")}
    extra = {"rate": max(rates), "rates": rates, "rss": status["VmRSS"], "rss_anon": status["RssAnon"], "rss_file": status["RssFile"]}
    llm.close()
else:
    from core.infer.llamacpp import quantize
    t0 = time.perf_counter()
    quantize(Path(args["f16"]), Path(args["out"]), args["quant"], log_file=Path(args["log"]))
seconds = time.perf_counter() - t0
# this process's own peak: VmHWM starts afresh at exec (ru_maxrss would carry the parent's over)
own = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
# the converter runs as a child of this one; it was forked from this small process, so its
# ru_maxrss is its own peak
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
# CPU seconds of this process and the converters it ran, imports included: less moved by a shared
# machine's load than the wall clock
extra["cpu"] = sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                   for f in ("ru_utime", "ru_stime"))
print(json.dumps({"seconds": seconds, "peak": max(own, kids) * 1024, **extra}))
"""


def _rss_anon(pid: int) -> int:
    """A process's anonymous resident memory in bytes (0 once it is gone): what it holds itself,
    not the pages of the files it maps (VmHWM and ru_maxrss count those too)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_step(step: str, args: dict) -> dict:
    """The step in a fresh child; its seconds and peak memory (VmHWM), and its peak RssAnon polled from here
    every few milliseconds."""
    import time

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), step, json.dumps(args)], stdout=out, stderr=err, text=True,
                                 env=dict(os.environ, TQDM_DISABLE="1", TRANSFORMERS_VERBOSITY="error"))
        anon = 0
        while child.poll() is None:
            anon = max(anon, _rss_anon(child.pid))
            time.sleep(0.005)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"export step {step} failed: {err.read().strip()[-2000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    result["anon"] = anon
    return result


def measure(shape: dict, work: Path, cache: Path, merge_only: bool = False) -> dict:
    replica = benchlib.build_replica(shape)
    params = json.loads((replica / "replica.json").read_text())["parameters"]
    adapter = adapter_for(replica, benchlib.OUT / "adapters" / replica.name)
    here = work / replica.name
    shutil.rmtree(here, ignore_errors=True)
    here.mkdir(parents=True)
    log = here / "export.log"
    res = {"params": params, "name": replica.name}
    res["merge-in-memory"] = run_step("merge-in-memory", {"base": str(replica), "adapter": str(adapter), "out": str(here / "in-memory")})
    shutil.rmtree(here / "in-memory")
    res["merge"] = run_step("merge", {"base": str(replica), "adapter": str(adapter), "out": str(here / "merged")})
    if merge_only:
        shutil.rmtree(here, ignore_errors=True)
        return res
    res["convert"] = run_step("convert", {"merged": str(here / "merged"), "out": str(here / "f16.gguf"), "cache": str(cache), "log": str(log)})
    for quant in ("q8_0", "q4_k_m"):
        res[f"quantize-{quant}"] = run_step("quantize", {"f16": str(here / "f16.gguf"), "out": str(here / f"{quant}.gguf"),
                                                          "quant": quant, "log": str(log)})
    shutil.rmtree(here, ignore_errors=True)
    return res


def _line(small: dict, big: dict, step: str, field: str) -> tuple[float, float]:
    """(slope per billion parameters, intercept) of a step's ``field`` between the two sizes."""
    dp = (big["params"] - small["params"]) / 1e9
    slope = (big[step][field] - small[step][field]) / dp
    return slope, small[step][field] - slope * small["params"] / 1e9


def merge_lines(small: dict, big: dict) -> str:
    """The streamed merge against the in-memory one, both measured here: peak RssAnon per billion
    parameters (goal ≤ 0.3 GB) and seconds per billion (goal: no worse than in memory)."""
    gb, gb_base = _line(small, big, "merge", "anon")
    gb_mem, gb_mem_base = _line(small, big, "merge-in-memory", "anon")
    s, s_base = _line(small, big, "merge", "seconds")
    s_mem, _ = _line(small, big, "merge-in-memory", "seconds")
    say(f"export merge, peak RssAnon: streamed {small['merge']['anon'] / 2**20:.0f} / {big['merge']['anon'] / 2**20:.0f} MiB, "
        f"in memory {small['merge-in-memory']['anon'] / 2**20:.0f} / {big['merge-in-memory']['anon'] / 2**20:.0f} MiB; "
        f"seconds: streamed {small['merge']['seconds']:.2f} / {big['merge']['seconds']:.2f}, in memory "
        f"{small['merge-in-memory']['seconds']:.2f} / {big['merge-in-memory']['seconds']:.2f}")
    twelve = gb_base / 1e9 + 12 * gb / 1e9
    ram = claim("export-merge", gb / 1e9, "<=0.3",
                f"peak RssAnon {gb / 1e9:.3f} GB per billion parameters streamed (+{gb_base / 1e9:.2f} GB per run) vs "
                f"{gb_mem / 1e9:.2f} GB (+{gb_mem_base / 1e9:.2f}) in memory, ratio {gb / gb_mem:.3f}; a 12B merge: ~{twelve:.1f} GB")
    time_line = claim("export-merge-time", s / s_mem if s_mem > 0 else float("nan"), "<=1.0",
                      f"{s:.1f} s per billion parameters streamed (+{s_base:.1f} s per run) vs {s_mem:.1f} s in memory")
    return ram + "\n" + time_line


def _bytes(folder: Path) -> int:
    """The bytes of the files in ``folder`` (links not followed: a LoRA export's base is not its own)."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


CHAT_PROMPT = "Вопрос: что такое низкоранговая адаптация и зачем она нужна? Ответ:"


def measure_lora(shape: dict, work: Path, mode: str, chat: bool) -> dict:
    """One replica size: a run's adapter exported as a GGUF LoRA on a base GGUF already built vs the
    full export of the same run (each ``core.export.export`` in a fresh child), and with ``chat``
    the decode speed and memory of base + LoRA vs the merged GGUF."""
    replica = benchlib.build_replica(shape)
    params = json.loads((replica / "replica.json").read_text())["parameters"]
    adapter = adapter_for(replica, benchlib.OUT / "adapters" / replica.name)
    home = work / f"lora-{replica.name}" / "home"
    shutil.rmtree(home.parent, ignore_errors=True)

    def exported(name: str, lora: bool) -> dict:
        return run_step("export", {"home": str(home), "adapter": str(adapter), "quant": "q8_0", "name": name, "lora": lora})

    res: dict = {"params": params, "name": replica.name}
    res["first"] = exported("run-0", True)  # the first run of this base converts and quantizes it: once, not timed for the claim
    tries: dict[str, list[dict]] = {"lora": [], "full": []}
    for n in range(pick(mode, 2, 2, 1)):  # alternated, the faster of each kept: the shared machine's load falls on both
        tries["lora"].append(exported(f"run-{n + 1}", True))
        tries["full"].append(exported(f"full-{n + 1}", False))
    for key, runs in tries.items():
        res[key] = min(runs, key=lambda r: r["seconds"])
    if not (res["lora"]["how"] == "lora" and res["lora"]["reused"] and res["full"]["how"] != "lora"):
        raise SystemExit(f"export-lora measured the wrong exports: {res['lora']} / {res['full']}")
    for key in ("lora", "full"):
        res[key]["file_bytes"] = Path(res[key]["file"]).stat().st_size
        res[key]["folder_bytes"] = _bytes(Path(res[key]["folder"]))
    if chat:
        tokens, rounds = pick(mode, (128, 3), (64, 2), (8, 1))
        common = {"ctx": 512, "prompt": CHAT_PROMPT, "tokens": tokens, "rounds": rounds, "log": str(home / "llama.log")}
        base_q8 = json.loads((Path(res["lora"]["folder"]) / "export.json").read_text())["base_gguf"]["q8_0"]
        ways = {"merged": {"how": "merged", "gguf": res["full"]["file"]},
                "lora": {"how": "lora", "gguf": base_q8, "lora": res["lora"]["file"]}}
        runs: dict[str, list[dict]] = {k: [] for k in ways}
        for _ in range(2):  # alternated, each in a fresh child: the shared machine's noise falls on both
            for k, way in ways.items():
                runs[k].append(run_step("chat", {**common, **way}))
        res["chat"] = {k: max(v, key=lambda r: r["rate"]) for k, v in runs.items()}
        res["chat"]["lora_path"] = run_step("chat", {**common, "how": "lora_path", "gguf": base_q8, "lora": res["lora"]["file"]})
    shutil.rmtree(home.parent, ignore_errors=True)
    return res


def lora_lines(small: dict, big: dict) -> list[str]:
    """export-lora (12B extrapolation of both exports' seconds) and chat-lora (on the larger size)."""
    f_s, f_i = _line(small, big, "full", "seconds")
    l_s, l_i = _line(small, big, "lora", "seconds")
    fb_s, fb_i = _line(small, big, "full", "file_bytes")
    lb_s, lb_i = _line(small, big, "lora", "file_bytes")
    full12, lora12 = f_i + 12 * f_s, l_i + 12 * l_s
    cf_s, cf_i = _line(small, big, "full", "cpu")
    cl_s, cl_i = _line(small, big, "lora", "cpu")
    cpu_full12, cpu_lora12 = cf_i + 12 * cf_s, cl_i + 12 * cl_s
    say(f"export lora vs full, seconds: {small['lora']['seconds']:.2f} vs {small['full']['seconds']:.2f} at "
        f"{small['params'] / 1e9:.3f}B ({small['full']['seconds'] / small['lora']['seconds']:.1f}×), "
        f"{big['lora']['seconds']:.2f} vs {big['full']['seconds']:.2f} at {big['params'] / 1e9:.3f}B "
        f"({big['full']['seconds'] / big['lora']['seconds']:.1f}×); the base's first conversion {small['first']['seconds']:.2f} / "
        f"{big['first']['seconds']:.2f} s (once per base)")
    say(f"export lora vs full, CPU seconds (imports and converters included): {small['lora']['cpu']:.1f} vs "
        f"{small['full']['cpu']:.1f} at {small['params'] / 1e9:.3f}B, {big['lora']['cpu']:.1f} vs {big['full']['cpu']:.1f} "
        f"at {big['params'] / 1e9:.3f}B")
    for r in (small, big):
        say(f"export lora vs full, bytes at {r['params'] / 1e9:.3f}B: GGUF LoRA {r['lora']['file_bytes'] / 2**20:.1f} MiB "
            f"(folder {r['lora']['folder_bytes'] / 2**20:.1f}) vs Q8_0 GGUF {r['full']['file_bytes'] / 2**20:.1f} MiB "
            f"(folder with the merged model {r['full']['folder_bytes'] / 2**20:.1f})")
    lines = [claim("export-lora", full12 / lora12 if lora12 > 0 else float("nan"), ">=20",
                   f"a 12B run, extrapolated: {lora12:.1f} s as a GGUF LoRA (+{l_i:.1f} s per run, {l_s:.2f} s per billion) vs "
                   f"{full12:.0f} s full (+{f_i:.1f} s, {f_s:.1f} s per billion); in CPU seconds {cpu_full12 / cpu_lora12 if cpu_lora12 > 0 else float('nan'):.1f}×; "
                   f"{(lb_i + 12 * lb_s) / 1e9:.2f} GB vs "
                   f"{(fb_i + 12 * fb_s) / 1e9:.1f} GB written; at the replicas "
                   f"{small['full']['seconds'] / small['lora']['seconds']:.1f}× / {big['full']['seconds'] / big['lora']['seconds']:.1f}×")]
    chat = (big if "chat" in big else small).get("chat")
    if chat:
        m, lo, lp = chat["merged"], chat["lora"], chat["lora_path"]

        def mem(r: dict) -> str:
            return f"RSS {r['rss'] / 2**20:.0f} / RssAnon {r['rss_anon'] / 2**20:.0f} MiB"

        lines.append(claim("chat-lora", lo["rate"] / m["rate"], ">=0.9",
                           f"{lo['rate']:.1f} vs {m['rate']:.1f} tok/s decoding, Q8_0 base (mmapped) + F16 LoRA vs the merged "
                           f"Q8_0 ({(big if 'chat' in big else small)['params'] / 1e9:.3f}B replica); base + LoRA {mem(lo)}, "
                           f"merged {mem(m)}, Llama(lora_path=…) {mem(lp)} at {lp['rate']:.1f} tok/s"))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_mode_args(ap)
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--merge-only", action="store_true", help="only the two merges (streamed and in memory), no GGUF steps")
    only.add_argument("--lora-only", action="store_true", help="only export-lora and chat-lora")
    args = ap.parse_args()
    mode = benchlib.mode_of(args)
    os.environ.setdefault("NASTAVNIK_LLAMACPP_CACHE", str(REPO / ".cache"))
    from core.infer.llamacpp import converter_dir

    cache = benchlib.OUT / "export-cache"
    converter_dir(cache)  # fetched or found once, outside the timings
    lines: list[str] = []
    lora: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nastavnik-export-bench-") as tmp:
        if not args.lora_only:
            small, big = (measure(shape, Path(tmp), cache, args.merge_only) for shape in sizes(mode))
            say(f"export bench ({mode}): replicas of {small['params'] / 1e9:.3f}B and {big['params'] / 1e9:.3f}B parameters")
            lines.append(merge_lines(small, big))
        if not args.merge_only:
            shapes = sizes(mode)
            lora_small, lora_big = measure_lora(shapes[0], Path(tmp), mode, False), measure_lora(shapes[1], Path(tmp), mode, True)
            say(f"export-lora bench ({mode}): replicas of {lora_small['params'] / 1e9:.3f}B and {lora_big['params'] / 1e9:.3f}B parameters")
            lora = lora_lines(lora_small, lora_big)
    for step in ([] if args.merge_only or args.lora_only else STEPS[1:]):  # the merge: merge_lines, its memory as RssAnon
        a, b = small[step], big[step]
        dp = (big["params"] - small["params"]) / 1e9
        gb_per_b = (b["peak"] - a["peak"]) / 1e9 / dp
        base_gb = a["peak"] / 1e9 - gb_per_b * small["params"] / 1e9
        s_per_b = (b["seconds"] - a["seconds"]) / dp
        base_s = a["seconds"] - s_per_b * small["params"] / 1e9
        say(f"export {step}: {a['seconds']:.2f} s / {a['peak'] / 2**20:.0f} MiB peak at {small['params'] / 1e9:.3f}B, "
            f"{b['seconds']:.2f} s / {b['peak'] / 2**20:.0f} MiB at {big['params'] / 1e9:.3f}B → {s_per_b:.1f} s and "
            f"{gb_per_b:.2f} GB per billion parameters, plus {base_s:.1f} s and {base_gb:.2f} GB per run")
        twelve_gb, twelve_s = base_gb + 12 * gb_per_b, base_s + 12 * s_per_b
        lines.append(claim(f"export-{step}", gb_per_b / 4.0, "=none",
                           f"{gb_per_b:.2f} GB and {s_per_b:.0f} s per billion parameters; a 12B model: ~{twelve_gb:.0f} GB, "
                           f"~{twelve_s / 60:.0f} min on this machine"))
    if not args.merge_only:
        lines += lora
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    main()
