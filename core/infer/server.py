"""The child process of ``core.infer.runner.ChildRunner``: one model, JSON lines over pipes.

``python -m core.infer.server PATH N_CTX SEED N_THREADS OFFLOAD_JSON`` loads the GGUF with an
in-process runner (``LocalRunner``) and answers commands read on stdin, one JSON object a line:
``chat`` (stream an answer), ``count`` (tokens of a text or of a prompt), ``stop`` (cut the
answer being written), ``close``. It writes events on stdout: ``ready`` (with the context
size and the GPU offload), ``token`` (text, batched), ``count``, ``done`` (the reply's facts),
``error``. Its stderr is the parent's log file, so llama.cpp's C-level output never reaches
the terminal the parent draws on. A module of its own so that the parent's runner holds only
the parent's side of the protocol.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from core.infer.runner import DEFAULT_MAX_TOKENS, LocalRunner, ModelRef

FLUSH_S = 0.05  # streamed text goes to the parent at most this often
POLL_S = 0.01  # and a stop request is looked for at most this often


class _Lines:
    """Lines from a file descriptor, readable without blocking (``poll``) or blocking (``next``)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def _fill(self, timeout: float | None) -> None:
        import select

        if self.eof:
            return
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            data = os.read(self.fd, 65536)
            if data:
                self.buf += data
            else:
                self.eof = True

    def poll(self) -> list[str]:
        self._fill(0)
        return self._take()

    def next(self) -> str | None:
        while b"\n" not in self.buf and not self.eof:
            self._fill(None)
        lines = self._take(1)
        return lines[0] if lines else None

    def _take(self, limit: int | None = None) -> list[str]:
        out: list[str] = []
        while b"\n" in self.buf and (limit is None or len(out) < limit):
            line, self.buf = self.buf.split(b"\n", 1)
            out.append(line.decode("utf-8"))
        return out


def serve(path: str, n_ctx: int, seed: int, n_threads: int = 0, offload: dict | None = None, lora: str | None = None) -> int:
    """Run one model (``lora``: a GGUF LoRA on the base at ``path``); JSON lines in on stdin, JSON
    lines out on stdout; stderr is a log file.

    One thread: commands are read between answers, and during an answer a non-blocking poll
    of stdin (at most every POLL_S) notices a stop request — no reader thread to hand work
    over to.
    """
    out = sys.stdout
    lines = _Lines(sys.stdin.fileno())
    pending: list[dict] = []
    stopped = [False]

    def emit(obj: dict) -> None:
        out.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        out.flush()

    def parse(line: str) -> dict | None:
        try:
            return json.loads(line)
        except ValueError:
            return None

    polled = [0.0]

    def cancel() -> bool:
        # a stop request waits at most POLL_S: no system call on every token
        now = time.perf_counter()
        if now - polled[0] < POLL_S:
            return stopped[0]
        polled[0] = now
        for line in lines.poll():
            cmd = parse(line)
            if cmd is None:
                continue
            if cmd.get("op") == "stop":
                stopped[0] = True
            else:
                pending.append(cmd)
        return stopped[0]

    try:
        model = LocalRunner(ModelRef(path, Path(path), Path(path).stem, Path(lora) if lora else None), log_file=None, n_ctx=n_ctx, seed=seed,
                           n_threads=n_threads or None, offload=offload)
        model.load()
    except Exception as exc:  # report any failure to the parent as an event
        emit(error_event(exc))
        return 1
    emit({"event": "ready", "context": model.context_size(),
          "offload": {"layers": model.offload.layers, "note": model.offload.note} if model.offload else None})
    try:
        while True:
            if pending:
                cmd = pending.pop(0)
            else:
                line = lines.next()
                if line is None:
                    return 0
                parsed = parse(line)
                if parsed is None:
                    continue
                cmd = parsed
            if cmd.get("op") == "close":
                return 0
            if cmd.get("op") == "count":
                try:
                    n = model.count_prompt(cmd["messages"]) if "messages" in cmd else model.count_tokens(cmd.get("text") or "")
                    emit({"event": "count", "tokens": n})
                except Exception as exc:
                    emit(error_event(exc))
                continue
            if cmd.get("op") != "chat":
                continue
            stopped[0] = False
            try:
                # the first piece at once, then at most every FLUSH_S: each write wakes the
                # parent, and on a virtual machine that costs the writer ~0.1–0.2 ms (measured:
                # one event per token made answers 20% slower than in-process), while 50 ms
                # batches still read as smooth streaming
                buffer: list[str] = []
                last = 0.0
                for piece in model.stream(
                    cmd["messages"], temperature=float(cmd.get("temperature", 0.0)),
                    max_tokens=int(cmd.get("max_tokens", DEFAULT_MAX_TOKENS)), cancel=cancel,
                    grammar=cmd.get("grammar"),
                ):
                    buffer.append(piece)
                    now = time.perf_counter()
                    if now - last >= FLUSH_S:
                        emit({"event": "token", "text": "".join(buffer)})
                        buffer.clear()
                        last = now
                r = model.last
                assert r is not None
                # the last pieces ride with "done": one write and one wake-up of the parent less
                emit({"event": "done", "text": "".join(buffer), "tokens": r.tokens, "seconds": r.seconds, "reason": r.reason,
                      "first_token_s": r.first_token_s})
            except Exception as exc:
                emit(error_event(exc))
    finally:
        model.close()


def error_event(exc: BaseException) -> dict:
    """A failure as the parent reads it: the message, and a UserError's code and params so the
    app can say it in its own language."""
    return {"event": "error", "message": str(exc), "code": getattr(exc, "code", None), "params": getattr(exc, "params", None)}


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0,
                    json.loads(sys.argv[5]) if len(sys.argv) > 5 else None, sys.argv[6] if len(sys.argv) > 6 else None))
