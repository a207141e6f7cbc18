"""The data of a run: choose approved pairs, snapshot and hash them, render and mask them.

* ``snapshot(store)`` picks the approved, live pairs of each split, in id order, and hashes
  their content (not their ids or timestamps): the same text gives the same sha256, any
  edit to a chosen pair changes it.
* ``encode(tokenizer, template, messages)`` renders a conversation with a chat template and
  marks which tokens are trained: only the final answer and the marker that ends its turn
  (the model's EOS). Masks are found by character spans of the rendered text mapped to
  tokens through the tokenizer's offsets, so they are exact for any template.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from core.errors import UserError
from core.train.templates import ChatTemplate, pair_messages, render

IGNORE = -100


@dataclass
class Example:
    pair_id: int | None
    messages: list[dict]


@dataclass
class Snapshot:
    train: list[Example]
    eval: list[Example]
    sha256: str

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "train": len(self.train), "eval": len(self.eval)}

    def write(self, path: str | Path) -> Path:
        """One JSON line per example (messages + split): what the run trained on, kept with it."""
        path = Path(path)
        with path.open("w", encoding="utf-8") as fh:
            for split, examples in (("train", self.train), ("eval", self.eval)):
                for ex in examples:
                    fh.write(json.dumps({"pair_id": ex.pair_id, "split": split, "messages": ex.messages}, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "Snapshot":
        train, evals = [], []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            (train if rec["split"] == "train" else evals).append(Example(rec.get("pair_id"), rec["messages"]))
        return cls(train, evals, content_sha256(train, evals))


def content_sha256(train: Sequence[Example], evals: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for split, examples in (("train", train), ("eval", evals)):
        for ex in examples:
            h.update(json.dumps([split, ex.messages], ensure_ascii=False, sort_keys=True).encode())
            h.update(b"\n")
    return h.hexdigest()


def snapshot(store) -> Snapshot:
    """Approved pairs (not in the trash) of both splits, in id order, with their hash."""
    from core.store import PairFilter

    splits: dict[str, list[Example]] = {"train": [], "eval": []}
    for split in splits:
        for p in store.iter_pairs(PairFilter(status="approved", split=split)):
            splits[split].append(Example(p.id, pair_messages(p.question, p.answer, system=p.system, context=p.context)))
    if not splits["train"]:
        raise UserError(
            "there are no approved pairs in the train split",
            hint="approve some pairs first: `nastavnik pairs approve 1-50`",
        )
    return Snapshot(splits["train"], splits["eval"], content_sha256(splits["train"], splits["eval"]))


# ---------------------------------------------------------------------------- rendering + masks


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False
    full_length: int = 0
    text: str = ""
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def template_source(tokenizer, template: ChatTemplate | None) -> str:
    """Our template for the preset if given; else the tokenizer's own."""
    if template is not None:
        return template.jinja
    source = getattr(tokenizer, "chat_template", None)
    if not source:
        raise UserError("the base model's tokenizer has no chat template", hint="choose one with --template")
    return source


def answer_spans(source: str, messages: list[dict], *, bos_token: str = "", eos_token: str = "") -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character span of the final answer with its end marker."""
    if not messages or messages[-1]["role"] != "assistant":
        raise UserError("a training example must end with the answer")
    kw = {"bos_token": bos_token, "eos_token": eos_token}
    full = render(source, messages, **kw)
    prompt = render(source, messages[:-1], add_generation_prompt=True, **kw)
    if not full.startswith(prompt):
        raise UserError(
            "the chat template renders the prompt differently when the answer follows",
            hint="use a template whose generation prompt is a prefix of the full conversation",
        )
    end = len(full.rstrip("\n"))  # the newline after the end-of-turn marker is not the answer
    return full, [(len(prompt), end)]


def encode(tokenizer, source: str, messages: list[dict], *, max_len: int | None = None) -> Encoded:
    """Token ids and labels (-100 outside the answer) for one conversation."""
    bos = tokenizer.bos_token or ""
    text, spans = answer_spans(source, messages, bos_token=bos, eos_token=tokenizer.eos_token or "")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    offsets = enc["offset_mapping"]
    if bos and not text.startswith(bos) and getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id] + ids
        offsets = [(0, 0)] + list(offsets)
    labels = [IGNORE] * len(ids)
    for i, (start, stop) in enumerate(offsets):
        if stop <= start:
            continue
        for a, b in spans:
            if a <= start < b:
                labels[i] = ids[i]
    full_length = len(ids)
    truncated = bool(max_len and full_length > max_len)
    if truncated:
        ids, labels = ids[:max_len], labels[:max_len]
    return Encoded(ids, labels, truncated, full_length, text, spans)


def encode_all(tokenizer, source: str, examples: Sequence[Example], *, max_len: int | None) -> list[Encoded]:
    return [encode(tokenizer, source, ex.messages, max_len=max_len) for ex in examples]


def to_hf_dataset(encoded: Sequence[Encoded]):
    """A ``datasets.Dataset`` with ``input_ids`` and ``labels`` (TRL uses them as they are)."""
    from datasets import Dataset

    rows = [e for e in encoded if any(x != IGNORE for x in e.labels)]
    return Dataset.from_dict({"input_ids": [e.input_ids for e in rows], "labels": [e.labels for e in rows]})


# ---------------------------------------------------------------------------- preview


@dataclass
class Preview:
    examples: int
    tokens: int
    trained_tokens: int
    longest: int
    truncated: list[int]  # pair ids that will be cut at max_len
    samples: list[dict]  # {pair_id, pieces: [(text, trained)]}

    def to_dict(self) -> dict:
        return {
            "examples": self.examples,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "longest": self.longest,
            "truncated": self.truncated,
            "samples": [{"pair_id": s["pair_id"], "pieces": [[t, bool(m)] for t, m in s["pieces"]]} for s in self.samples],
        }


def pieces(tokenizer, enc: Encoded) -> list[tuple[str, bool]]:
    """Runs of decoded text, each marked trained or not (for showing what the model learns)."""
    out: list[tuple[str, bool]] = []
    run: list[int] = []
    state = None
    for tid, lab in zip(enc.input_ids, enc.labels):
        trained = lab != IGNORE
        if state is not None and trained != state:
            out.append((tokenizer.decode(run, skip_special_tokens=False), state))
            run = []
        run.append(tid)
        state = trained
    if run:
        out.append((tokenizer.decode(run, skip_special_tokens=False), bool(state)))
    return out


def preview(tokenizer, source: str, snap: Snapshot, *, max_len: int, samples: int = 3) -> Preview:
    encoded = encode_all(tokenizer, source, snap.train, max_len=max_len)
    truncated = [ex.pair_id for ex, e in zip(snap.train, encoded) if e.truncated]
    shown: list[dict[str, Any]] = []
    for ex, e in list(zip(snap.train, encoded))[:samples]:
        shown.append({"pair_id": ex.pair_id, "pieces": pieces(tokenizer, e)})
    return Preview(
        examples=len(encoded),
        tokens=sum(len(e.input_ids) for e in encoded),
        trained_tokens=sum(e.trained for e in encoded),
        longest=max((e.full_length for e in encoded), default=0),
        truncated=truncated,
        samples=shown,
    )
