"""The judge's rubric: a file in the workspace the user edits, not a prompt fixed in code.

The judge model reads the rubric, filled in with the question, the reference answer and the
model's answer, and replies with a 1–5 score. Whether its scores mean anything depends on
that text, so it lives in ``<workspace>/judge_rubric.md``: written with the default (in
Russian, the data's language) the first time a judge or the Evaluate room needs it, then read
afresh by every evaluation. Each judgement stores the rubric's hash (``Rubric.hash``), so
scores from an edited rubric are never averaged with scores from the old one: evaluation
judges again what the current rubric has not judged.

Placeholders are replaced literally (no ``str.format``), so a rubric may hold braces of its
own, e.g. a JSON example: ``{question}``, ``{reference}`` and ``{answer}``; ``{answer}`` is
required — a judge that never sees the answer scores nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

FILE_NAME = "judge_rubric.md"

DEFAULT_RUBRIC = """Ты строгий экзаменатор. Сравни ответ ученика с эталонным ответом и поставь оценку от 1 до 5.
5 — ответ верный и полный, по смыслу совпадает с эталоном.
4 — верный, но упущена деталь.
3 — частично верный.
2 — в основном неверный, но есть связь с вопросом.
1 — неверный, не по теме или пустой.
Ответь одной строкой в виде «Оценка: N», где N — число от 1 до 5.

Вопрос: {question}
Эталонный ответ: {reference}
Ответ ученика: {answer}"""

PLACEHOLDERS = ("{question}", "{reference}", "{answer}")
REQUIRED = "{answer}"
EMPTY_ANSWER = "(пусто)"


def rubric_hash(text: str) -> str:
    """A short, stable name for one rubric text (line ends and trailing space do not count)."""
    canonical = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Rubric:
    text: str
    path: Path | None = None

    @property
    def hash(self) -> str:
        return rubric_hash(self.text)

    def prompt(self, question: str, reference: str, answer: str) -> str:
        """The rubric with this answer filled in: what the judge reads."""
        out = self.text
        for name, value in (("{question}", question), ("{reference}", reference), ("{answer}", answer or EMPTY_ANSWER)):
            out = out.replace(name, value)
        return out

    def to_dict(self) -> dict:
        return {"path": str(self.path) if self.path else None, "hash": self.hash, "text": self.text}


def check(text: str, where: str = "the rubric") -> str:
    """The text when a judge can use it; a ``UserError`` when it is empty or never shows the answer."""
    if not text.strip():
        raise UserError(f"{where} is empty", hint=f"write the judge's instructions with {REQUIRED} where the answer goes",
                        code="rubric.empty", params={"where": where})
    if REQUIRED not in text:
        raise UserError(f"{where} has no {REQUIRED} placeholder", hint="put {answer} where the judge should read the "
                        "model's answer ({question} and {reference} for the question and the reference)",
                        code="rubric.no_answer", params={"where": where})
    return text


def rubric_path(ws) -> Path:
    return Path(ws.home) / FILE_NAME


def load(ws) -> Rubric:
    """The workspace's rubric, written with the default first when there is none yet."""
    path = rubric_path(ws)
    if not path.exists():
        write(ws, DEFAULT_RUBRIC)
    return _read(path, hint="fix the file, or delete it to get the default rubric back")


def read_file(path: str | Path) -> Rubric:
    """A rubric from any file (``nastavnik eval --rubric FILE``)."""
    return _read(Path(path), hint="give a UTF-8 text file")


def _read(path: Path, hint: str) -> Rubric:
    """The checked rubric in ``path``; a file that cannot be read is a UserError with ``hint`` (the CLI's)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}", hint=hint, code="rubric.unreadable", params={"path": str(path)}) from exc
    return Rubric(check(text, path.name), path)


def write(ws, text: str) -> Rubric:
    """Save a new rubric text (checked first) to the workspace file."""
    path = rubric_path(ws)
    check(text, path.name)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    tmp.replace(path)
    return Rubric(path.read_text(encoding="utf-8"), path)


def reset(ws) -> Rubric:
    """Back to the default rubric."""
    return write(ws, DEFAULT_RUBRIC)


def current_hash(ws) -> str:
    """The hash of the workspace's rubric as it stands, checked or not (a rubric being edited
    still names its judgements); the default is written first when there is none."""
    path = rubric_path(ws)
    if not path.exists():
        write(ws, DEFAULT_RUBRIC)
    try:
        return rubric_hash(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}", hint="fix the file, or delete it to get the default rubric back",
                        code="rubric.unreadable", params={"path": str(path)}) from exc
