"""Real tokenizers without a hub: rebuilt from the vocab-only GGUFs llama.cpp tests with.

The llama-cpp-python sdist (unpacked by ``make``, see ``core.infer.llamacpp``) carries
``models/ggml-vocab-<family>.gguf``: the token list, merges and token types of real models'
tokenizers, with ``.inp``/``.out`` files of test strings and the ids the real tokenizer gives
them. ``build_tokenizer`` turns such a file into a Hugging Face fast tokenizer — the same
BPE, the same pre-tokenizer split, the same special tokens — and ``check_against_tests``
proves it on llama.cpp's own test strings.

Why the real vocabulary matters: llama.cpp's converter recognises a BPE pre-tokenizer by
hashing the ids a test string tokenizes to and refuses one it does not know, so a model
replica with a home-made BPE could never be exported; and with the real vocabulary a
replica counts tokens (and characters per token of Russian text) as the real model does.

Families:

* ``llama-bpe`` (Llama 3 / 3.1) and ``qwen2`` / ``qwen35`` (Qwen 2/3, Qwen 3.5): byte-level
  BPE (GPT-2 byte alphabet) after a regex split; the regexes are the ones the real
  ``tokenizer.json`` files use (llama.cpp's ``src/llama-vocab.cpp`` quotes them).
* ``gemma-4``: SentencePiece-style BPE on raw UTF-8 — spaces become ``▁``, no word split
  but at newlines, unknown bytes fall back to ``<0xNN>`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN35_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# llama.cpp token types (enum llama_token_type)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class VocabFamily:
    file: str  # models/ggml-vocab-<file>.gguf in the llama.cpp tree
    kind: str  # "byte-bpe" or "spm-bpe"
    split: str | None = None
    nfc: bool = False
    ignore_merges: bool = False  # a word that is a whole token is not merged (Llama 3)


FAMILIES: dict[str, VocabFamily] = {
    "llama-bpe": VocabFamily("llama-bpe", "byte-bpe", LLAMA3_SPLIT, ignore_merges=True),
    "qwen2": VocabFamily("qwen2", "byte-bpe", QWEN2_SPLIT, nfc=True),
    "qwen35": VocabFamily("qwen35", "byte-bpe", QWEN35_SPLIT),  # no NFC: é stays e + U+0301, as the real one splits it
    "gemma-4": VocabFamily("gemma-4", "spm-bpe"),
}


@dataclass
class GgufVocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    scores: list[float] | None
    meta: dict = field(default_factory=dict)


def vocab_path(family: str, cache_dir: Path | None = None) -> Path:
    from core.infer.llamacpp import llamacpp_file

    if family not in FAMILIES:
        raise UserError(f"no real vocabulary for {family!r}", hint="one of: " + ", ".join(FAMILIES))
    return llamacpp_file(f"models/ggml-vocab-{FAMILIES[family].file}.gguf", cache_dir)


def read_gguf_vocab(path: Path) -> GgufVocab:
    """Tokens, types, merges, scores and the ``tokenizer.ggml.*`` scalars of a (vocab-only) GGUF."""
    from core.infer.gguf_meta import read_metadata

    fields = read_metadata(path)
    meta = {k[len("tokenizer.ggml."):]: v for k, v in fields.items() if k.startswith("tokenizer.ggml.") and not isinstance(v, list)}
    scores = fields.get("tokenizer.ggml.scores")
    return GgufVocab(list(fields.get("tokenizer.ggml.tokens", [])), [int(t) for t in fields.get("tokenizer.ggml.token_type", [])],
                     list(fields.get("tokenizer.ggml.merges", [])), [float(x) for x in scores] if scores else None, meta)


def build_tokenizer(family: str, *, rename: dict[int, str] | None = None, special: dict[int, bool] | None = None,
                    keep: range | None = None, bos: str | None = None, cache_dir: Path | None = None):
    """A ``tokenizers.Tokenizer`` for ``family``'s real vocabulary.

    ``rename``: token id → the name a later release of the family gives that slot (Qwen 3's
    ``<think>`` where the Qwen 2 vocabulary has a placeholder). Control tokens, renamed ones and
    ``special`` ids become added tokens (``special[id]`` says whether they are special; control
    tokens are). ``keep``: only ids in this range are tokens at all (placeholders beyond it are
    the embedding's padding rows, not part of the tokenizer). ``bos``: a token the
    post-processor puts in front (Llama 3 adds ``<|begin_of_text|>``).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    spec = FAMILIES[family]
    vocab = read_gguf_vocab(vocab_path(family, cache_dir))
    rename = dict(rename or {})
    special = dict(special or {})
    names = list(vocab.tokens)
    for i, name in rename.items():
        names[i] = name
    added: list[tuple[int, str, bool]] = []
    model_vocab: dict[str, int] = {}
    for i, (name, kind) in enumerate(zip(names, vocab.types)):
        if keep is not None and i not in keep:
            continue
        if i in rename or i in special or kind in (CONTROL, USER_DEFINED):
            added.append((i, name, special.get(i, kind == CONTROL)))
            if spec.kind == "spm-bpe":
                model_vocab[name] = i  # SentencePiece-style vocabularies list every piece in the model
        else:
            model_vocab[name] = i
    merges = [(left, right) for left, right in (m.split(" ", 1) for m in vocab.merges)]
    if spec.kind == "byte-bpe":
        assert spec.split is not None, "a byte-level vocabulary splits words with its own pattern"
        tok = Tokenizer(models.BPE(vocab=model_vocab, merges=merges, ignore_merges=spec.ignore_merges, fuse_unk=False, byte_fallback=False))
        tok.normalizer = normalizers.NFC() if spec.nfc else None
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(spec.split), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ])
        # tokenizers' stub gives the ByteLevel decoder no arguments; the decoder takes and ignores them
        tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)  # type: ignore[call-arg]
        post: list[Any] = [processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)]
    else:
        unk = names[int(vocab.meta.get("unknown_token_id", 3))]
        tok = Tokenizer(models.BPE(vocab=model_vocab, merges=merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
        tok.normalizer = normalizers.Replace(" ", "▁")
        # no word split: BPE runs over whole lines; runs of newlines are pieces of their own
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[^\n]+|\n+"), behavior="isolated", invert=False)
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
        post = []
    for _, name, is_special in sorted(added):  # in id order: an added token not in the model takes the next free id
        (tok.add_special_tokens if is_special else tok.add_tokens)([AddedToken(name, special=is_special, normalized=False)])
    for i, name, _ in added:
        if tok.token_to_id(name) != i:
            raise UserError(f"{family}: token {name!r} landed on id {tok.token_to_id(name)}, not {i}")
    if bos is not None:
        post.append(processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, names.index(bos))]))
    if post:
        tok.post_processor = post[0] if len(post) == 1 else processors.Sequence(post)
    return tok


def load_tests(family: str, cache_dir: Path | None = None) -> list[tuple[str, list[int]]]:
    """llama.cpp's tokenizer tests for ``family``: (text, the real tokenizer's ids, no BOS)."""
    base = vocab_path(family, cache_dir)
    texts = base.with_name(base.name + ".inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    ids = base.with_name(base.name + ".out").read_text(encoding="utf-8").splitlines()
    if texts and texts[-1] == "":
        texts = texts[:-1]
    return [(text, [int(x) for x in line.split()]) for text, line in zip(texts, ids)]


def check_against_tests(tokenizer, family: str, cache_dir: Path | None = None) -> list[str]:
    """Differences between ``tokenizer`` (a ``tokenizers.Tokenizer`` or an HF tokenizer) and the
    real tokenizer on llama.cpp's test strings; empty when they agree on every one."""
    encode = getattr(tokenizer, "encode")
    problems = []
    for text, expected in load_tests(family, cache_dir):
        try:
            got = encode(text, add_special_tokens=False)
        except TypeError:
            got = encode(text, add_special_tokens=False)
        got = list(getattr(got, "ids", got))
        if got != expected:
            problems.append(f"{text[:30]!r}: {got[:12]} vs real {expected[:12]}")
    return problems
