"""The data of a preference run (DPO, ORPO): snapshot and hash the preference pairs, render
and tokenize them exactly as the trainer gets them.

* ``snapshot(store)`` takes every live preference (not in the trash), in id order, as TRL's
  conversational record (``prompt`` messages, ``chosen`` and ``rejected`` assistant turns)
  and hashes their content, not their ids or timestamps: the same text gives the same
  sha256, any edit, deletion or new preference changes it. The run keeps the snapshot
  (``dataset.jsonl``, one record a line), so a resumed run trains on the same pairs.
* ``encode(tokenizer, source, example)`` renders the prompt and each answer with the run's
  chat template through the same code that renders and masks an SFT example
  (``core.train.dataset.encode``): the prompt is everything before the answer, each completion is
  the answer and the marker that ends its turn — the tokens an SFT run trains on. These
  token ids are what DPOTrainer/ORPOTrainer get (core/train/preference.py hands them over
  as they are), so ``preview`` shows a pair exactly as the trainer sees it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from core.errors import UserError

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store

KIND = "preferences"  # the first line of a preference snapshot says so


@dataclass
class PreferenceExample:
    preference_id: int | None
    prompt: list[dict]  # system, earlier turns, the prompt as the last user turn
    chosen: str
    rejected: str

    def messages(self, answer: str) -> list[dict]:
        return [*self.prompt, {"role": "assistant", "content": answer}]

    def to_trl(self) -> dict:
        return {"prompt": self.prompt, "chosen": [{"role": "assistant", "content": self.chosen}],
                "rejected": [{"role": "assistant", "content": self.rejected}]}


@dataclass
class PreferenceSnapshot:
    examples: list[PreferenceExample]
    sha256: str
    deleted: list[int] = field(default_factory=list)  # preferences in the trash: left out, for ``core.train.run_diff``

    # the run's row and the Train room read these like an SFT snapshot's
    @property
    def train(self) -> list[PreferenceExample]:
        return self.examples

    @property
    def eval(self) -> list:
        return []

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "train": len(self.examples), "eval": 0, "kind": KIND}

    def write(self, path: str | Path) -> Path:
        """A header line, then one TRL conversational record per line (with its preference id),
        then one line per preference in the trash (``left``: why it is not trained on)."""
        path = Path(path)
        with path.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"kind": KIND, "count": len(self.examples)}) + "\n")
            for ex in self.examples:
                fh.write(json.dumps({"preference_id": ex.preference_id, **ex.to_trl()}, ensure_ascii=False) + "\n")
            for pid in self.deleted:
                fh.write(json.dumps({"preference_id": pid, "left": "deleted"}) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "PreferenceSnapshot":
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        if not lines or json.loads(lines[0]).get("kind") != KIND:
            raise UserError(f"{path} is not a preference snapshot", hint="start a new run")
        examples, deleted = [], []
        for line in lines[1:]:
            rec = json.loads(line)
            if "left" in rec:
                deleted.append(rec["preference_id"])
                continue
            examples.append(PreferenceExample(rec.get("preference_id"), rec["prompt"], rec["chosen"][0]["content"],
                                              rec["rejected"][0]["content"]))
        return cls(examples, content_sha256(examples), deleted)


def is_preference_snapshot(path: str | Path) -> bool:
    try:
        with Path(path).open(encoding="utf-8") as fh:
            first = fh.readline()
        return json.loads(first).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        return False


def content_sha256(examples: Sequence[PreferenceExample]) -> str:
    h = hashlib.sha256(KIND.encode() + b"\n")
    for ex in examples:
        h.update(json.dumps(ex.to_trl(), ensure_ascii=False, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def snapshot(store: Store) -> PreferenceSnapshot:
    """Every live preference, in id order, with its hash."""
    examples = [PreferenceExample(p.id, p.prompt_messages(), p.chosen, p.rejected) for p in store.live_preferences()]
    if not examples:
        raise UserError(
            "there are no preference pairs to train on",
            hint="correct a model's answer in Chat (e) or with `nastavnik correct`, or import them (`nastavnik prefs import`)",
            code="train.no_preferences",
        )
    from core.store import PreferenceFilter

    deleted = [p.id for p in store.iter_preferences(PreferenceFilter(trash=True))]
    return PreferenceSnapshot(examples, content_sha256(examples), deleted)


# ---------------------------------------------------------------------------- tokens


@dataclass
class EncodedPair:
    preference_id: int | None
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    full_length: int  # prompt + the longer completion, before truncation
    truncated: bool = False

    @property
    def tokens(self) -> int:
        return 2 * len(self.prompt_ids) + len(self.chosen_ids) + len(self.rejected_ids)


def _split(enc) -> tuple[list[int], list[int]]:
    """(everything before the answer, the answer with its end marker) of an encoded conversation."""
    from core.train.dataset import IGNORE

    trained = [i for i, label in enumerate(enc.labels) if label != IGNORE]
    if not trained:
        raise UserError("an answer of a preference pair renders to no tokens", hint="check the pair with `nastavnik prefs show`")
    return enc.input_ids[: trained[0]], enc.input_ids[trained[0] : trained[-1] + 1]


def encode(tokenizer, source: str, ex: PreferenceExample, *, max_len: int | None = None) -> EncodedPair | None:
    """The prompt and both completions as token ids; None when the prompt alone fills ``max_len``.

    A longer pair keeps its prompt and has each completion cut to fit ``max_len`` (TRL's
    ``keep_start``). Where the tokenizer merges across the end of the prompt, the prompt is
    the part both renderings share and the rest belongs to the completions.
    """
    from core.train.dataset import encode as encode_conversation

    chosen_prompt, chosen = _split(encode_conversation(tokenizer, source, ex.messages(ex.chosen)))
    rejected_prompt, rejected = _split(encode_conversation(tokenizer, source, ex.messages(ex.rejected)))
    n = 0
    while n < min(len(chosen_prompt), len(rejected_prompt)) and chosen_prompt[n] == rejected_prompt[n]:
        n += 1
    prompt = chosen_prompt[:n]
    chosen, rejected = chosen_prompt[n:] + chosen, rejected_prompt[n:] + rejected
    full = len(prompt) + max(len(chosen), len(rejected))
    truncated = bool(max_len and full > max_len)
    if truncated and max_len:
        room = max_len - len(prompt)
        if room < 1:
            return None
        chosen, rejected = chosen[:room], rejected[:room]
    return EncodedPair(ex.preference_id, prompt, chosen, rejected, full, truncated)


def encode_all(tokenizer, source: str, snap: PreferenceSnapshot, *, max_len: int | None) -> tuple[list[EncodedPair], list]:
    """(the encoded pairs, the ids of the pairs left out because their prompt alone is too long)."""
    kept, dropped = [], []
    for ex in snap.examples:
        enc = encode(tokenizer, source, ex, max_len=max_len)
        if enc is None:
            dropped.append(ex.preference_id)
        else:
            kept.append(enc)
    return kept, dropped


def to_hf_dataset(encoded: Sequence[EncodedPair]):
    """A ``datasets.Dataset`` of ``prompt_ids``/``chosen_ids``/``rejected_ids`` (TRL's tokenized preference columns)."""
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt_ids": [e.prompt_ids for e in encoded],
        "chosen_ids": [e.chosen_ids for e in encoded],
        "rejected_ids": [e.rejected_ids for e in encoded],
    })


# ---------------------------------------------------------------------------- preview


@dataclass
class PreferencePreview:
    examples: int
    tokens: int
    longest: int
    truncated: list  # preference ids whose answers will be cut at max_len
    dropped: list  # preference ids left out: the prompt alone is longer than max_len
    samples: list[dict] = field(default_factory=list)  # {preference_id, prompt, chosen, rejected}: decoded token ids

    def to_dict(self) -> dict:
        return {"examples": self.examples, "tokens": self.tokens, "longest": self.longest, "truncated": self.truncated,
                "dropped": self.dropped, "samples": self.samples}


def preview(tokenizer, source: str, snap: PreferenceSnapshot, *, max_len: int, samples: int = 1) -> PreferencePreview:
    """What the trainer will get: counts, and the first pairs decoded from their token ids
    (special tokens and turn markers included)."""
    encoded, dropped = encode_all(tokenizer, source, snap, max_len=max_len)

    def text(ids):
        return tokenizer.decode(ids, skip_special_tokens=False)

    shown = [{"preference_id": e.preference_id, "prompt": text(e.prompt_ids), "chosen": text(e.chosen_ids),
              "rejected": text(e.rejected_ids)} for e in encoded[:samples]]
    return PreferencePreview(
        examples=len(encoded),
        tokens=sum(e.tokens for e in encoded),
        longest=max((e.full_length for e in encoded), default=0),
        truncated=[e.preference_id for e in encoded if e.truncated],
        dropped=dropped,
        samples=shown,
    )
