"""Teacher drafts: a (larger) model writes answers, or whole pairs from a document, for review.

Any registered GGUF can be the teacher. Two jobs, both for the CLI and the app:

* ``draft_answer(model, question, …)`` streams the teacher's answer to one question (the
  pair editor shows it as it comes; Escape cancels). ``draft_pair`` saves it as a draft pair
  with source ``teacher:<model>`` (``nastavnik draft -q``).
* ``draft_from_document(ws, teacher, text, count=N)``: the document is split into chunks that
  fit the teacher's context (measured with the teacher's own tokenizer and chat template);
  for each pair the teacher reads one chunk and writes a question and its answer as JSON,
  constrained by a llama.cpp grammar (``qa_grammar``) so the output always parses and, with
  its length caps, always ends within ``max_tokens``. Questions it already asked of a chunk
  go back into the prompt so it asks something else; a question asked before (in this run
  or by a live pair) is a duplicate, skipped and counted. The pairs are saved as one import
  batch of drafts (one undo takes them back), never approved by themselves.

Progress is ``core.progress.ProgressEvent``: the stage is load, split, then per attempt draft (a
new pair), duplicate or failed, then save and done; done of total counts the pairs drafted of
those asked for; the message is the model (load), the question (draft, duplicate) or why (failed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from core.errors import UserError
from core.progress import OnProgress, ProgressEvent, ignore
from core.store.drafts import teacher_source
from core.text import normalize

if TYPE_CHECKING:
    from core.infer.runner import ChildRunner, LocalRunner, ModelRunner, Reply

TEACHER_SYSTEM = "Ты — опытный преподаватель. Отвечай по-русски: точно, ясно и по существу."
DOC_SYSTEM = (
    "Ты составляешь учебные пары «вопрос — ответ» по документу. Пиши по-русски. Вопрос — такой, какой задал бы "
    "ученик; ответ — точный и полный, только по тексту фрагмента."
)
DOC_PROMPT = """Фрагмент документа:
<<<
{chunk}
>>>
{avoid}Составь по этому фрагменту один новый вопрос и ответ на него. Ответь объектом JSON с полями "question" и "answer"."""
AVOID = "Эти вопросы уже заданы, спроси о другом:\n{questions}\n"
DEFAULT_MAX_TOKENS = 1024  # one answer
DEFAULT_PAIR_TOKENS = 2048  # one question and its answer as JSON, from a document
DEFAULT_CONTEXT = 4096
MAX_AVOID = 5  # earlier questions of a chunk shown to the teacher


@dataclass
class DraftReport:
    teacher: str
    requested: int
    chunks: int
    saved: list = field(default_factory=list)  # the new pairs
    duplicates: int = 0
    failed: int = 0
    attempts: int = 0
    cancelled: bool = False
    failures: list[str] = field(default_factory=list)  # why, the first few

    def to_dict(self) -> dict:
        return {
            "teacher": self.teacher,
            "requested": self.requested,
            "saved": len(self.saved),
            "duplicates": self.duplicates,
            "failed": self.failed,
            "attempts": self.attempts,
            "chunks": self.chunks,
            "cancelled": self.cancelled,
            "failures": self.failures,
            "pairs": [p.to_dict() for p in self.saved],
        }


# ---------------------------------------------------------------------------- one answer


def teacher_messages(question: str, *, system: str | None = None, context: Sequence[dict] = ()) -> list[dict]:
    """What the teacher is asked: the pair's own system prompt (or the teacher's), its
    earlier turns, the question."""
    out = [{"role": "system", "content": system if system and system.strip() else TEACHER_SYSTEM}]
    out += [{"role": t["role"], "content": t["content"]} for t in context if t.get("role") in ("user", "assistant")]
    out.append({"role": "user", "content": question})
    return out


def draft_answer(model: ModelRunner, question: str, *, system: str | None = None, context: Sequence[dict] = (),
                 max_tokens: int = DEFAULT_MAX_TOKENS, temperature: float = 0.0,
                 cancel: Callable[[], bool] | None = None,
                 on_piece: Callable[[str], None] | None = None) -> Reply:
    """Stream ``model``'s answer to ``question`` (each piece to ``on_piece``); returns its Reply."""
    if not question or not question.strip():
        raise UserError("the question is empty", hint="write the question first; the teacher answers it", code="draft.empty_question")
    for piece in model.stream(teacher_messages(question, system=system, context=context), temperature=temperature,
                              max_tokens=max_tokens, cancel=cancel):
        if on_piece is not None:
            on_piece(piece)
    assert model.last is not None  # the stream has ended
    return model.last


def open_teacher(ws, teacher: str, *, in_process: bool = True,
                 n_ctx: int = DEFAULT_CONTEXT) -> LocalRunner | ChildRunner:
    """The teacher model (not loaded yet): a registered GGUF name, a path, an export or a run."""
    from core.infer.runner import open_model

    if not teacher or not str(teacher).strip():
        raise UserError("no teacher model given", hint="name one with --teacher (`nastavnik models list` shows them)",
                        code="draft.no_teacher")
    return open_model(ws, teacher, in_process=in_process, n_ctx=n_ctx)


def draft_pair(ws, teacher: str, question: str, *, system: str | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
               on_piece: Callable[[str], None] | None = None, tags: Sequence[str] = ()):
    """Ask the teacher one question and save its answer as a draft pair (``nastavnik draft -q``)."""
    if not question or not question.strip():
        raise UserError("the question is empty", hint="give the question with -q")
    with ws.store() as store:
        dup = store.find_question(question)
        if dup is not None:
            raise UserError(f"pair {dup} already asks this question", hint=f"`nastavnik pairs show {dup}` shows it")
    model = open_teacher(ws, teacher)
    try:
        reply = draft_answer(model, question, system=system, max_tokens=max_tokens, on_piece=on_piece)
    finally:
        model.close()
    text = reply.text.strip()
    if not text:
        raise UserError(f"the teacher {model.ref.label} gave an empty answer", hint="try another teacher model",
                        code="draft.empty_answer", params={"teacher": model.ref.label})
    with ws.store() as store:
        return store.add_drafted_pair(question.strip(), text, teacher=model.ref.key, draft=text, system=system,
                                      tags=tags)


# ---------------------------------------------------------------------------- pairs from a document


def qa_grammar(max_question_chars: int, max_answer_chars: int) -> str:
    """GBNF for {"question": "…", "answer": "…"}: valid JSON strings of bounded length."""
    return (
        'root ::= "{" ws "\\"question\\":" ws question "," ws "\\"answer\\":" ws answer ws "}"\n'
        f'question ::= "\\"" char{{3,{max(3, max_question_chars)}}} "\\""\n'
        f'answer ::= "\\"" char{{1,{max(1, max_answer_chars)}}} "\\""\n'
        'char ::= [^"\\\\\\x00-\\x1f] | "\\\\" ["\\\\/bfnrt]\n'
        "ws ::= [ \\n]{0,2}\n"
    )


JSON_OVERHEAD = 40  # the braces, keys, quotes and whitespace the grammar allows around the strings


def caps(max_tokens: int) -> tuple[int, int]:
    """Length caps (grammar characters) for a question and an answer whose JSON fits in
    ``max_tokens``: a grammar character is at most two characters of output (an escape like
    ``\\n``) and a token is at least one, so the object closes before the tokens run out."""
    budget = max(16, (max_tokens - JSON_OVERHEAD) // 2)
    question = max(8, budget // 5)
    return question, max(8, budget - question)


def read_document(path: str | Path, encoding: str | None = None) -> str:
    """A text document (UTF-8, UTF-16, cp1251… detected) as text."""
    from core.formats.textio import read_text

    text, _ = read_text(Path(path), encoding)
    if not text.strip():
        raise UserError(f"{path}: the document is empty", hint="give a text file with the material to draft from",
                        code="draft.empty_document", params={"file": str(path)})
    return text


_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?…])\s+")


def split_document(text: str, budget: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Chunks of ``text`` of at most ``budget`` tokens each (by ``count_tokens``), cut at
    paragraphs, then sentences, then words, kept in order."""
    if budget < 16:
        raise UserError(f"the teacher's context leaves {budget} tokens for the document",
                        hint="use a teacher with a longer context, or lower --max-tokens",
                        code="draft.no_room", params={"budget": budget})
    pieces: list[tuple[str, int]] = []
    for para in _PARAGRAPHS.split(text.replace("\r\n", "\n")):
        para = para.strip()
        if not para:
            continue
        n = count_tokens(para)
        if n <= budget:
            pieces.append((para, n))
            continue
        for sentence in _SENTENCES.split(para):
            n = count_tokens(sentence)
            if n <= budget:
                pieces.append((sentence, n))
                continue
            line: list[str] = []
            used = 0
            for w in sentence.split():  # a sentence longer than the budget: cut between words
                n = count_tokens(w) + 1  # each word once; a space may cost a token of its own
                if line and used + n > budget:
                    pieces.append((" ".join(line), used))
                    line, used = [], 0
                line.append(w)
                used += n
            if line:
                pieces.append((" ".join(line), used))
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece, n in pieces:
        if current and used + n + 1 > budget:
            chunks.append("\n\n".join(current))
            current, used = [], 0
        current.append(piece)
        used += n + 1
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def document_messages(chunk: str, asked: Sequence[str] = ()) -> list[dict]:
    avoid = AVOID.format(questions="\n".join(f"- {q}" for q in asked[-MAX_AVOID:])) if asked else ""
    return [{"role": "system", "content": DOC_SYSTEM}, {"role": "user", "content": DOC_PROMPT.format(chunk=chunk, avoid=avoid)}]


def parse_qa(text: str) -> tuple[str, str]:
    """(question, answer) from the teacher's JSON; a UserError when it holds no usable pair."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError(f"the teacher's output is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError("the teacher's output is not a JSON object")
    q, a = data.get("question"), data.get("answer")
    if not isinstance(q, str) or not q.strip() or not isinstance(a, str) or not a.strip():
        raise UserError("the teacher wrote an empty question or answer")
    return " ".join(q.split()), a.strip()


def draft_from_document(
    ws,
    teacher: str,
    text: str,
    *,
    count: int,
    name: str = "document",
    max_tokens: int = DEFAULT_PAIR_TOKENS,
    n_ctx: int = DEFAULT_CONTEXT,
    in_process: bool = True,
    progress: OnProgress | None = None,
    cancel: Callable[[], bool] | None = None,
    model=None,
) -> DraftReport:
    """Draft ``count`` pairs from ``text`` with ``teacher`` and save them as drafts (see the
    module docs). ``model``: an already opened teacher to use (it is not closed)."""
    report = progress or ignore
    if count < 1:
        raise UserError(f"--count {count}: nothing to draft", hint="ask for at least one pair")
    if not text or not text.strip():
        raise UserError(f"{name}: the document is empty", hint="give a text with the material to draft from",
                        code="draft.empty_document", params={"file": str(name)})
    own = model is None
    if own:
        model = open_teacher(ws, teacher, in_process=in_process, n_ctx=n_ctx)
    result = DraftReport(teacher=model.ref.key, requested=count, chunks=0)
    try:
        report(ProgressEvent("load", 0, count, model.ref.label))
        model.load()
        context = model.context_size()
        max_tokens = max(32, min(max_tokens, context // 2))
        q_cap, a_cap = caps(max_tokens)
        grammar = qa_grammar(q_cap, a_cap)
        overhead = model.count_prompt(document_messages("", ["x" * q_cap] * min(MAX_AVOID, max(0, count - 1))))
        budget = context - overhead - max_tokens - 8
        report(ProgressEvent("split", 0, count, name))
        chunks = split_document(text, budget, model.count_tokens)
        result.chunks = len(chunks)
        asked: list[list[str]] = [[] for _ in chunks]
        seen: set[str] = set()
        rows: list[dict] = []
        limit = count * 3 + len(chunks)  # a teacher that keeps repeating itself stops somewhere
        with ws.store() as store:
            while len(rows) < count and result.attempts < limit:
                if cancel is not None and cancel():
                    result.cancelled = True
                    break
                i = result.attempts % len(chunks)
                result.attempts += 1
                messages = document_messages(chunks[i], asked[i])
                reply = model.reply(messages, temperature=0.0, max_tokens=max_tokens, grammar=grammar, cancel=cancel)
                if reply.reason == "cancelled":
                    result.cancelled = True
                    break
                try:
                    if reply.reason == "length":
                        raise UserError(f"the pair did not fit in {max_tokens} tokens")
                    question, answer = parse_qa(reply.text)
                except UserError as exc:
                    result.failed += 1
                    if len(result.failures) < 5:
                        result.failures.append(f"chunk {i + 1}: {exc.message}")
                    report(ProgressEvent("failed", len(rows), count, f"{i + 1}: {exc.message}"))
                    continue
                asked[i].append(question)
                key = normalize(question)
                if key in seen or store.find_question(question) is not None:
                    result.duplicates += 1
                    report(ProgressEvent("duplicate", len(rows), count, question))
                    continue
                seen.add(key)
                rows.append(store.prepare_row(question, answer, status="draft", source=teacher_source(model.ref.key)))
                report(ProgressEvent("draft", len(rows), count, question))
            if rows:
                report(ProgressEvent("save", len(rows), count, name))
                counts = store.add_draft_rows(rows, teacher=model.ref.key, files=[name])
                result.duplicates += counts.duplicates
                result.saved = store.pairs_of_batch(counts.batch_id)
        report(ProgressEvent("done", len(result.saved), count, name))
        return result
    finally:
        if own:
            model.close()
