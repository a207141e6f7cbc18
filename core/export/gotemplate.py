"""A small, strict evaluator for the part of Go's ``text/template`` that Ollama TEMPLATEs use.

The export renders the Go TEMPLATE a Modelfile would carry with it and writes it only when it
gives, byte for byte, the prompts of the checkpoint's own Jinja template (core/export/modelfile.py);
the tests check this evaluator against Go's text/template itself where Go is installed.

What it follows from the Go documentation (pkg.go.dev/text/template) and its lexer/exec:

* Trim markers: ``{{- `` (a minus followed by an ASCII space, tab, CR or newline) removes ALL
  trailing white space (space, ``\\t``, ``\\r``, ``\\n``) of the immediately preceding template
  text; `` -}}`` removes all leading white space of the immediately following text. This works
  on the template source, never on values printed by actions. ``{{-3}}`` is the number -3.
* Scope: a variable lives until the ``end`` of the ``if``/``range`` it was declared in (or the end
  of the template). ``range`` declares its variables once and sets them on every iteration;
  variables declared inside the range body are dropped after each iteration. ``$x = v``
  assigns the nearest visible ``$x`` (the outer one when used inside a block). ``$`` is the data
  given to Execute. Undefined variables are a parse error.
* ``range`` rebinds ``.`` to each element; ``{{ else }}`` of a range runs when it is empty;
  ``{{ else if p }}`` is an ``if`` nested in the else branch sharing one ``end``.
* Truth: false, 0, nil, "" and empty lists/maps are false, everything else is true.
* ``and``/``or`` short-circuit and return the deciding argument; ``not`` negates truth;
  ``eq a b c…`` is ``a==b || a==c…`` and fails on values of different kinds; ``ne a b``.
* A declaration or assignment action prints nothing; other actions print their value.

Strict on purpose: an unknown function, a field the data does not have, a pipe (``|``), a
comment, ``with``/``template``/``block``/``define`` or anything else outside this subset raises
``GoTemplateError`` rather than guessing. (Ollama itself uses ``missingkey=zero`` for its map
fields; being stricter here catches typos such as ``.Sytem``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GoTemplateError", "parse", "render"]

_SPACE = " \t\r\n"  # Go's trim-marker and trimming white space (lexer: isSpace)
# punctuation of an action → (token kind, characters it takes); ":=" before "="
_PUNCT = {":=": ("declare", 2), "(": ("lparen", 1), ")": ("rparen", 1), ",": ("comma", 1), "=": ("assign", 1)}


class GoTemplateError(Exception):
    pass


# ---------------------------------------------------------------------------- lexing


@dataclass
class _Tok:
    kind: str  # field, var, dollar, dot, ident, string, number, lparen, rparen, declare, assign, comma, pipe
    value: Any = None  # the text, a (name, fields) pair for a variable, or a number


_NUMBER = re.compile(r"-?\d+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD_CHAIN = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}


def _go_string(src: str, i: int) -> tuple[str, int]:
    """An interpreted Go string literal starting at src[i] == '"'; returns (value, index after)."""
    out: list[str] = []
    i += 1
    while True:
        if i >= len(src):
            raise GoTemplateError("unterminated quoted string")
        c = src[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\n":
            raise GoTemplateError("newline in quoted string")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = src[i + 1 : i + 2]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e == "x":
            out.append(chr(int(src[i + 2 : i + 4], 16)))
            i += 4
        elif e == "u":
            out.append(chr(int(src[i + 2 : i + 6], 16)))
            i += 6
        elif e == "U":
            out.append(chr(int(src[i + 2 : i + 10], 16)))
            i += 10
        elif e in "01234567" and e:
            # octal: exactly three digits; Go's string literals are bytes, so decode as UTF-8 later
            raise GoTemplateError("octal escapes are not supported by this evaluator")
        else:
            raise GoTemplateError(f"unknown escape sequence \\{e}")


def _lex_action(src: str, i: int) -> tuple[list[_Tok], int, bool]:
    """Tokens of one action whose body starts at src[i]; returns (tokens, index after '}}', trim_right)."""
    toks: list[_Tok] = []
    while True:
        if i >= len(src):
            raise GoTemplateError("unclosed action")
        c = src[i]
        if c in _SPACE:
            j = i
            while j < len(src) and src[j] in _SPACE:
                j += 1
            if src.startswith("-}}", j):
                return toks, j + 3, True
            i = j
            continue
        if src.startswith("}}", i):
            return toks, i + 2, False
        if c == '"':
            value, i = _go_string(src, i)
            toks.append(_Tok("string", value))
        elif c == "`":
            end = src.find("`", i + 1)
            if end < 0:
                raise GoTemplateError("unterminated raw string")
            toks.append(_Tok("string", src[i + 1 : end].replace("\r", "")))
            i = end + 1
        elif c == "|":
            raise GoTemplateError("pipelines with '|' are not supported by this evaluator")
        elif (punct := _PUNCT.get(src[i : i + 2]) or _PUNCT.get(c)) is not None:
            kind, width = punct
            toks.append(_Tok(kind))
            i += width
        elif c == "$":
            m = _IDENT.match(src, i + 1)
            name = "$" + (m.group(0) if m else "")
            i = m.end() if m else i + 1
            chain = _FIELD_CHAIN.match(src, i)
            fields: list[str] = []
            if chain:
                fields = chain.group(0)[1:].split(".")
                i = chain.end()
            toks.append(_Tok("var", (name, fields)))
        elif c == ".":
            chain = _FIELD_CHAIN.match(src, i)
            if chain:
                toks.append(_Tok("field", chain.group(0)[1:].split(".")))
                i = chain.end()
            else:
                toks.append(_Tok("dot"))
                i += 1
        elif c == "-" or c.isdigit():
            m = _NUMBER.match(src, i)
            if not m:
                raise GoTemplateError(f"bad number at {src[i:i + 10]!r}")
            if src[m.end() : m.end() + 1] in (".", "e", "E", "x"):
                raise GoTemplateError("only integer literals are supported by this evaluator")
            toks.append(_Tok("number", int(m.group(0))))
            i = m.end()
        elif c == "/" and src.startswith("/*", i):
            raise GoTemplateError("comments are not supported by this evaluator")
        else:
            m = _IDENT.match(src, i)
            if not m:
                raise GoTemplateError(f"unexpected character {c!r} in action")
            toks.append(_Tok("ident", m.group(0)))
            i = m.end()


def _lex(src: str) -> list[tuple[str, object]]:
    """[("text", str) | ("action", [tokens])] with trim markers applied to the text."""
    items: list[tuple[str, object]] = []
    i = 0
    trim_next = False
    while True:
        j = src.find("{{", i)
        text = src[i:] if j < 0 else src[i:j]
        if trim_next:
            text = text.lstrip(_SPACE)
        if j < 0:
            if text:
                items.append(("text", text))
            return items
        k = j + 2
        if src.startswith("-", k) and src[k + 1 : k + 2] and src[k + 1] in _SPACE:
            text = text.rstrip(_SPACE)
            k += 1
        if text:
            items.append(("text", text))
        toks, i, trim_next = _lex_action(src, k)
        if not toks:
            raise GoTemplateError("missing value for command")
        items.append(("action", toks))


# ---------------------------------------------------------------------------- parsing


@dataclass
class _Pipe:
    decl: list[str]  # variable names declared or assigned ("$x")
    assign: bool  # '=' rather than ':='
    cmd: list  # [operand] or [ident, args...]; operands: ("field", [...]) / ("var", name, [...]) / ("dot",) / ("lit", v) / ("paren", cmd)


@dataclass
class _Text:
    text: str


@dataclass
class _Action:
    pipe: _Pipe


@dataclass
class _If:
    pipe: _Pipe
    body: list
    orelse: list | None


@dataclass
class _Range:
    pipe: _Pipe
    body: list
    orelse: list | None


FUNCS = ("and", "or", "not", "eq", "ne", "len", "slice", "index")
KEYWORDS = ("if", "else", "end", "range", "with", "template", "block", "define", "break", "continue", "nil", "true", "false")


class _Parser:
    def __init__(self, items):
        self.items = items
        self.pos = 0
        self.vars: list[str] = ["$"]

    def parse(self) -> list:
        body, stop = self.statements()
        if stop is not None:
            raise GoTemplateError(f"unexpected {{{{{stop[0]}}}}}")
        return body

    def statements(self):
        """Nodes until {{else}}/{{end}} (returned as the stopper) or the end of input."""
        out: list = []
        while self.pos < len(self.items):
            kind, val = self.items[self.pos]
            self.pos += 1
            if kind == "text":
                out.append(_Text(val))
                continue
            toks = val
            head = toks[0]
            if head.kind == "ident" and head.value in ("end", "else"):
                return out, (head.value, toks[1:])
            if head.kind == "ident" and head.value == "if":
                out.append(self.control("if", toks[1:]))
            elif head.kind == "ident" and head.value == "range":
                out.append(self.control("range", toks[1:]))
            elif head.kind == "ident" and head.value in ("with", "template", "block", "define", "break", "continue"):
                raise GoTemplateError(f"{{{{{head.value}}}}} is not supported by this evaluator")
            else:
                out.append(_Action(self.pipeline(toks, allow_decl=True)))
        return out, None

    def control(self, kind: str, toks: list[_Tok]):
        mark = len(self.vars)
        pipe = self.pipeline(toks, allow_decl=True, range_decl=(kind == "range"))
        body, stop = self.statements()
        orelse = None
        if stop is None:
            raise GoTemplateError(f"unexpected EOF: {{{{{kind}}}}} has no {{{{end}}}}")
        if stop[0] == "else":
            rest = stop[1]
            if rest:
                if kind != "if" or rest[0].kind != "ident" or rest[0].value != "if":
                    raise GoTemplateError("unexpected tokens after else")
                orelse = [self.control("if", rest[1:])]  # shares the final {{end}}
            else:
                orelse, stop = self.statements()
                if stop is None or stop[0] != "end":
                    raise GoTemplateError(f"{{{{{kind}}}}}: expected {{{{end}}}} after {{{{else}}}}")
                if stop[1]:
                    raise GoTemplateError("unexpected tokens after end")
        elif stop[1]:
            raise GoTemplateError("unexpected tokens after end")
        del self.vars[mark:]
        return (_If if kind == "if" else _Range)(pipe, body, orelse)

    def pipeline(self, toks: list[_Tok], *, allow_decl: bool, range_decl: bool = False) -> _Pipe:
        decl: list[str] = []
        assign = False
        # $x := …, $x = …, range $i, $e := …
        if toks and toks[0].kind == "var" and not toks[0].value[1]:
            if len(toks) > 1 and toks[1].kind in ("declare", "assign"):
                decl, assign, toks = [toks[0].value[0]], toks[1].kind == "assign", toks[2:]
            elif range_decl and len(toks) > 3 and toks[1].kind == "comma" and toks[2].kind == "var" and toks[3].kind in ("declare", "assign"):
                decl, assign, toks = [toks[0].value[0], toks[2].value[0]], toks[3].kind == "assign", toks[4:]
        if decl and not allow_decl:
            raise GoTemplateError("declaration not allowed here")
        if not toks:
            raise GoTemplateError("missing value for command")
        cmd, rest = self.command(toks)
        if rest:
            raise GoTemplateError(f"unexpected token {rest[0].kind} {rest[0].value!r}")
        for name in decl:
            if assign:
                self.check_var(name)
            else:
                self.vars.append(name)
        return _Pipe(decl, assign, cmd)

    def check_var(self, name: str) -> None:
        if name not in self.vars:
            raise GoTemplateError(f"undefined variable {name!r}")

    def command(self, toks: list[_Tok]):
        """A command: operands up to a ')' or the end; returns (cmd, remaining tokens)."""
        args: list = []
        while toks and toks[0].kind != "rparen":
            t = toks[0]
            toks = toks[1:]
            if t.kind == "lparen":
                inner, toks = self.command(toks)
                if not toks or toks[0].kind != "rparen":
                    raise GoTemplateError("unclosed left paren")
                toks = toks[1:]
                args.append(("paren", inner))
            elif t.kind == "field":
                args.append(("field", t.value))
            elif t.kind == "var":
                self.check_var(t.value[0])
                args.append(("var", t.value[0], t.value[1]))
            elif t.kind == "dot":
                args.append(("dot",))
            elif t.kind in ("string", "number"):
                args.append(("lit", t.value))
            elif t.kind == "ident":
                if t.value in ("true", "false"):
                    args.append(("lit", t.value == "true"))
                elif t.value in FUNCS:
                    if args:
                        raise GoTemplateError(f"function {t.value!r} in argument position needs parentheses")
                    args.append(("func", t.value))
                elif t.value in KEYWORDS:
                    raise GoTemplateError(f"unexpected keyword {t.value!r}")
                else:
                    raise GoTemplateError(f'function "{t.value}" not defined')
            else:
                raise GoTemplateError(f"unexpected {t.kind} in command")
        if not args:
            raise GoTemplateError("empty command")
        if args[0][0] != "func" and len(args) > 1:
            raise GoTemplateError("can't give arguments to a non-function")
        return args, toks


def parse(src: str) -> list:
    return _Parser(_lex(src)).parse()


# ---------------------------------------------------------------------------- execution


def _truth(v) -> bool:
    if v is None:
        return False
    if isinstance(v, (bool, int, str, list, tuple, dict)):
        return bool(v)
    return True  # structs and other values are true


def _kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, str):
        return "string"
    raise GoTemplateError(f"eq: invalid type for comparison: {type(v).__name__}")


@dataclass
class _State:
    root: object
    vars: list = field(default_factory=list)  # [[name, value]]
    out: list = field(default_factory=list)

    def lookup(self, name: str):
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise GoTemplateError(f"undefined variable {name!r}")

    def assign(self, name: str, value) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        raise GoTemplateError(f"undefined variable {name!r}")


def _fields(value, names: list[str]):
    for name in names:
        if not isinstance(value, dict):
            raise GoTemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
        if name not in value:
            raise GoTemplateError(f"can't evaluate field {name}: not in the data")
        value = value[name]
    return value


def _operand(st: _State, dot, arg):
    kind = arg[0]
    if kind == "lit":
        return arg[1]
    if kind == "dot":
        return dot
    if kind == "field":
        return _fields(dot, arg[1])
    if kind == "var":
        return _fields(st.lookup(arg[1]), arg[2])
    if kind == "paren":
        return _command(st, dot, arg[1])
    raise GoTemplateError(f"unexpected operand {kind}")


def _command(st: _State, dot, cmd: list):
    if cmd[0][0] != "func":
        return _operand(st, dot, cmd[0])
    name, args = cmd[0][1], cmd[1:]
    if name in ("and", "or"):
        if not args:
            raise GoTemplateError(f"wrong number of args for {name}")
        v = None
        for a in args:  # short-circuit, returns the deciding value (Go 1.18+)
            v = _operand(st, dot, a)
            if _truth(v) != (name == "and"):
                return v
        return v
    vals = [_operand(st, dot, a) for a in args]
    if name == "not":
        if len(vals) != 1:
            raise GoTemplateError("wrong number of args for not: want 1")
        return not _truth(vals[0])
    if name in ("eq", "ne"):
        if len(vals) < 2 or (name == "ne" and len(vals) != 2):
            raise GoTemplateError(f"wrong number of args for {name}")
        first = vals[0]
        for other in vals[1:]:
            if _kind(first) != _kind(other):
                raise GoTemplateError(f"{name}: incompatible types for comparison")
        equal = any(first == other for other in vals[1:])
        return equal if name == "eq" else not equal
    if name == "len":
        if len(vals) != 1 or not isinstance(vals[0], (str, list, tuple, dict)):
            raise GoTemplateError("len of a value that has no length")
        return len(vals[0].encode("utf-8")) if isinstance(vals[0], str) else len(vals[0])
    if name == "slice":
        if not vals or not isinstance(vals[0], (list, tuple)) or len(vals) > 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in vals[1:]):
            raise GoTemplateError("slice: unsupported arguments (lists with int indexes only)")
        seq, idx = vals[0], vals[1:]
        lo = idx[0] if idx else 0
        hi = idx[1] if len(idx) > 1 else len(seq)
        if not 0 <= lo <= hi <= len(seq):
            raise GoTemplateError(f"slice: index out of range [{lo}:{hi}] with length {len(seq)}")
        return list(seq[lo:hi])
    if name == "index":
        if len(vals) != 2 or not isinstance(vals[0], (list, tuple)) or not isinstance(vals[1], int):
            raise GoTemplateError("index: unsupported arguments (a list and an int only)")
        if not 0 <= vals[1] < len(vals[0]):
            raise GoTemplateError(f"index out of range: {vals[1]}")
        return vals[0][vals[1]]
    raise GoTemplateError(f'function "{name}" not defined')


def _print(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    raise GoTemplateError(f"refusing to print a {type(value).__name__} (Go would print its debug form)")


def _pipeline(st: _State, dot, pipe: _Pipe):
    value = _command(st, dot, pipe.cmd)
    for name in pipe.decl:
        if pipe.assign:
            st.assign(name, value)
        else:
            st.vars.append([name, value])
    return value


def _walk(st: _State, dot, nodes: list) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            st.out.append(node.text)
        elif isinstance(node, _Action):
            value = _pipeline(st, dot, node.pipe)
            if not node.pipe.decl:
                st.out.append(_print(value))
        elif isinstance(node, _If):
            mark = len(st.vars)
            if _truth(_pipeline(st, dot, node.pipe)):
                _walk(st, dot, node.body)
            elif node.orelse is not None:
                _walk(st, dot, node.orelse)
            del st.vars[mark:]
        elif isinstance(node, _Range):
            mark = len(st.vars)
            pipe = node.pipe
            seq = _command(st, dot, pipe.cmd)
            if not isinstance(seq, (list, tuple)):
                raise GoTemplateError(f"range can't iterate over {type(seq).__name__}")
            names = pipe.decl
            if pipe.assign:
                raise GoTemplateError("range with '=' is not supported by this evaluator")
            for name in names:
                st.vars.append([name, None])
            for i, elem in enumerate(seq):
                if len(names) == 1:
                    st.vars[mark][1] = elem
                elif len(names) == 2:
                    st.vars[mark][1] = i
                    st.vars[mark + 1][1] = elem
                inner = len(st.vars)
                _walk(st, elem, node.body)
                del st.vars[inner:]
            if not seq and node.orelse is not None:
                _walk(st, dot, node.orelse)
            del st.vars[mark:]
        else:  # pragma: no cover - parser only builds the nodes above
            raise GoTemplateError(f"unknown node {node!r}")


def render(src: str, data: dict) -> str:
    """Execute template ``src`` with ``data`` (dicts for Go maps/structs, lists for slices)."""
    tree = parse(src)
    st = _State(root=data, vars=[["$", data]])
    _walk(st, data, tree)
    return "".join(st.out)
