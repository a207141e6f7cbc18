"""Record shapes: how one parsed object (a JSON line, a table row) becomes pairs, and back.

A *shape* is the layout of one record — OpenAI ``messages``, ShareGPT ``conversations``,
Alpaca ``instruction``/``input``/``output``, or a flat table of ``question``/``answer``
columns (any of the usual names, Russian ones too). A *container* (JSONL, JSON, CSV,
Parquet, a ``datasets`` folder) hands out objects; a shape turns each into records.

Parsers raise ``Bad(field, reason)``; the reader turns it into a ``BadRecord`` with the
location. Every shape also accepts the optional keys ``tags``, ``status`` and ``split``
(and ``system`` / ``context`` where the shape has no place of its own for them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from core.formats.base import BadRecord, Location, Record
from core.text import split_tags


class Bad(Exception):
    """A record that cannot become a pair: which field, and what to do."""

    def __init__(self, field: str | None, reason: str, code: str | None = None, **params: Any) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.code = code  # a stable name of the reason ("empty_answer"): the app says it in its own language
        self.params = params


# --------------------------------------------------------------------------- values

STATUS_WORDS = {
    "draft": "draft",
    "черновик": "draft",
    "new": "draft",
    "approved": "approved",
    "approve": "approved",
    "одобрено": "approved",
    "одобрен": "approved",
    "принято": "approved",
    "принят": "approved",
    "rejected": "rejected",
    "reject": "rejected",
    "отклонено": "rejected",
    "отклонен": "rejected",
    "отклонён": "rejected",
}
SPLIT_WORDS = {
    "train": "train",
    "training": "train",
    "обучение": "train",
    "eval": "eval",
    "evaluation": "eval",
    "test": "eval",
    "validation": "eval",
    "valid": "eval",
    "dev": "eval",
    "проверка": "eval",
    "тест": "eval",
    "валидация": "eval",
}
USER_ROLES = ("user", "human", "пользователь")
ASSISTANT_ROLES = ("assistant", "gpt", "model", "bot", "chatgpt", "ассистент")
SYSTEM_ROLES = ("system", "developer", "система")
DEFAULT_ROLES = {
    **{r: "user" for r in USER_ROLES},
    **{r: "assistant" for r in ASSISTANT_ROLES},
    **{r: "system" for r in SYSTEM_ROLES},
}


def kind_of(value: Any) -> str:
    """A value's JSON kind, for messages: an object, a list, true/false, null, str, int…"""
    return {dict: "an object", list: "a list", bool: "true/false", type(None): "null"}.get(type(value), type(value).__name__)


def kind_code(value: Any) -> str:
    """A value's JSON kind as a stable name (object, list, bool, null, str, int, float…): the
    ``kind`` param of a coded reason, which the app names in its own language."""
    return {dict: "object", list: "list", bool: "bool", type(None): "null"}.get(type(value), type(value).__name__)


def text_of(value: Any, field: str) -> str:
    """A turn's text: a string, or a list of typed content parts.

    Text parts are OpenAI's ``{"type": "text", "text": …}`` and LLaMA-Factory's
    ``{"type": "text", "value": …}``; they are joined with nothing in between, as
    LLaMA-Factory itself joins the text parts of a message when it renders one. Any other
    part (an image, audio, a tool call, reasoning…) cannot become a pair, and the error
    names its type.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        return "".join(_part_text(p, f"{field}[{i}]") for i, p in enumerate(value))
    raise Bad(field, f"expected text, found {kind_of(value)}", "not_text", kind=kind_code(value))


def _part_text(part: dict, field: str) -> str:
    kind = part.get("type", "text")
    if kind != "text":
        what = repr(kind) if isinstance(kind, str) else kind_of(kind)
        raise Bad(field, f"a part of type {what}: only text parts can be imported — remove the part (or the record)",
                  "part_not_text", type=kind if isinstance(kind, str) else kind_code(kind))
    for key in ("text", "value"):
        text = part.get(key)
        if isinstance(text, str):
            return text
    found = ", ".join(f"{k!r}: {kind_of(v)}" for k, v in part.items() if k != "type") or "nothing else"
    raise Bad(field, f"a text part needs its text as a string under \"text\" or \"value\" (found {found})", "part_no_text")


def tags_of(value: Any, field: str = "tags") -> list[str]:
    """Tags from a list, a JSON list in text, or "a, b" / "a; b" text."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                loaded = json.loads(s)
            except ValueError:
                loaded = None
            if isinstance(loaded, list):
                value = loaded
            else:
                return split_tags(s)
        else:
            return split_tags(s)
    if isinstance(value, (list, tuple)):
        out = []
        for t in value:
            if isinstance(t, (dict, list)):
                raise Bad(field, "expected a list of words, e.g. [\"основы\", \"lora\"]", "tags_nested")
            if t is not None and str(t).strip():
                out.append(str(t))
        return out
    raise Bad(field, f"expected a list of tags or a comma-separated text, found {kind_of(value)}", "tags_kind",
              kind=kind_code(value))


def status_of(value: Any, field: str = "status") -> str | None:
    if value is None or value == "":
        return None
    word = STATUS_WORDS.get(str(value).strip().lower())
    if word is None:
        raise Bad(field, f"unknown status {value!r} — use draft, approved or rejected", "unknown_status", value=str(value))
    return word


def split_of(value: Any, field: str = "split") -> str | None:
    if value is None or value == "":
        return None
    word = SPLIT_WORDS.get(str(value).strip().lower())
    if word is None:
        raise Bad(field, f"unknown split {value!r} — use train or eval", "unknown_split", value=str(value))
    return word


def system_of(value: Any, field: str = "system") -> str | None:
    if value is None:
        return None
    text = text_of(value, field)
    return text if text.strip() else None


def context_of(value: Any, field: str = "context") -> list[dict]:
    """Earlier turns: a list of {role, content} (or a JSON text of one, as CSV cells hold it)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Bad(field, 'expected a JSON list of turns, e.g. [{"role": "user", "content": "…"}]', "turns_json") from None
    if not isinstance(value, list):
        raise Bad(field, f"expected a list of turns, found {kind_of(value)}", "turns_kind", kind=kind_code(value))
    out = []
    for i, turn in enumerate(value):
        if isinstance(turn, dict):
            role = turn.get("role", turn.get("from"))
            content = turn.get("content", turn.get("value"))
            canon = DEFAULT_ROLES.get(str(role).lower()) if role is not None else None
            if canon is None:
                raise Bad(f"{field}[{i}]", f"unknown role {role!r} — use user or assistant", "unknown_role", role=str(role))
            out.append({"role": canon, "content": text_of(content, f"{field}[{i}].content")})
        else:
            raise Bad(f"{field}[{i}]", f"expected an object with role and content, found {kind_of(turn)}", "turn_kind",
                      kind=kind_code(turn))
    return out


def _extras(obj: dict) -> tuple[list[str], str | None, str | None]:
    get = obj.get
    tags = get("tags")
    status = get("status")
    split = get("split")
    if tags:
        # the store cleans tags (strip, drop empty, dedup); a list of strings needs no more here
        if not (tags.__class__ is list and all(t.__class__ is str for t in tags)):
            tags = tags_of(tags)
    else:
        tags = []
    if status:
        status = (status.__class__ is str and STATUS_WORDS.get(status)) or status_of(status)
    if split:
        split = (split.__class__ is str and SPLIT_WORDS.get(split)) or split_of(split)
    return tags, status or None, split or None


def need(value: str, field: str, what: str) -> str:
    """``value``, unless it is empty or white space (then the field is Bad: ``what`` is empty)."""
    if not value or not value.strip():
        raise Bad(field, f"the {what} is empty — write one or remove the record", f"empty_{what}")
    return value


# --------------------------------------------------------------------------- shapes


def _weight_key(turn: dict, field: str) -> str | None:
    """The key of a turn's weight when it says "do not train on this" (0), else None.

    OpenAI writes ``"weight": 0|1``, LLaMA-Factory ``"loss_weight": 0.0|1.0``; a missing or
    null weight (Parquet rows have the column on every turn) means the turn is trained.
    """
    for wk in ("loss_weight", "weight"):
        w = turn.get(wk)
        if w is None:
            continue
        if not isinstance(w, (int, float)):
            raise Bad(f"{field}.{wk}", f"expected a number (0: context only, 1: train on it), found {kind_of(w)}", "weight_kind",
                      kind=kind_code(w))
        if w < 0:
            raise Bad(f"{field}.{wk}", f"a weight of {w} — use 0 (context only) or 1 (train on it)", "weight_negative", value=w)
        return wk if w == 0 else None
    return None


class Conversation:
    """OpenAI ``messages`` and ShareGPT ``conversations``: one pair per user→assistant exchange.

    Earlier turns of the conversation become the pair's context. An assistant turn with
    ``"weight": 0`` (OpenAI's way to say "do not train on this") or ``"loss_weight": 0.0``
    (LLaMA-Factory's) is context only; that is how exported pairs keep their context without
    turning it into pairs of its own. A record whose every answer has weight 0 has nothing to
    learn and is a bad record, as one with an empty answer is; turns after the last trained
    answer belong to no pair (LLaMA-Factory does not train on them either) and are left out.
    Weights of user and system turns mean nothing here and are ignored.
    """

    def __init__(
        self,
        list_key: str | None = None,
        *,
        role_key: str | None = None,
        content_key: str | None = None,
        roles: dict[str, str] | None = None,
        system_key: str = "system",
    ) -> None:
        self.list_key = list_key
        self.role_key = role_key
        self.content_key = content_key
        self.roles = roles or DEFAULT_ROLES
        self.system_key = system_key

    def _turns_key(self, obj: dict) -> str:
        if self.list_key is not None:
            return self.list_key
        for key in ("messages", "conversations", "conversation"):
            if key in obj:
                return key
        return "messages"

    def __call__(self, obj: dict) -> list[Record]:
        key = self.list_key
        turns = obj.get(key or "messages")
        if turns is None:
            key = self._turns_key(obj)
            turns = obj.get(key)
            if turns is None:
                raise Bad(key, f"missing — every record needs a {key!r} list of turns", "missing_turns", name=key)
        system = obj.get(self.system_key)
        if system is not None:
            system = system_of(system, self.system_key)
        return self.pairs(turns, key or "messages", system, obj)

    def pairs(self, turns: Any, key: str, system: str | None, obj: dict) -> list[Record]:
        if not isinstance(turns, list):
            raise Bad(key, f"expected a list of turns, found {kind_of(turns)}", "turns_kind", kind=kind_code(turns))
        tags, status, split = _extras(obj)
        get_role = self.roles.get
        rk0, ck0 = self.role_key, self.content_key
        if len(turns) == 2 and rk0 is None:  # the common single exchange, without the general loop
            u, a = turns
            if u.__class__ is dict and a.__class__ is dict and "weight" not in a and "loss_weight" not in a:
                if "role" in u:
                    ur, ar, q, ans = u["role"], a.get("role"), u.get("content"), a.get("content")
                else:
                    ur, ar, q, ans = u.get("from"), a.get("from"), u.get("value"), a.get("value")
                if (
                    q.__class__ is str
                    and ans.__class__ is str
                    and ur.__class__ is str
                    and ar.__class__ is str
                    and get_role(ur) == "user"
                    and get_role(ar) == "assistant"
                    and q
                    and ans
                    and not q.isspace()
                    and not ans.isspace()
                ):
                    return [Record(q, ans, system, [], tags, status, split)]
        hist: list[tuple[str, str]] = []  # (role, content) so far
        out: list[Record] = []
        last_user = -1  # index in ``turns`` of the user turn waiting for an answer
        untrained: str | None = None  # the weight field of the last answer with weight 0
        for i, turn in enumerate(turns):
            rk, ck = turn_keys(turn, f"{key}[{i}]", rk0, ck0)
            raw_role = turn.get(rk)
            role = get_role(raw_role) if raw_role.__class__ is str else None
            if role is None:
                role = role_of(raw_role, self.roles, f"{key}[{i}].{rk}")
            content = turn.get(ck)
            if content.__class__ is not str:
                content = text_of(content, f"{key}[{i}].{ck}")
            if role == "user":
                hist.append(("user", content))
                last_user = i
            elif role == "assistant":
                weight_key = _weight_key(turn, f"{key}[{i}]")
                if weight_key is not None:
                    untrained = f"{key}[{i}].{weight_key}"
                if last_user < 0 or weight_key is not None:
                    hist.append(("assistant", content))
                    last_user = -1
                    continue
                question = hist[-1][1]
                if not question or question.isspace():
                    raise Bad(f"{key}[{last_user}].{ck}", "the question is empty — write one or remove the record", "empty_question")
                if not content or content.isspace():
                    raise Bad(f"{key}[{i}].{ck}", "the answer is empty — write one or remove the record", "empty_answer")
                context = [{"role": r, "content": c} for r, c in hist[:-1]] if len(hist) > 1 else []
                out.append(Record(question, content, system, context, tags, status, split))
                hist.append(("assistant", content))
                last_user = -1
            elif not hist and system is None:  # system
                system = content if content and not content.isspace() else None
            else:
                hist.append(("system", content))
        if not out:
            if untrained is not None:
                raise Bad(untrained, "the answer has weight 0, so there is nothing to learn — give it a weight above 0 or remove the record",
                          "weight_zero")
            raise Bad(key, "no user turn followed by an assistant answer — nothing to learn here", "no_exchange")
        return out


def read_objects(
    objects: Iterable[tuple[Location, Any]], settle: Callable[[Location, dict], Callable[[dict], list]]
) -> Iterator[tuple[Location, Any]]:
    """The records of a file's objects, each where it stands, or a BadRecord saying what is wrong.

    ``settle`` gets the first object and returns the shape that makes records of every object
    (a list each); objects a reader could not parse come through as their BadRecord.
    """
    shape = None
    for loc, obj in objects:
        if obj.__class__ is dict or (obj.__class__ is not BadRecord and isinstance(obj, dict)):
            if shape is None:
                shape = settle(loc, obj)
            try:
                records = shape(obj)
            except Bad as exc:
                yield loc, BadRecord(loc, exc.reason, exc.field, obj, code=exc.code, params=exc.params)
                continue
            if len(records) == 1:
                yield loc, records[0]
            else:
                for rec in records:
                    yield loc, rec
        elif obj.__class__ is BadRecord:
            yield loc, obj
        else:
            yield loc, BadRecord(loc, f"expected an object ({{…}}), found {type(obj).__name__}", None, obj,
                                 code="not_object", params={"kind": kind_code(obj)})


def turn_keys(turn: Any, field: str, role_key: str | None, content_key: str | None) -> tuple[str, str]:
    """Where one turn keeps its role and its text: the keys given, else OpenAI's ``role``/``content``
    where the turn has them, else ShareGPT's ``from``/``value``."""
    if not isinstance(turn, dict):
        raise Bad(field, f"expected an object with role and content, found {kind_of(turn)}", "turn_kind", kind=kind_code(turn))
    return role_key or ("role" if "role" in turn else "from"), content_key or ("content" if "content" in turn else "value")


def role_of(raw_role: Any, roles: dict[str, str], field: str) -> str:
    """user, assistant or system: what ``roles`` maps a turn's role name to, case and spaces aside."""
    if isinstance(raw_role, str):
        role = roles.get(raw_role.lower()) or roles.get(raw_role.strip().lower())
        if role:
            return role
        raise Bad(field, f"role {raw_role!r} is not supported — only system, user and assistant turns can be imported",
                  "role_unsupported", role=raw_role)
    if raw_role is None:
        raise Bad(field, "missing — each turn needs a role (user, assistant or system)", "role_missing")
    raise Bad(field, f"expected a role name, found {kind_of(raw_role)}", "role_kind", kind=kind_code(raw_role))


class Alpaca:
    """Alpaca: ``instruction`` + ``input`` (joined with a newline) → question, ``output`` → answer.

    ``history`` ([[question, answer], …]) becomes the context; ``system`` the system prompt.
    Column names can be remapped (LLaMA-Factory's ``columns``).
    """

    def __init__(
        self,
        prompt: str = "instruction",
        query: str = "input",
        response: str = "output",
        system: str = "system",
        history: str = "history",
    ) -> None:
        self.prompt, self.query, self.response, self.system, self.history = prompt, query, response, system, history

    def __call__(self, obj: dict) -> list[Record]:
        r = self.response
        question = self.instruction(obj, f"every Alpaca record needs {self.prompt!r} (and {r!r})", "question")
        if r not in obj:
            raise Bad(r, f"missing — every Alpaca record needs {r!r}, the answer", "missing_answer_key", name=r)
        answer = need(text_of(obj.get(r), r), r, "answer")
        context = self.earlier_turns(obj.get(self.history))
        if not context and obj.get("context"):
            context = context_of(obj["context"])
        tags, status, split = _extras(obj)
        return [Record(question, answer, system_of(obj.get(self.system), self.system), context, tags, status, split)]

    def instruction(self, obj: dict, needs: str, what: str) -> str:
        """The prompt and the query columns joined with a newline: the question (or a preference's
        prompt, as ``what`` names it); ``needs`` says what a record with neither lacks."""
        p, q = self.prompt, self.query
        if p not in obj and q not in obj:
            raise Bad(p, f"missing — {needs}", f"missing_{what}_key", name=p)
        instruction = text_of(obj.get(p), p)
        extra = text_of(obj.get(q), q)
        text = f"{instruction}\n{extra}" if instruction and extra else (instruction or extra)
        return need(text, p if instruction or not extra else q, what)

    def earlier_turns(self, value: Any) -> list[dict]:
        """The history column's [[question, answer], …] (a list, or one in JSON text) as turns."""
        if not value:
            return []
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise Bad(self.history, "expected a JSON list of [question, answer] pairs", "history_json") from None
        if not isinstance(value, list):
            raise Bad(self.history, f"expected a list of [question, answer] pairs, found {kind_of(value)}", "history_kind",
                      kind=kind_code(value))
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise Bad(f"{self.history}[{i}]", "expected a [question, answer] pair", "history_item")
            out.append({"role": "user", "content": text_of(item[0], f"{self.history}[{i}][0]")})
            out.append({"role": "assistant", "content": text_of(item[1], f"{self.history}[{i}][1]")})
        return out


# Column names a flat record may use, in order of preference (compared lower-case, ё→е).
ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("question", "вопрос", "вопросы", "prompt", "query", "q", "запрос", "user", "пользователь"),
    "answer": ("answer", "ответ", "ответы", "response", "completion", "output", "a", "reply", "assistant", "ассистент"),
    "instruction": ("instruction", "инструкция"),
    "input": ("input", "ввод", "входные данные"),
    "system": (
        "system",
        "system prompt",
        "system_prompt",
        "системный промпт",
        "системный_промпт",
        "системное сообщение",
        "система",
    ),
    "context": ("context", "контекст"),
    "tags": ("tags", "tag", "теги", "тэги", "тег", "метки"),
    "status": ("status", "статус"),
    "split": ("split", "сплит", "выборка"),
}


def _norm_header(name: Any) -> str:
    return " ".join(str(name).replace("\ufeff", "").strip().strip('"').lower().replace("ё", "е").split())


def map_columns(keys) -> dict[str, str]:
    """{canonical name: the record's own key} for the keys a flat record has."""
    by_norm: dict[str, str] = {}
    for k in keys:
        by_norm.setdefault(_norm_header(k), k)
    out: dict[str, str] = {}
    for canon, names in ALIASES.items():
        for name in names:
            if name in by_norm and by_norm[name] not in out.values():
                out[canon] = by_norm[name]
                break
    if "question" not in out and "instruction" in out:
        out["question"] = out.pop("instruction")
        if "input" in out:
            out["instruction_input"] = out.pop("input")
    return out


class Flat:
    """One record per row: question/answer (prompt/completion, query/response, Вопрос/Ответ …).

    Cells may be text (CSV) or typed (JSON, Parquet): tags as a list or "a, b", context
    as a list or its JSON text. Column names are worked out once per distinct set of keys.
    """

    def __init__(self) -> None:
        self._cols: dict[tuple, dict[str, str]] = {}

    @staticmethod
    def resolve(keys, *, table: bool = False) -> dict[str, str]:
        cols = map_columns(keys)
        if "question" not in cols or "answer" not in cols:
            missing = "question" if "question" not in cols else "answer"
            found = ", ".join(map(str, keys)) or "none"
            if table:
                raise Bad(missing, f"no {missing} column (found: {found}) — name the columns question and answer (or Вопрос and Ответ)",
                          f"no_{missing}_column", found=found)
            raise Bad(missing, f"missing — every record needs a question and an answer (found: {found})", f"missing_{missing}",
                      found=found)
        return cols

    def __call__(self, obj: dict) -> list[Record]:
        keys = tuple(obj)
        cols = self._cols.get(keys)
        if cols is None:
            cols = self._cols[keys] = self.resolve(keys)
        qk, ak = cols["question"], cols["answer"]
        qv, av = obj[qk], obj[ak]
        if isinstance(qv, list) and isinstance(av, list):  # conversational prompt/completion
            return Conversation().pairs(qv + av, f"{qk}+{ak}", system_of(obj.get("system")), obj)
        question = text_of(qv, qk)
        if "instruction_input" in cols:
            extra = text_of(obj.get(cols["instruction_input"]), cols["instruction_input"])
            question = f"{question}\n{extra}" if question and extra else (question or extra)
        need(question, qk, "question")
        answer = need(text_of(av, ak), ak, "answer")
        get = obj.get
        sk, ck, tk, stk, spk = (cols.get(n) for n in ("system", "context", "tags", "status", "split"))
        return [
            Record(
                question,
                answer,
                system_of(get(sk), sk) if sk else None,
                context_of(get(ck), ck) if ck else [],
                tags_of(get(tk), tk) if tk else [],
                status_of(get(stk), stk) if stk else None,
                split_of(get(spk), spk) if spk else None,
            )
        ]


Shape = Callable[[dict], list[Record]]

SHAPES = ("messages", "sharegpt", "alpaca", "qa")


def shape_named(name: str, *, detected: bool = False) -> Shape:
    """The parser for a shape; a ``detected`` conversation shape takes either list key per record."""
    if name in ("messages", "sharegpt") and detected:
        return Conversation()
    if name == "messages":
        return Conversation("messages")
    if name == "sharegpt":
        return Conversation("conversations")
    if name == "alpaca":
        return Alpaca()
    if name in ("qa", "table"):
        return Flat()
    raise ValueError(name)


def guess_shape(obj: Any) -> str | None:
    """Which shape a record has, from its keys; None when nothing fits."""
    if not isinstance(obj, dict):
        return None
    if "messages" in obj:
        return "messages"
    if "conversations" in obj or "conversation" in obj:
        return "sharegpt"
    if "instruction" in obj or ("input" in obj and "output" in obj):
        return "alpaca"
    cols = map_columns(obj.keys())
    if "question" in cols or "answer" in cols:
        return "qa"
    return None


# --------------------------------------------------------------------------- writing


def _msgs(pair, role_key: str = "role", content_key: str = "content", names=("system", "user", "assistant")) -> list[dict]:
    sys_name, user_name, asst_name = names
    rename = {"system": sys_name, "user": user_name, "assistant": asst_name}
    out = []
    if pair.system:
        out.append({role_key: sys_name, content_key: pair.system})
    for turn in pair.context or ():
        role = turn.get("role", "user")
        item = {role_key: rename.get(role, role), content_key: turn.get("content", "")}
        if role == "assistant":
            item["weight"] = 0  # context only: not a pair of its own
        out.append(item)
    out.append({role_key: user_name, content_key: pair.question})
    out.append({role_key: asst_name, content_key: pair.answer})
    return out


def _meta(pair) -> dict:
    return {"tags": list(pair.tags or []), "status": pair.status, "split": pair.split}


def to_messages(pair) -> dict:
    return {"messages": _msgs(pair), **_meta(pair)}


def to_sharegpt(pair) -> dict:
    return {"conversations": _msgs(pair, "from", "value", ("system", "human", "gpt")), **_meta(pair)}


def _alternating(context: list[dict]) -> bool:
    if len(context) % 2:
        return False
    return all(
        context[i].get("role") == "user" and context[i + 1].get("role") == "assistant" for i in range(0, len(context), 2)
    )


def to_alpaca(pair) -> dict:
    out: dict = {"instruction": pair.question, "input": "", "output": pair.answer}
    if pair.system:
        out["system"] = pair.system
    if pair.context:
        if _alternating(pair.context):
            out["history"] = [[pair.context[i]["content"], pair.context[i + 1]["content"]] for i in range(0, len(pair.context), 2)]
        else:  # history cannot say it; keep it under our own key
            out["context"] = [{"role": t.get("role"), "content": t.get("content")} for t in pair.context]
    out.update(_meta(pair))
    return out


def to_qa(pair) -> dict:
    out: dict = {"question": pair.question, "answer": pair.answer}
    if pair.system:
        out["system"] = pair.system
    if pair.context:
        out["context"] = [{"role": t.get("role"), "content": t.get("content")} for t in pair.context]
    out.update(_meta(pair))
    return out


TABLE_COLUMNS = ("question", "answer", "system", "context", "tags", "status", "split")


def tags_cell(tags: list[str]) -> str:
    if any("," in t or ";" in t or t.startswith("[") for t in tags):
        return json.dumps(list(tags), ensure_ascii=False)
    return ", ".join(tags)


def to_row(pair) -> list[str]:
    ctx = [{"role": t.get("role"), "content": t.get("content")} for t in pair.context or ()]
    return [
        pair.question,
        pair.answer,
        pair.system or "",
        json.dumps(ctx, ensure_ascii=False) if ctx else "",
        tags_cell(list(pair.tags or [])),
        pair.status or "",
        pair.split or "",
    ]


WRITERS = {"messages": to_messages, "sharegpt": to_sharegpt, "alpaca": to_alpaca, "qa": to_qa}
