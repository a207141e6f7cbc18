"""The data of a run: choose approved pairs, snapshot and hash them, render and mask them.

* ``snapshot(store)`` picks the approved, live pairs of each split, in id order, and hashes
  their content (not their ids or timestamps): the same text gives the same sha256, any
  edit to a chosen pair changes it.
* ``encode(tokenizer, template, messages)`` renders a conversation with a chat template and
  marks which tokens are trained: only the final answer and the marker that ends its turn
  (the model's EOS). Masks are found by character spans of the rendered text mapped to
  tokens through the tokenizer's offsets, so they are exact for any template.

Rendering is transformers' own (``render_jinja_template``, what ``apply_chat_template`` runs:
``loopcontrols``, ``strftime_now``, ``{% generation %}``), with ``enable_thinking=False`` so
thinking models (Qwen 3, Qwen 3.5, Gemma 4) train in their non-thinking mode. The answer is
found one of three ways (``answer_spans``), always as the model will produce it:

1. the template marks it with ``{% generation %}`` — its last marked span;
2. the prompt the model is asked with (``add_generation_prompt``) is a prefix of the whole
   conversation — everything after it, up to the end of the answer's turn;
3. it is not (Gemma 4's 31B template: the no-thinking prompt ends in an empty thought
   channel the rendered conversation never contains) — the training text is that prompt,
   then the answer turn as the template renders it: exactly what inference sees and should
   write. Only a prompt that *adds* text before the answer is accepted; a template that
   renders the earlier turns differently when the answer follows is refused, naming the first
   difference — never trained on silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core.errors import UserError
from core.train.templates import ChatTemplate, pair_messages

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store

IGNORE = -100


@dataclass
class Example:
    pair_id: int | None
    messages: list[dict]
    tags: list[str] | None = None  # None: not recorded (a snapshot from before tags were kept)
    status: str | None = None


@dataclass
class LeftOut:
    """A pair in the store that the run does not train on, and why: ``rejected``, ``draft``
    (not approved) or ``deleted`` (in the trash). Kept so two runs' snapshots say why a pair left."""

    pair_id: int
    reason: str
    question: str
    split: str
    status: str
    tags: list[str]

    def to_record(self) -> dict:
        return {"pair_id": self.pair_id, "left": self.reason, "split": self.split, "status": self.status, "tags": self.tags,
                "question": self.question}


@dataclass
class Snapshot:
    train: list[Example]
    eval: list[Example]
    sha256: str
    left_out: list[LeftOut] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "train": len(self.train), "eval": len(self.eval)}

    def write(self, path: str | Path) -> Path:
        """One JSON line per example (messages, split, status, tags): what the run trained on, kept
        with it; then one line per pair it does not train on (``left`` says why, no messages)."""
        path = Path(path)
        with path.open("w", encoding="utf-8") as fh:
            for split, examples in (("train", self.train), ("eval", self.eval)):
                for ex in examples:
                    rec: dict = {"pair_id": ex.pair_id, "split": split, "messages": ex.messages}
                    if ex.status is not None:
                        rec["status"] = ex.status
                    if ex.tags is not None:
                        rec["tags"] = ex.tags
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            for out in self.left_out:
                fh.write(json.dumps(out.to_record(), ensure_ascii=False) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "Snapshot":
        """The snapshot a run wrote; one from before status and tags were kept reads with them None."""
        train: list[Example] = []
        evals: list[Example] = []
        left: list[LeftOut] = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if "left" in rec:
                left.append(LeftOut(rec["pair_id"], rec["left"], rec.get("question", ""), rec.get("split", ""),
                                    rec.get("status", ""), list(rec.get("tags") or [])))
                continue
            (train if rec["split"] == "train" else evals).append(
                Example(rec.get("pair_id"), rec["messages"], rec.get("tags"), rec.get("status")))
        return cls(train, evals, content_sha256(train, evals), left)


def content_sha256(train: Sequence[Example], evals: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for split, examples in (("train", train), ("eval", evals)):
        for ex in examples:
            h.update(json.dumps([split, ex.messages], ensure_ascii=False, sort_keys=True).encode())
            h.update(b"\n")
    return h.hexdigest()


def snapshot(store: Store) -> Snapshot:
    """Approved pairs (not in the trash) of both splits, in id order, with their hash; and every
    other pair (draft, rejected, in the trash) as left out, with why, for ``core.train.run_diff``."""
    from core.store import PairFilter

    splits: dict[str, list[Example]] = {"train": [], "eval": []}
    for split in splits:
        for p in store.iter_pairs(PairFilter(status="approved", split=split)):
            splits[split].append(Example(p.id, pair_messages(p.question, p.answer, system=p.system, context=p.context),
                                         list(p.tags), p.status))
    if not splits["train"]:
        raise UserError(
            "there are no approved pairs in the train split",
            hint="approve some pairs first: `nastavnik pairs approve 1-50`",
            code="train.no_pairs",
        )
    left = [LeftOut(p.id, p.status, p.question, p.split, p.status, list(p.tags))
            for p in store.iter_pairs(PairFilter()) if p.status != "approved"]
    left += [LeftOut(p.id, "deleted", p.question, p.split, p.status, list(p.tags)) for p in store.iter_pairs(PairFilter(trash=True))]
    left.sort(key=lambda o: o.pair_id)
    return Snapshot(splits["train"], splits["eval"], content_sha256(splits["train"], splits["eval"]), left)


# ---------------------------------------------------------------------------- rendering + masks


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False
    full_length: int = 0
    text: str = ""
    spans: list[tuple[int, int]] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)

    @property
    def trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)

    def trained_text(self) -> list[str]:
        """The exact substrings of ``text`` that carry loss: the trained tokens' characters, runs joined."""
        runs: list[list[int]] = []
        for (a, b), label in zip(self.offsets, self.labels):
            if label == IGNORE or b <= a:
                continue
            if runs and a <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], b)
            else:
                runs.append([a, b])
        return [self.text[a:b] for a, b in runs]


def template_source(tokenizer, template: ChatTemplate | None) -> str:
    """Our template for the preset if given; else the tokenizer's own."""
    if template is not None:
        return template.jinja
    source = getattr(tokenizer, "chat_template", None)
    if not source:
        raise UserError("the base model's tokenizer has no chat template", hint="choose one with --template",
                        code="template.none")
    return source


_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")
# a stand-in answer to find where the template puts the answer: no white space (templates trim)
# and nothing a template would rewrite
SENTINEL = "NASTAVNIK0ANSWER0SENTINEL"


def render_chat(tokenizer, source: str, messages: list[dict], *, add_generation_prompt: bool = False,
                generation_spans: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """The text transformers renders for ``messages`` with ``source`` (and the character spans of
    ``{% generation %}`` blocks when asked), as ``apply_chat_template`` would, non-thinking."""
    from jinja2.exceptions import TemplateError
    from transformers.utils.chat_template_utils import render_jinja_template

    kwargs = {**getattr(tokenizer, "special_tokens_map", {}), "enable_thinking": False}
    try:
        rendered, indices = render_jinja_template(
            conversations=[messages], chat_template=source, add_generation_prompt=add_generation_prompt,
            return_assistant_tokens_mask=generation_spans, **kwargs,
        )
    except TemplateError as exc:
        raise UserError(f"the chat template cannot render this conversation: {exc}", code="template.cannot_render",
                        params={"why": str(exc)}) from exc
    return rendered[0], [tuple(span) for span in (indices[0] if indices else [])]


def _first_difference(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def answer_spans(tokenizer, source: str, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The text to train on and the character span of the final answer with its end marker."""
    if not messages or messages[-1]["role"] != "assistant":
        raise UserError("a training example must end with the answer", code="template.no_answer_last")
    if _GENERATION.search(source):
        full, spans = render_chat(tokenizer, source, messages, generation_spans=True)
        if spans:
            a, b = spans[-1]  # the final answer's block; earlier assistant turns are context
            return full, [(a, max(a, len(full[:b].rstrip("\n"))))]
    prompt, _ = render_chat(tokenizer, source, messages[:-1], add_generation_prompt=True)
    full, _ = render_chat(tokenizer, source, messages)
    if full.startswith(prompt):
        end = len(full.rstrip("\n"))  # the newline after the end-of-turn marker is not the answer
        return full, [(len(prompt), end)]
    # where the answer turn starts in the full rendering: render it around a stand-in answer
    probe, _ = render_chat(tokenizer, source, [*messages[:-1], {**messages[-1], "content": SENTINEL}])
    at = probe.find(SENTINEL)
    after = probe[at + len(SENTINEL):] if at >= 0 else ""
    before = probe[:at] if at >= 0 else ""
    answer = full[len(before):len(full) - len(after)] if at >= 0 and full.startswith(before) and full.endswith(after) else None
    if answer is None or not prompt.startswith(before):
        i = _first_difference(prompt, before if at >= 0 else full)
        other = before if at >= 0 else full
        raise UserError(
            f"this chat template renders the conversation before the answer differently from the prompt it answers, "
            f"at character {i}: prompt {prompt[max(0, i - 12):i + 24]!r} vs conversation {other[max(0, i - 12):i + 24]!r}",
            hint="train with one of our templates (--template), or fix the checkpoint's chat_template.jinja",
            code="template.prompt_differs", params={"at": i},
        )
    # the prompt adds something the conversation lacks (an empty thought channel): train as inference runs
    text = prompt + answer + after
    return text, [(len(prompt), len(text.rstrip("\n")))]


def encode(tokenizer, source: str, messages: list[dict], *, max_len: int | None = None) -> Encoded:
    """Token ids and labels (-100 outside the answer) for one conversation."""
    bos = tokenizer.bos_token or ""
    text, spans = answer_spans(tokenizer, source, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    if bos and not text.startswith(bos) and getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None:
        # the tokenizer would add BOS itself: it is part of what the model sees, so of the text too
        n = len(bos)
        ids = [tokenizer.bos_token_id] + ids
        offsets = [(0, n)] + [(a + n, b + n) for a, b in offsets]
        text, spans = bos + text, [(a + n, b + n) for a, b in spans]
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
        ids, labels, offsets = ids[:max_len], labels[:max_len], offsets[:max_len]
    return Encoded(ids, labels, truncated, full_length, text, spans, offsets)


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
    truncated: list[int | None]  # pair ids that will be cut at max_len
    samples: list[dict]  # {pair_id, text, trained, pieces: [(text, trained)]}

    def to_dict(self) -> dict:
        return {
            "examples": self.examples,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "longest": self.longest,
            "truncated": self.truncated,
            "samples": [
                {"pair_id": s["pair_id"], "split": s["split"], "text": s["text"], "trained": s["trained"],
                 "pieces": [[t, bool(m)] for t, m in s["pieces"]]}
                for s in self.samples
            ],
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


def preview(tokenizer, source: str, snap: Snapshot, *, max_len: int, samples: int = 3, pair_ids: Sequence[int] | None = None) -> Preview:
    """What the run will train on; ``pair_ids``: show those pairs (either split), else the first ``samples``."""
    encoded = encode_all(tokenizer, source, snap.train, max_len=max_len)
    truncated = [ex.pair_id for ex, e in zip(snap.train, encoded) if e.truncated]
    if pair_ids is not None:
        wanted = set(pair_ids)
        chosen = [("train", ex) for ex in snap.train if ex.pair_id in wanted] + [("eval", ex) for ex in snap.eval if ex.pair_id in wanted]
        missing = sorted(wanted - {ex.pair_id for _, ex in chosen})
        if missing:
            raise UserError(
                f"pair(s) {', '.join(map(str, missing))} are not in this run's data",
                hint="only approved, live pairs are trained on: `nastavnik pairs show ID` shows a pair's status",
            )
        shown_pairs = [(split, ex, encode(tokenizer, source, ex.messages, max_len=max_len)) for split, ex in chosen]
    else:
        shown_pairs = [("train", ex, e) for ex, e in list(zip(snap.train, encoded))[:samples]]
    shown: list[dict[str, Any]] = [
        {"pair_id": ex.pair_id, "split": split, "text": e.text, "trained": e.trained_text(), "pieces": pieces(tokenizer, e)}
        for split, ex, e in shown_pairs
    ]
    return Preview(
        examples=len(encoded),
        tokens=sum(len(e.input_ids) for e in encoded),
        trained_tokens=sum(e.trained for e in encoded),
        longest=max((e.full_length for e in encoded), default=0),
        truncated=truncated,
        samples=shown,
    )
