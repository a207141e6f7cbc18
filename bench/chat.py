"""Chat benchmarks: the app and the CLI against raw llama-cpp-python, and decode and prompt
processing against this machine's limits, all measured in the same run.

    .venv/bin/python bench/chat.py            # full sizes (14 minutes on 2 cores, 2026-12-02; replicas built once)
    .venv/bin/python bench/chat.py --quick    # fewer rounds, a smaller replica, the same code
    .venv/bin/python bench/chat.py --smoke    # seconds: only that it runs and prints its lines
    .venv/bin/python bench/chat.py --only app,limits

Claims, one ``name: ratio=… goal=…`` line each:
  chat-app       the app for real: ``NastavnikApp`` driven headless (``run_test``) in its Chat
                 room — a question typed in the box and Enter, the model in its child process
                 (``ChildRunner``) with the app's own thread count (every core but one,
                 which the app's drawing keeps: on 2 cores one thread streamed 38 tokens/s
                 to the screen where two gave 33), the answer
                 rendered as Markdown. Tokens/s from the first to the last token on screen (a
                 Markdown update finished and the screen refreshed after it), vs raw
                 llama-cpp-python's own token loop (``Llama.generate``, each token
                 detokenized and decoded as it comes) from its first to its last token: the
                 same GGUF, the same prompt (the GGUF's template), the same questions, greedy,
                 the same threads; the answers must be identical (checked). ratio = app ÷ raw, goal
                 ≥ 0.97. The GGUF is the limits replica below at q8_0: random weights rarely
                 say end-of-turn, so every answer runs to the app's 256-token limit at a
                 small real model's speed (the demo model stops after ~10 tokens, too few to
                 time).
  chat-cli       the same through ``core.infer.runner.LocalRunner`` (the CLI's in-process path).
  decode-<quant> decode tokens/s ÷ (memory read bandwidth measured here ÷ bytes read per token)
                 on a Llama replica larger than the CPU's last-level cache (~100M non-embedding
                 parameters; ~70M for --quick), exported with ``core.export`` at q8_0 and
                 q4_k_m. Bytes per token: every weight tensor but the embedding table (a
                 token reads one row of it), plus the KV cache read at that position.
                 Goal ≥ 0.5.
  prompt-<quant> prompt-processing tokens/s × FLOPs per token ÷ the fp32 matmul FLOP/s
                 measured here with the same threads. (llama.cpp multiplies q8_0/q4_k weights
                 with integer dot products; fp32 GEMM is the dense rate of this CPU, not a
                 ceiling for them.) Goal ≥ 0.3.

Export time and memory per billion parameters are ``bench/export.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path

import benchlib
from benchlib import OUT, REPO, claim, median, pick, say

QUESTIONS = [
    "Что такое LoRA?",
    "Зачем нужна оценочная выборка?",
    "Как выбрать скорость обучения?",
    "Что такое эпоха?",
]
MAX_TOKENS = 256  # the app's own limit (core.infer.runner.DEFAULT_MAX_TOKENS)


def gguf_of(ws, model_dir: Path, quants: list[str], name: str) -> dict[str, Path]:
    """The model exported to GGUF once per workspace (``core.export``), registered there."""
    from core.export import export

    info = ws.exports_dir / name / "export.json"
    if info.is_file():
        files = {f["quant"]: Path(f["path"]) for f in json.loads(info.read_text(encoding="utf-8"))["files"]}
        if all(q in files and files[q].is_file() for q in quants):
            return files
        shutil.rmtree(ws.exports_dir / name, ignore_errors=True)
    say(f"exporting {model_dir.name} to {', '.join(quants)} (once)…")
    result = export(ws, str(model_dir), quants=quants, name=name, parity=False)
    if result.name != name:
        raise SystemExit(f"export went to {result.folder}, not {name}: remove {ws.exports_dir / name}")
    shutil.rmtree(result.merged_dir, ignore_errors=True)  # the merged HF copy: not needed here
    return {f.quant: f.path for f in result.files}


# ---------------------------------------------------------------------------- the raw baseline


def raw_answer(llm, question: str) -> tuple[str, int, float]:
    """(text, tokens, seconds from the first to the last token) from llama-cpp-python's own token
    loop, ``Llama.generate``, greedy, each token detokenized and decoded as it comes: the least
    work that streams an answer's text. The prompt is the GGUF's template rendered by
    llama-cpp-python's ``Jinja2ChatFormatter`` (as ``create_chat_completion`` renders it), not
    timed. (``create_chat_completion(stream=True)`` itself is no baseline: it re-detokenizes
    the whole answer after every token, and its chunks are not tokens — random weights emit
    split UTF-8 characters, whose tokens come out as one chunk.)"""
    import codecs

    import llama_cpp

    from core.infer.generation import ChatStream

    result = ChatStream.formatter_for(llm)(messages=[{"role": "user", "content": question}], enable_thinking=False)
    prompt = llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
    vocab = llm._model.vocab
    decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
    parts, stamps = [], []
    for token in llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0):
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        stamps.append(time.perf_counter())
        parts.append(decoder.decode(llm.detokenize([token])))
        if len(stamps) >= MAX_TOKENS:
            break
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts), len(stamps), (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")


# ---------------------------------------------------------------------------- the app, headless


async def app_answers(ws, model_name: str, questions: list[str], raw, rounds: int, *, warm_up: bool = True) -> dict:
    """Ask each question in the app's Chat room ``rounds`` times and, right before or after
    each (alternating), raw llama_cpp the same: per answer (text, tokens, seconds on screen).
    ``warm_up``: the first answer (it also loads the model) is asked but not counted."""
    from textual.widgets import Input, Markdown

    from tui.app import NastavnikApp
    from tui.rooms.chat import ChatRoom

    stamps: list[tuple[float, int]] = []
    original_update = Markdown.update

    def update(self, markdown: str):
        waiter = original_update(self, markdown)
        if self.has_class("chat-answer-text") and markdown:
            n = len(markdown)

            async def painted() -> None:
                await waiter
                self.call_after_refresh(lambda: stamps.append((time.perf_counter(), n)))

            asyncio.get_running_loop().create_task(painted())
        return waiter

    Markdown.update = update
    out = {"app": [], "raw": []}
    try:
        app = NastavnikApp(ws, "en")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("3")  # the Chat room, as a user opens it

            async def until(cond, what: str, timeout: float = 300) -> None:
                deadline = time.perf_counter() + timeout
                while not cond():
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"timed out waiting for {what}")
                    await asyncio.sleep(0.01)

            await until(lambda: len(app.query(ChatRoom)) and app.query_one(ChatRoom).chosen(), "the chat room and its model")
            room = app.query_one(ChatRoom)
            room.query_one("#chat-model-0").value = model_name  # the model to talk to, as a user picks it
            await pilot.pause()
            box = room.query_one("#chat-input", Input)
            first = warm_up
            for r in range(rounds):
                for qi, q in enumerate(questions):
                    raw_first = (r + qi) % 2 == 1
                    if raw_first:
                        out["raw"].append(raw_answer(raw, q))
                    room.action_new_chat()  # every question starts a conversation, as the raw path does
                    stamps.clear()
                    box.focus()
                    box.value = q
                    await pilot.press("enter")
                    await until(lambda: not room.busy and room.answers and room.answers[-1].message_id, "the answer")
                    answer = room.answers[-1]
                    await until(lambda: stamps and stamps[-1][1] == len(answer.text), "the last token on screen", 30)
                    with ws.store() as store:
                        tokens = next(m.tokens for m in store.get_conversation(room.conversation_id).messages if m.id == answer.message_id)
                    seconds = stamps[-1][0] - stamps[0][0] if len(stamps) > 1 else float("nan")
                    if not first:  # the first answer also loads the model: not counted
                        out["app"].append((answer.text, tokens, seconds))
                    if not raw_first:
                        out["raw"].append(raw_answer(raw, q))
                    if first:
                        out["raw"].pop()
                        first = False
            room.close_models()
    finally:
        Markdown.update = original_update
    return out


def bench_app(ws, q8: Path, mode: str) -> str:
    from core.infer.llamacpp import load_llama

    with ws.store() as store:
        name = next(m.name for m in store.list_models(kind="gguf") if Path(m.path) == q8)
    rounds = pick(mode, 10, 3, 1)
    questions = QUESTIONS if mode != "smoke" else QUESTIONS[:1]
    from core.infer.llamacpp import threads

    # the app's own threads: every core but one, which its rendering keeps (core.infer.llamacpp.threads)
    raw = load_llama(q8, log_file=ws.logs_dir / "bench.log", n_ctx=2048, seed=0, n_threads=threads(beside_app=True))
    say(f"chat-app: the app's model and raw llama_cpp with {threads(beside_app=True)} threads (the app's, beside it), "
        f"of {benchlib.cpu_threads()} for the CLI")
    try:
        res = asyncio.run(app_answers(ws, name, questions, raw, rounds, warm_up=mode != "smoke"))
    finally:
        raw.close()
    return report("chat-app", res["app"], res["raw"], "the app (headless, child process, Markdown on screen)")


def bench_cli(ws, q8: Path, mode: str) -> str:
    from core.infer.runner import LocalRunner, ModelRef
    from core.infer.llamacpp import load_llama

    rounds = pick(mode, 10, 3, 1)
    questions = QUESTIONS if mode != "smoke" else QUESTIONS[:1]
    warm = 0 if mode == "smoke" else 1  # rounds asked first and not counted
    log = ws.logs_dir / "bench.log"
    raw = load_llama(q8, log_file=log, n_ctx=2048, seed=0, n_threads=benchlib.cpu_threads())
    local = LocalRunner(ModelRef("q8", q8, "q8"), log_file=log)  # the CLI's default threads: every core
    local.load()
    ours, base = [], []
    try:
        for r in range(rounds + warm):
            for qi, q in enumerate(questions):
                pair = []
                for who in (("raw", "cli") if (r + qi) % 2 else ("cli", "raw")):
                    if who == "raw":
                        pair.append(("raw", raw_answer(raw, q)))
                        continue
                    stamps, parts = [], []
                    for piece in local.stream([{"role": "user", "content": q}], max_tokens=MAX_TOKENS):
                        stamps.append(time.perf_counter())
                        parts.append(piece)
                    pair.append(("cli", ("".join(parts), local.last.tokens, stamps[-1] - stamps[0] if len(stamps) > 1 else float("nan"))))
                if r < warm:
                    continue  # the warm-up round
                for who, row in pair:
                    (ours if who == "cli" else base).append(row)
    finally:
        local.close()
        raw.close()
    return report("chat-cli", ours, base, "the CLI's LocalRunner (in-process)")


def report(name: str, ours: list, base: list, what: str) -> str:
    same = sum(a[0] == b[0] for a, b in zip(ours, base))
    # tokens: each side's own count; time: first to last token, so n answers give n tokens − 1 gaps each
    o_tok = sum(t - 1 for _, t, s in ours if s == s)
    o_s = sum(s for _, t, s in ours if s == s)
    b_tok = sum(t - 1 for _, t, s in base if s == s)
    b_s = sum(s for _, t, s in base if s == s)
    o_rate, b_rate = o_tok / o_s, b_tok / b_s
    per = sorted((a[1] - 1) / a[2] / ((b[1] - 1) / b[2]) for a, b in zip(ours, base) if a[2] == a[2] and b[2] == b[2])
    say(f"{name}: {what} {o_rate:.0f} tok/s vs raw llama_cpp {b_rate:.0f} tok/s over {len(ours)} answers "
        f"({o_tok + len(ours)} tokens); answers identical to raw: {same} of {len(ours)}; per-answer ratio median "
        f"{median(per):.3f}, quartiles {benchlib.pct(per, 0.25):.3f}–{benchlib.pct(per, 0.75):.3f} (noise)")
    if same != len(ours):
        say(f"WARNING: {len(ours) - same} answers differ from raw llama_cpp's")
    return claim(name, o_rate / b_rate, ">=0.97", f"{o_rate:.0f} vs {b_rate:.0f} tok/s" + ("" if same == len(ours) else "; ANSWERS DIFFER"))


# ---------------------------------------------------------------------------- limits


def gguf_bytes(path: Path) -> tuple[int, int]:
    """(bytes of the weights a decoded token reads, bytes of all tensors): every tensor but the
    embedding table, unless the output layer is tied to it (then it is read in full)."""
    from gguf import GGUFReader

    tensors = {t.name: int(t.n_bytes) for t in GGUFReader(str(path)).tensors}
    total = sum(tensors.values())
    tied = "output.weight" not in tensors
    return total - (0 if tied else tensors.get("token_embd.weight", 0)), total


QUANTS = ["q8_0", "q4_k_m"]


def bench_limits(mode: str, ws, replica: Path, files: dict[str, Path]) -> list[str]:
    from core.infer.llamacpp import load_llama

    config = json.loads((replica / "config.json").read_text())
    d = benchlib._dims(config)
    quants = QUANTS
    threads = benchlib.cpu_threads()
    llc = benchlib.llc_bytes()
    prompt_len, decode_n, repeats = pick(mode, (512, 128, 3), (256, 64, 2), (32, 8, 1))
    lines = []
    results = {}
    for quant in quants:
        llm = load_llama(files[quant], log_file=ws.logs_dir / "bench.log", n_ctx=prompt_len + decode_n + 16, seed=0,
                         n_threads=threads, n_batch=512)
        try:
            vocab = llm.n_vocab()
            prompt = [(7 + 13 * i) % (vocab - 10) + 6 for i in range(prompt_len)]  # ids past the specials
            pp, dec = [], []
            for _ in range(repeats):
                llm.reset()
                t0 = time.perf_counter()
                llm.eval(prompt)
                pp.append(prompt_len / (time.perf_counter() - t0))
                llm.reset()
                llm.eval(prompt[:16])
                t0 = time.perf_counter()
                for i in range(decode_n):
                    llm.eval([prompt[16 + i % (prompt_len - 16)]])
                dec.append(decode_n / (time.perf_counter() - t0))
        finally:
            llm.close()
        results[quant] = (median(pp), median(dec))
    # the limits, measured right after (not while llama.cpp runs), with the same threads
    bw = benchlib.read_bandwidth(threads=threads)
    peak = benchlib.matmul_flops("float32", threads=threads)
    say(f"limits: {threads} threads; memory read bandwidth {bw / 1e9:.1f} GB/s; fp32 matmul {peak / 1e9:.1f} GFLOP/s; "
        f"last-level cache {llc / 2**20:.0f} MiB" if llc else "unknown")
    for quant in quants:
        pp_rate, dec_rate = results[quant]
        weights, total = gguf_bytes(files[quant])
        kv = 2 * d["layers"] * d["kv"] * d["hd"] * 2 * (16 + decode_n / 2)  # f16 keys and values read at the average position
        per_token = weights + kv
        bound = bw / per_token
        fits = llc is not None and total <= llc
        say(f"decode {quant}: {dec_rate:.1f} tok/s; {per_token / 2**20:.1f} MiB read per token (model {total / 2**20:.1f} MiB"
            f"{', FITS IN THE LAST-LEVEL CACHE: the bound is not the memory' if fits else ''}) → bound {bound:.1f} tok/s")
        lines.append(claim(f"decode-{quant}", dec_rate / bound, ">=0.5", f"{dec_rate:.1f} of {bound:.1f} tok/s"))
        # a prompt's logits are computed for its last token only (llama-cpp-python without logits_all)
        flops = benchlib.forward_flops_per_token(config, (prompt_len + 1) / 2, head=False)
        say(f"prompt {quant}: {pp_rate:.0f} tok/s × {flops / 1e6:.0f} MFLOP/token = {pp_rate * flops / 1e9:.1f} GFLOP/s "
            f"of {peak / 1e9:.1f} (fp32 matmul)")
        lines.append(claim(f"prompt-{quant}", pp_rate * flops / peak, ">=0.3", f"{pp_rate * flops / 1e9:.1f} of {peak / 1e9:.1f} GFLOP/s"))
    return lines


PARTS = ("app", "cli", "limits")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_mode_args(ap)
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    ap.add_argument("--home", help="the bench's workspace, kept between runs (default bench/out/chat-home-MODE)")
    args = ap.parse_args()
    mode = benchlib.mode_of(args)
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    bad = [p for p in only if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {', '.join(bad)}; choose from {', '.join(PARTS)}")
    os.environ.setdefault("NASTAVNIK_LLAMACPP_CACHE", str(REPO / ".cache"))
    from core.workspace import Workspace

    lines: list[str] = []
    home = Path(args.home) if args.home else OUT / f"chat-home-{mode}"
    ws = Workspace.open(home)
    replica = benchlib.build_replica(benchlib.replica_shape(mode))
    info = json.loads((replica / "replica.json").read_text())
    say(f"chat bench ({mode}): replica {replica.name}, {info['non_embedding'] / 1e6:.1f}M non-embedding parameters")
    files = gguf_of(ws, replica, QUANTS, "replica-" + replica.name)
    if "app" in only:
        lines.append(bench_app(ws, files["q8_0"], mode))
    if "cli" in only:
        lines.append(bench_cli(ws, files["q8_0"], mode))
    if "limits" in only:
        lines += bench_limits(mode, ws, replica, files)
    for line in lines:  # every claim again, together, the last lines of the output
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
