"""The whole chain for a BPE family (Llama 3.1) and a SentencePiece one (Gemma 3): a 4-bit run,
its export — from a pre-quantized base too — parity, and a chat answer without turn markers.
(Qwen 3, Qwen 3.5 and Gemma 4 train and merge in bench/gpu_check.py --allow-cpu; their GGUF path is
not checked there: the GPU machine it travels to has no llama-cpp-python.)"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.support.cli import run_cli
from tests.support.data import sample_pairs

pytestmark = [pytest.mark.slow, pytest.mark.learning]

TURN_MARKERS = re.compile(r"<\|?(start_of_turn|end_of_turn|im_start|im_end|eot_id|start_header_id|end_header_id)\|?>|<\|turn>|<turn\|>")
TRAIN = ("--backend", "hf", "--load-in-4bit", "--steps", "8", "--lr", "5e-3", "--batch-size", "2", "--grad-accum", "1",
         "--max-seq-len", "96", "--save-steps", "100")


def _ok(home, *args):
    code, out, err = run_cli(home, *args)
    assert code == 0, f"{args}: {err}"
    return out


def _chain(home, store, base: str) -> dict:
    import json

    for p in sample_pairs(6, 2):
        store.add_pair(p["question"], p["answer"], status="approved", split=p["split"])
    _ok(home, "train", "--base", base, *TRAIN)
    report = json.loads(_ok(home, "export", "1", "--merged", "--quant", "q8_0", "--json"))  # the merge of each family
    assert report["parity"]["ok"], report["parity"]["warnings"]
    assert report["parity"]["template_equal"] and report["parity"]["tokens_equal"]
    gguf = next(f["path"] for f in report["files"] if f["quant"] == "q8_0")
    chat = json.loads(_ok(home, "chat", gguf, "-p", "Что такое эпоха?", "--max-tokens", "24", "--json"))
    answer = chat["answers"][0]["text"]
    assert not TURN_MARKERS.search(answer), answer
    return report


def test_llama31_4bit_run_exports_with_parity_and_chats_clean(home, store, replica):
    folder = replica("llama3.1")
    _ok(home, "models", "add", str(folder), "--name", "demo-llama3.1")
    report = _chain(home, store, "demo-llama3.1")
    assert report["merge"]["how"] == "base" and report["merge"]["dtype"] == "float32"


def test_gemma3_from_a_prequantized_base_dequantizes_merges_and_chats_clean(home, store, replica, tmp_path):
    """No 16-bit sibling on this disk: the nf4 weights are dequantized (bf16) and the adapter merged
    into them; the reference GGUF is BF16 and the parity check compares bf16 with bf16."""
    lonely = tmp_path / "elsewhere" / "demo-gemma3-bnb-4bit"
    shutil.copytree(replica("gemma3", prequantized=True), lonely)
    _ok(home, "models", "add", str(lonely), "--name", "demo-gemma3-bnb-4bit")
    report = _chain(home, store, "demo-gemma3-bnb-4bit")
    assert report["merge"]["how"] == "dequantized" and report["merge"]["dtype"] == "bfloat16"
    assert [a["quant"] for a in report["parity"]["answers"]][:1] == ["bf16"]


def test_a_prequantized_base_finds_its_16bit_sibling(home, replica, store):
    """Next to it, or registered under the name Unsloth's mapping (or the -bnb-4bit suffix) gives."""
    from core.export.siblings import sibling_names, sixteen_bit_sibling
    from core.workspace import Workspace

    four = replica("llama3.1", prequantized=True)
    assert sixteen_bit_sibling(four) == replica("llama3.1").resolve()  # the folder beside it
    assert sixteen_bit_sibling(replica("llama3.1")) is None  # a 16-bit base needs none
    assert sibling_names(four.parent / "gemma-3-12b-it-bnb-4bit", "unsloth/gemma-3-12b-it-bnb-4bit")[:2] == [
        "unsloth/gemma-3-12b-it", "google/gemma-3-12b-it"]  # Unsloth's own mapping first
    alone = home.parent / "alone" / "demo-llama3.1-bnb-4bit"
    shutil.copytree(four, alone)
    ws = Workspace.open(home)
    assert sixteen_bit_sibling(alone, ws) is None
    store.add_model("base", "demo-llama3.1", str(replica("llama3.1")))
    assert sixteen_bit_sibling(alone, ws) == replica("llama3.1").resolve()  # found among the registered models
