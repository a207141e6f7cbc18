"""Runs end to end on the CPU with the demo model: train, cancel, kill -9 + resume, tmux, one at a time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.support.data import run_state
from tests.support.waits import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("train_runs")]

FAST = ("--batch-size", "2", "--grad-accum", "1", "--max-seq-len", "96", "--backend", "hf")


def test_train_loss_falls_and_the_adapter_loads(small_home, cli, demo_model):
    train_home = small_home
    r = cli("train", "--base", "demo", "--steps", "16", "--lr", "2e-2", "--lora-alpha", "32", "--save-steps", "50",
            "--batch-size", "4", "--grad-accum", "1", "--max-seq-len", "64", "--backend", "hf")
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["steps"] == 16 and show["base"] == "demo"
    assert len(show["dataset_sha256"]) == 64 and show["train_pairs"] == 4 and show["eval_pairs"] == 1
    losses = [m["loss"] for m in show["metrics"] if m["loss"] is not None]
    assert len(losses) == 16
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < first * 0.85, losses  # clearly falls
    assert any(m["eval_loss"] is not None for m in show["metrics"])
    assert all(m["tokens_per_s"] for m in show["metrics"] if m["loss"] is not None)
    metrics_lines = (train_home / "runs" / "1" / "metrics.jsonl").read_text().splitlines()
    assert len([line for line in metrics_lines if '"loss"' in line]) == 16
    log = (train_home / "runs" / "1" / "train.log").read_text()
    assert "\r" not in log  # no progress bars in the worker's log
    logs = cli("runs", "logs", "1")
    assert logs.code == 0 and "run 1 done at step 16" in logs.out

    adapters = cli("models", "list", "--kind", "adapter", "--json").json()
    assert len(adapters) == 1 and adapters[0]["run_id"] == 1 and adapters[0]["dataset_sha256"] == show["dataset_sha256"]

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from core.train.demo_model import load_tokenizer

    adapter = adapters[0]["path"]
    tok = load_tokenizer(adapter)  # the adapter folder carries the base's tokenizer files
    ids = tok("<s><start_of_turn>user\nЧто такое LoRA?<end_of_turn>\n<start_of_turn>model\n", add_special_tokens=False, return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(str(demo_model))
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, adapter)
        after = tuned(ids).logits
    assert not torch.allclose(before, after, atol=1e-4)


def test_packed_run_trains_on_the_cpu(train_home, cli):
    r = cli("train", "--base", "demo", "--steps", "3", "--packing", "--save-steps", "50", *FAST)
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["steps"] == 3
    losses = [m["loss"] for m in show["metrics"] if m["loss"] is not None]
    assert len(losses) == 3 and all(0 < loss < 20 for loss in losses)


def test_the_template_a_run_trained_with_travels_to_the_merged_model(train_home, cli, tmp_path):
    """Trained with chatml on a base whose own template is Gemma's: the adapter, and the model
    merged from it for export, must prompt with chatml, or the GGUF would be served wrong."""
    from transformers import AutoTokenizer

    from core.export import merge, resolve_source
    from core.train.templates import get_template
    from core.workspace import Workspace

    r = cli("train", "--base", "demo", "--steps", "2", "--template", "chatml", "--save-steps", "50", *FAST)
    assert r.code == 0, r.err + r.out
    adapter = train_home / "runs" / "1" / "adapter"
    chatml = get_template("chatml").jinja
    assert (adapter / "chat_template.jinja").read_text(encoding="utf-8") == chatml
    merged = merge(resolve_source(Workspace.open(train_home), "1"), tmp_path / "merged")
    tok = AutoTokenizer.from_pretrained(str(merged))
    prompt = tok.apply_chat_template([{"role": "user", "content": "Что такое эпоха?"}], tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>user\nЧто такое эпоха?<|im_end|>" in prompt and "<start_of_turn>" not in prompt


def _alive(pid: int | None) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, TypeError):
        return False


def _in_session(leader: int) -> bool:
    """Whether a process of the session ``leader`` started (a pane: its shell, the CLI) runs."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[3]) == leader:  # state, ppid, pgrp, session
                return True
    return False


def _start(cli, *args) -> int:
    r = cli("train", "--base", "demo", "--detach", "--json", *FAST, *args)
    assert r.code == 0, r.err
    return r.json()["id"]


def test_kill_9_is_seen_as_interrupted_and_resume_reaches_the_same_step(train_home, cli):
    run_id = _start(cli, "--steps", "12", "--save-steps", "4")
    run = wait_for(lambda: (lambda r: r if r and r.step >= 5 else None)(run_state(train_home, run_id)), what="step 5")
    second = cli("train", "--base", "demo", "--steps", "3", *FAST)
    assert second.code == 2 and "one run at a time" in second.err
    os.kill(run.pid, signal.SIGKILL)
    wait_for(lambda: run_state(train_home, run_id).status == "interrupted", timeout=30, what="interrupted")
    listed = cli("runs", "list", "--json").json()
    assert listed[0]["status"] == "interrupted"
    r = cli("runs", "resume", str(run_id))
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", str(run_id), "--json").json()
    assert show["status"] == "done" and show["steps"] == 12
    assert [m["step"] for m in show["metrics"] if m["loss"] is not None] == list(range(1, 13))
    assert "resume from checkpoint-" in (train_home / "runs" / str(run_id) / "train.log").read_text()


def test_cancel_stops_the_run(train_home, cli):
    run_id = _start(cli, "--steps", "400", "--save-steps", "1000")
    wait_for(lambda: run_state(train_home, run_id).step >= 1, what="the first step")
    r = cli("runs", "cancel", str(run_id), "--json")
    assert r.code == 0, r.err
    assert r.json()["status"] == "cancelled"
    run = run_state(train_home, run_id)
    assert run.step < 400
    # the row ended when the cancel returned; the worker goes (SIGTERM, SIGKILL after a grace):
    # a second cancel finds nothing to stop either way
    wait_for(lambda: not _alive(run.pid), timeout=60, what="the worker gone")
    assert cli("runs", "cancel", str(run_id)).code == 2  # already over


def _tmux() -> str | None:
    if shutil.which("tmux"):
        return shutil.which("tmux")
    try:
        subprocess.run(["apt-get", "install", "-y", "tmux"], capture_output=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return shutil.which("tmux")


def test_run_survives_killing_the_tmux_session_that_started_it(train_home, tmp_path):
    tmux = _tmux()
    if tmux is None:
        pytest.skip("tmux is not installed and apt-get could not install it")
    sock = str(tmp_path / "tmux.sock")
    nastavnik = [sys.executable, "-c", "from tui.cli import entry; entry()"]
    out = tmp_path / "cli.out"
    cmd = " ".join([*nastavnik[:2], repr(nastavnik[2]), "--home", str(train_home), "train", "--base", "demo", "--steps", "10", *FAST])
    env = {**os.environ, "NASTAVNIK_HOME": str(train_home)}
    subprocess.run([tmux, "-S", sock, "new-session", "-d", "-s", "trainer", "-c", str(train_home), f"{cmd} > {out} 2>&1"], check=True, env=env)
    try:
        run = wait_for(lambda: (lambda r: r if r and r.status == "running" else None)(run_state(train_home, 1)), timeout=120, what="running")
    except AssertionError:
        subprocess.run([tmux, "-S", sock, "kill-server"], capture_output=True)
        raise AssertionError(out.read_text() if out.exists() else "the CLI wrote nothing") from None
    terminal = [int(pid) for pid in subprocess.run([tmux, "-S", sock, "list-panes", "-a", "-F", "#{pane_pid}"],
                                                   capture_output=True, text=True, check=True).stdout.split()]
    subprocess.run([tmux, "-S", sock, "kill-server"], check=True)  # the terminal and the CLI following the run are gone
    wait_for(lambda: not any(_in_session(pid) for pid in terminal), timeout=30, what="the terminal's processes gone")
    assert run_state(train_home, 1).status == "running"
    done = wait_for(lambda: (lambda r: r if r.status in ("done", "failed", "interrupted") else None)(run_state(train_home, 1)), what="the end")
    assert done.status == "done" and done.step == 10 and done.pid == run.pid
