"""A tiny Llama-architecture model the project builds itself, for tests and first runs.

Nothing is downloaded: a SentencePiece BPE tokenizer is trained on the sample Russian
pairs, a small Llama (hidden 256, so K-quants work; 16 heads, so a run can tell the questions
apart by one word) is initialised at random and briefly
trained on the pairs' questions (never their answers) rendered with the Gemma-style chat
template, so it writes Russian words rather than noise but knows none of the answers: what a
run teaches it shows. Deterministic for a given seed and corpus.

The folder is laid out so both transformers 5 and llama.cpp's converter read it the same
way (see shared/notes/gguf-export.md): ``tokenizer.model`` trained with
``add_dummy_prefix=False`` and byte fallback, ``tokenizer_config.json`` naming
``LlamaTokenizer`` and listing every special token under ``added_tokens_decoder`` with
``"special": true`` (so the turn markers reach the GGUF as CONTROL tokens), a chat
template, ``<end_of_turn>`` as EOS, and safetensors weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

from core.errors import UserError
from core.progress import OnProgress, ProgressEvent, ignore
from core.train.templates import GEMMA

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "datasets" / "sample_ru.jsonl"

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<start_of_turn>", "<end_of_turn>"]
PAD, UNK, BOS, EOS, SOT, EOT = range(6)
VOCAB_SIZE = 3000
HIDDEN = 256  # K-quants need rows that are multiples of 256
LAYERS = 2
# 16 heads of 16 dimensions: a run must route each question to its answer from one word («Что
# такое эпоха?» among 50 «Что такое …?» questions), and with 4 heads of 64 it did so only at the
# edge — 32 to 40 of the 50 learnt, the rest collapsing into one frequent answer, so whether a
# correction was learnt changed with the seed and the CPU. 16 heads learn 44–47 of 50 at the same
# cost (docs/numerics.md).
HEADS = 16
INTERMEDIATE = 512
MAX_LEN = 512
DEFAULT_STEPS = 400
SEQ_LEN = 64
BATCH = 4



def builder_fingerprint(**params) -> str:
    """A hash of this builder's source, the templates and the parameters: a cache key."""
    h = hashlib.sha256()
    for path in (Path(__file__), Path(__file__).with_name("templates.py")):
        h.update(path.read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def load_corpus(corpus: str | os.PathLike | Iterable[list[dict]] | None = None) -> list[list[dict]]:
    """Conversations (lists of {role, content}) from a messages-JSONL file or given directly."""
    if corpus is None or isinstance(corpus, (str, os.PathLike)):
        path = Path(corpus) if corpus is not None else SAMPLE
        if not path.exists():
            raise UserError(
                f"the sample data {path} is missing",
                hint="the demo model is trained on it; restore datasets/sample_ru.jsonl from git",
            )
        conversations = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                messages = record["messages"]
            except (ValueError, KeyError, TypeError) as exc:
                raise UserError(f"{path}, line {n}: not a messages record ({exc})", hint="each line needs {\"messages\": [...]}") from exc
            conversations.append([{"role": m["role"], "content": str(m["content"])} for m in messages])
    else:
        conversations = [list(c) for c in corpus]
    if len(conversations) < 5:
        raise UserError(f"the demo corpus has only {len(conversations)} conversations", hint="give at least 5")
    return conversations


def optimizer_step(model, opt, sched, loss) -> float:
    """One step of the small pretraining loops (the demo model's, the replicas'): backward,
    clip to norm 1, step, schedule, zero; the loss as a float."""
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def pretraining_texts(tok, conversations: list[list[dict]]) -> list[str]:
    """What the demo base is pretrained on: every question, never an answer.

    Each user turn (with the pair's system prompt before the first) rendered as the chat
    template writes it, so the base knows the language of the questions and the turn markers
    but not one answer it is later taught: an untrained base scores chrF ≈ 3 on the train
    split, and whatever a run gets above that it learnt from the pairs.
    """
    out = []
    for conv in conversations:
        system = [m for m in conv if m["role"] == "system"]
        for m in conv:
            if m["role"] == "user":
                out.append(tok.apply_chat_template(system + [m], tokenize=False))
                system = []
    return out


def _train_tokenizer(texts: list[str], out: Path, seed: int) -> None:
    import sentencepiece as spm

    corpus_file = out / "spm_corpus.txt"
    lines = [line for text in texts for line in text.splitlines() if line.strip()]
    corpus_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prefix = out / "tokenizer"
    spm.SentencePieceTrainer.train(
        input=str(corpus_file),
        model_prefix=str(prefix),
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        hard_vocab_limit=False,  # a small corpus may not support the full size
        byte_fallback=True,
        add_dummy_prefix=False,
        normalization_rule_name="identity",  # keep newlines and spacing exactly
        remove_extra_whitespaces=False,
        split_digits=True,
        character_coverage=1.0,
        pad_id=PAD,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        pad_piece="<pad>",
        unk_piece="<unk>",
        bos_piece="<s>",
        eos_piece="</s>",
        user_defined_symbols=SPECIALS[4:],
        num_threads=1,
        seed_sentencepiece_size=1_000_000,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    corpus_file.unlink()
    (out / "tokenizer.vocab").unlink(missing_ok=True)


@contextmanager
def folder_build(out_dir: Path) -> Iterator[Path]:
    """A fresh folder beside ``out_dir`` to build a model in. When the block ends without an error
    the folder replaces ``out_dir`` in one rename, else it is removed: no one sees half a model."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=out_dir.name + ".build-", dir=out_dir.parent))
    try:
        yield work
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _token_entry(content: str) -> dict:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}


# what the tokenizer's roles are called, the same in tokenizer_config.json and special_tokens_map.json
_SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "<end_of_turn>", "unk_token": "<unk>", "pad_token": "<pad>"}


def write_tokenizer_config(out: Path) -> None:
    """The files that make HF and llama.cpp read the tokenizer identically."""
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "model_max_length": MAX_LEN,
        **_SPECIAL_TOKENS,
        "add_bos_token": True,
        "add_eos_token": False,
        "add_prefix_space": False,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "padding_side": "right",
        "chat_template": GEMMA,
        "added_tokens_decoder": {str(i): _token_entry(tok) for i, tok in enumerate(SPECIALS)},
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    special_map = {**_SPECIAL_TOKENS, "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]}
    (out / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2), encoding="utf-8")


def load_tokenizer(folder: str | os.PathLike):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def _model_config(vocab_size: int):
    from transformers import LlamaConfig

    # its size, then Llama's usual norm and rope, then the special tokens' ids
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=HEADS, max_position_embeddings=MAX_LEN, tie_word_embeddings=False,
        rms_norm_eps=1e-5, rope_theta=10000.0, torch_dtype="float32",
        bos_token_id=BOS, eos_token_id=EOT, pad_token_id=PAD,
    )


def build_demo_model(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    corpus: str | os.PathLike | Iterable[list[dict]] | None = None,
    progress: OnProgress | None = None,
    steps: int = DEFAULT_STEPS,
) -> Path:
    """Build the demo model into ``out_dir`` (replaced atomically) and return its path.

    ``progress(ProgressEvent)`` is called for the stages "tokenizer", "train" (with the
    loss in ``info``) and "save".
    """
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    conversations = load_corpus(corpus)
    report = progress or ignore
    with folder_build(out_dir) as work:
        started = time.monotonic()
        report(ProgressEvent("tokenizer", 0, 1))
        texts = [m["content"] for conv in conversations for m in conv] + ["user", "model", "system"]
        _train_tokenizer(texts, work, seed)
        write_tokenizer_config(work)
        tok = load_tokenizer(work)
        # the converted fast tokenizer, saved so later loads skip the conversion
        tok.backend_tokenizer.save(str(work / "tokenizer.json"))
        tok = load_tokenizer(work)
        report(ProgressEvent("tokenizer", 1, 1, info={"vocab": len(tok)}))

        # one stream of rendered conversations; random windows of it are the batches
        stream: list[int] = []
        for text in pretraining_texts(tok, conversations):
            stream.extend(tok(text, add_special_tokens=False)["input_ids"])
        data = torch.tensor(stream, dtype=torch.long)
        if len(data) <= SEQ_LEN + 1:
            raise UserError("the demo corpus is too short to train on", hint="give more conversations")

        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = LlamaForCausalLM(_model_config(len(tok)))
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=max(steps, 1), pct_start=0.1)
        loss_value = float("nan")
        for step in range(steps):
            starts = torch.randint(0, len(data) - SEQ_LEN - 1, (BATCH,), generator=gen)
            batch = torch.stack([data[s : s + SEQ_LEN] for s in starts])
            loss_value = optimizer_step(model, opt, sched, model(input_ids=batch, labels=batch).loss)
            if step % 10 == 0 or step == steps - 1:
                report(ProgressEvent("train", step + 1, steps, f"loss {loss_value:.3f}", {"loss": loss_value}))

        report(ProgressEvent("save", 0, 1))
        model.eval()
        model.generation_config = GenerationConfig(
            bos_token_id=BOS, eos_token_id=[EOT, EOS], pad_token_id=PAD, do_sample=False, max_new_tokens=64
        )
        model.save_pretrained(str(work), safe_serialization=True)
        write_tokenizer_config(work)  # save_pretrained may not have touched it, but be sure
        info = {
            "name": "demo",
            "seed": seed,
            "steps": steps,
            "final_loss": loss_value,
            "conversations": len(conversations),
            "parameters": sum(p.numel() for p in model.parameters()),
            "seconds": round(time.monotonic() - started, 1),
            "fingerprint": builder_fingerprint(seed=seed, steps=steps),
        }
        (work / "nastavnik_demo.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    report(ProgressEvent("save", 1, 1, info=info))
    return out_dir
