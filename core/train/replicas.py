"""Tiny random-init replicas of the real model families, built here without a hub.

``build_replica(arch, out_dir)`` writes a Hugging Face checkpoint of the family's *real*
class and config shape, scaled down (two layers, a hidden size of 64–128), with the family's
real tokenizer where a package carries it (``core.train.vocab``: Llama 3, Qwen 3, Qwen 3.5
and Gemma 4 from llama.cpp's vocab-only GGUFs), its real BOS/EOS/pad tokens and ids, and its
official chat template (from the files llama-cpp-python's sdist and the TRL wheel carry —
never typed in). Gemma 3's tokenizer is SentencePiece (``tokenizer.model``), for which no
package ships the real one: it gets a local one trained on the sample text, with Gemma's
special tokens at Gemma's ids (pad 0, eos 1, bos 2, unk 3, ``<start_of_turn>`` 105,
``<end_of_turn>`` 106). Gemma 3 is built as ``Gemma3ForConditionalGeneration`` with a tiny
SigLIP vision tower and a ``Gemma3Processor``, exactly as the 4B/12B checkpoints ship.

Each replica is pretrained for a few steps on the sample conversations so that what it says
is made of words, and what the pipeline, Unsloth, bitsandbytes, the converter and
llama.cpp do with it is what they do with the real model: same classes, same tokenizer,
same template, same special tokens. ``prequantize`` writes a bitsandbytes 4-bit copy, as
the ``unsloth/…-bnb-4bit`` checkpoints are published.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.progress import OnProgress, ProgressEvent, ignore
from core.train.demo_model import folder_build

TRL_TEMPLATES = "trl:"  # a template from the TRL wheel's trl/chat_templates/
SEQ_LEN = 64
BATCH = 4


@dataclass(frozen=True)
class Arch:
    name: str
    family: str  # what the presets and the docs call it
    model_class: str
    template: str  # "models/templates/X.jinja" (llama.cpp tree) or "trl:X.jinja"
    vocab: str | None  # a core.train.vocab family, or None: a local SentencePiece tokenizer
    tokenizer_class: str
    bos: str | None
    eos: str
    pad: str
    eos_ids: tuple[str, ...]  # what generation stops at
    add_bos: bool
    hidden: int
    steps: int = 300
    renames: dict[int, str] = field(default_factory=dict)
    not_special: tuple[str, ...] = ()
    keep: int | None = None  # tokens beyond this id are embedding padding, not tokenizer entries
    vocab_rows: int | None = None  # embedding rows (the real checkpoint's vocab_size)
    note: str = ""


def _llama31_renames() -> dict[int, str]:
    """Llama 3.1's names for slots the Llama 3 vocabulary calls reserved."""
    names = {128002: "<|reserved_special_token_0|>", 128003: "<|reserved_special_token_1|>", 128004: "<|finetune_right_pad_id|>",
             128005: "<|reserved_special_token_2|>", 128008: "<|eom_id|>", 128010: "<|python_tag|>"}
    names.update({i: f"<|reserved_special_token_{i - 128008}|>" for i in range(128011, 128256)})
    return names


# Qwen 3's added tokens after <|im_end|> (the Qwen 2 vocabulary has placeholders there)
QWEN3_ADDED = (
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
    "<tool_response>", "</tool_response>", "<think>", "</think>",
)
QWEN3_NOT_SPECIAL = ("<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                     "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>")

ARCHES: dict[str, Arch] = {
    "llama3.1": Arch(
        "llama3.1", "Llama 3.1", "LlamaForCausalLM", "models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja", "llama-bpe",
        "PreTrainedTokenizerFast", "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>",
        ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"), True, 64, renames=_llama31_renames(),
        note="Llama 3.1 8B Instruct's tokenizer (128k BPE), template and special tokens",
    ),
    "qwen3": Arch(
        "qwen3", "Qwen 3", "Qwen3ForCausalLM", "models/templates/Qwen-Qwen3-0.6B.jinja", "qwen2",
        "Qwen2Tokenizer", None, "<|im_end|>", "<|endoftext|>", ("<|im_end|>", "<|endoftext|>"), False, 64,
        renames={151646 + i: name for i, name in enumerate(QWEN3_ADDED)}, not_special=QWEN3_NOT_SPECIAL,
        keep=151669, vocab_rows=151936, note="Qwen 3's tokenizer (151k BPE), template and special tokens",
    ),
    "gemma4": Arch(
        "gemma4", "Gemma 4", "Gemma4ForConditionalGeneration", "models/templates/google-gemma-4-31B-it.jinja", "gemma-4",
        "GemmaTokenizer", "<bos>", "<eos>", "<pad>", ("<eos>", "<turn|>"), True, 128,
        note="Gemma 4 12B/31B's classes (text + vision tower), its real 262k tokenizer and the 31B's template",
    ),
    "qwen3.5": Arch(
        "qwen3.5", "Qwen 3.5", "Qwen3_5ForConditionalGeneration", "models/templates/Qwen3.5-4B.jinja", "qwen35",
        # not Qwen3_5Tokenizer: transformers 5.17's class forces an NFC normalizer the tokenizer.json does not
        # have, and then disagrees with llama.cpp's qwen35 tokenizer on decomposed letters (3 of its tests)
        "PreTrainedTokenizerFast", None, "<|im_end|>", "<|endoftext|>", ("<|im_end|>", "<|endoftext|>"), False, 64,
        renames={151646 + i: name for i, name in enumerate(QWEN3_ADDED)}, not_special=QWEN3_NOT_SPECIAL,
        keep=151669, vocab_rows=151936,
        note="Qwen 3.5's classes (gated-delta-net linear attention + full attention, vision tower) and the qwen35 "
             "vocabulary llama.cpp tests with (151k entries; the released checkpoints have 248k)",
    ),
    "gemma3": Arch(
        "gemma3", "Gemma 3", "Gemma3ForConditionalGeneration", TRL_TEMPLATES + "gemma3.jinja", None,
        "GemmaTokenizer", "<bos>", "<eos>", "<pad>", ("<eos>", "<end_of_turn>"), True, 128,
        note="Gemma 3 4B/12B's classes (text + SigLIP vision tower + processor); a local SentencePiece tokenizer",
    ),
}


def template_text(ref: str) -> str:
    """An official chat template from the packages that carry them."""
    if ref.startswith(TRL_TEMPLATES):
        import trl

        path = Path(trl.__file__).parent / "chat_templates" / ref[len(TRL_TEMPLATES):]
        if not path.is_file():
            raise UserError(f"the TRL wheel has no chat template {path.name}")
        return path.read_text(encoding="utf-8")
    from core.infer.llamacpp import llamacpp_file

    return llamacpp_file(ref).read_text(encoding="utf-8")


def get_arch(name: str) -> Arch:
    try:
        return ARCHES[name]
    except KeyError:
        raise UserError(f"no replica of {name!r}", hint="--arch is one of: " + ", ".join(ARCHES)) from None


def fingerprint(arch: Arch, **params) -> str:
    """A cache key: this builder's source, the vocabulary builder's, the arch and the parameters."""
    h = hashlib.sha256()
    for path in (Path(__file__), Path(__file__).with_name("vocab.py")):
        h.update(path.read_bytes())
    h.update(json.dumps({"arch": arch.name, **params}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------- tokenizers


def _token_entry(content: str, special: bool = True) -> dict:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": special}


def _bpe_tokenizer(arch: Arch, out: Path) -> None:
    """tokenizer.json + tokenizer_config.json from the real vocabulary, saved the way HF does."""
    from transformers import PreTrainedTokenizerFast

    from core.train.vocab import build_tokenizer, read_gguf_vocab, vocab_path

    assert arch.vocab is not None, "a family with a SentencePiece tokenizer has no vocabulary to build"

    tok = build_tokenizer(arch.vocab, rename=arch.renames, keep=range(arch.keep) if arch.keep else None,
                          special={i: name not in arch.not_special for i, name in arch.renames.items()},
                          bos=arch.bos if arch.add_bos else None)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=arch.bos, eos_token=arch.eos, pad_token=arch.pad,
                                   model_max_length=131072, clean_up_tokenization_spaces=False)
    fast.save_pretrained(str(out))
    cfg_file = out / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    vocab = read_gguf_vocab(vocab_path(arch.vocab))
    decoder = {}
    for i, name in enumerate(vocab.tokens):
        name = arch.renames.get(i, name)
        if i in arch.renames or vocab.types[i] in (3, 4):  # control, user-defined
            if arch.keep is not None and i >= arch.keep:
                continue
            special = name not in arch.not_special and (vocab.types[i] == 3 or i in arch.renames)
            decoder[str(i)] = _token_entry(name, special)
    # the control tokens besides bos/eos/pad/unk are "extra special tokens": what all_special_ids (and
    # so llama.cpp's converter for SentencePiece-style vocabularies, Gemma 4's) reads as CONTROL
    named = {arch.bos, arch.eos, arch.pad}
    extra = [v["content"] for v in decoder.values() if v["special"] and v["content"] not in named]
    cfg.update({"tokenizer_class": arch.tokenizer_class, "added_tokens_decoder": decoder, "add_bos_token": arch.add_bos,
                "extra_special_tokens": extra,
                "add_eos_token": False, "errors": "replace", "split_special_tokens": False})
    if arch.bos is None:
        cfg["bos_token"] = None
    cfg_file.write_text(json.dumps(cfg, ensure_ascii=False, indent=2), encoding="utf-8")


GEMMA3_SPECIALS = ["<mask>", "[multimodal]", *(f"<unused{i}>" for i in range(99)), "<start_of_turn>", "<end_of_turn>",
                   "<start_of_image>", "<end_of_image>", "<image_soft_token>"]


def _gemma3_tokenizer(out: Path, texts: list[str]) -> None:
    """A SentencePiece BPE trained on the sample text with Gemma 3's special tokens at Gemma 3's ids."""
    import sentencepiece as spm

    corpus = out / "spm_corpus.txt"
    corpus.write_text("\n".join(line for text in texts for line in text.splitlines() if line.strip()) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(out / "tokenizer"), model_type="bpe", vocab_size=4000, hard_vocab_limit=False,
        byte_fallback=True, add_dummy_prefix=False, normalization_rule_name="identity", remove_extra_whitespaces=False,
        split_digits=True, character_coverage=1.0, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        user_defined_symbols=GEMMA3_SPECIALS, num_threads=1, input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2,
    )
    corpus.unlink()
    (out / "tokenizer.vocab").unlink(missing_ok=True)
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", *GEMMA3_SPECIALS]
    cfg = {
        "tokenizer_class": "GemmaTokenizer", "model_max_length": 131072, "bos_token": "<bos>", "eos_token": "<eos>",
        "unk_token": "<unk>", "pad_token": "<pad>", "add_bos_token": True, "add_eos_token": False, "legacy": False,
        "add_prefix_space": False, "clean_up_tokenization_spaces": False, "padding_side": "left",
        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>",
        "spaces_between_special_tokens": False,
        "added_tokens_decoder": {str(i): _token_entry(tok, not tok.startswith("<unused")) for i, tok in enumerate(specials)},
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>",
        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>",
    }, indent=2), encoding="utf-8")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    for i, name in enumerate(specials):
        if tok.convert_tokens_to_ids(name) != i:
            raise UserError(f"gemma3 tokenizer: {name} is id {tok.convert_tokens_to_ids(name)}, not {i}")
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))  # saved converted, so later loads skip the conversion


def _set_template(out: Path, template: str) -> None:
    (out / "chat_template.jinja").write_text(template, encoding="utf-8")
    cfg_file = out / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    cfg.pop("chat_template", None)  # transformers 5 reads chat_template.jinja; one copy of it
    cfg_file.write_text(json.dumps(cfg, ensure_ascii=False, indent=2), encoding="utf-8")


# ---------------------------------------------------------------------------- configs


def _model_config(arch: Arch, tok):
    """The family's config class, scaled down; token ids from the tokenizer."""
    import transformers

    ids = {name: tok.convert_tokens_to_ids(name) for name in {arch.eos, arch.pad, *arch.eos_ids} | ({arch.bos} if arch.bos else set())}
    rows = arch.vocab_rows or len(tok)
    common = dict(hidden_size=arch.hidden, intermediate_size=arch.hidden * 3, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=8192, bos_token_id=ids.get(arch.bos) if arch.bos else None, eos_token_id=ids[arch.eos],
                  pad_token_id=ids[arch.pad], tie_word_embeddings=False, dtype="float32")
    if arch.name == "llama3.1":
        return transformers.LlamaConfig(
            vocab_size=rows, head_dim=arch.hidden // 4, rms_norm_eps=1e-5,
            rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
            **{**common, "eos_token_id": [ids[n] for n in arch.eos_ids], "pad_token_id": None},
        )
    if arch.name == "qwen3":
        return transformers.Qwen3Config(vocab_size=rows, head_dim=arch.hidden // 4, rms_norm_eps=1e-6,
                                        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, **{**common, "bos_token_id": ids[arch.pad]})
    if arch.name == "gemma3":
        text = transformers.Gemma3TextConfig(
            vocab_size=rows, head_dim=64, num_attention_heads=2, num_key_value_heads=1, query_pre_attn_scalar=64,
            # Gemma 3's real pattern, five sliding-window layers to one global: llama.cpp assumes it for
            # Gemma 3 (the converter writes no pattern), so two layers [sliding, global] would run as two
            # sliding ones there, with the local rope base, and answer differently from transformers
            sliding_window=32, num_hidden_layers=6, layer_types=["sliding_attention"] * 5 + ["full_attention"], rms_norm_eps=1e-6,
            **{k: v for k, v in common.items() if k not in ("num_attention_heads", "num_key_value_heads", "tie_word_embeddings", "dtype",
                                                             "num_hidden_layers")},
        )
        vision = transformers.SiglipVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                                                 image_size=32, patch_size=8, num_channels=3, vision_use_head=False)
        return transformers.Gemma3Config(
            text_config=text, vision_config=vision, mm_tokens_per_image=4,
            boi_token_index=tok.convert_tokens_to_ids("<start_of_image>"), eoi_token_index=tok.convert_tokens_to_ids("<end_of_image>"),
            image_token_index=tok.convert_tokens_to_ids("<image_soft_token>"), tie_word_embeddings=True, dtype="float32",
            bos_token_id=ids["<bos>"], eos_token_id=[ids[n] for n in arch.eos_ids], pad_token_id=ids["<pad>"],
        )
    if arch.name == "gemma4":
        text = transformers.Gemma4TextConfig(
            vocab_size=rows, hidden_size=arch.hidden, intermediate_size=arch.hidden * 2, num_hidden_layers=6,
            num_attention_heads=2, num_key_value_heads=1, head_dim=64, max_position_embeddings=8192,
            # the dense 12B/31B layout: no per-layer input embeddings (those are the E2B/E4B's), five
            # sliding-window layers to one global one, whose heads are wider (per_layer_config)
            hidden_size_per_layer_input=0, layer_types=["sliding_attention"] * 5 + ["full_attention"], sliding_window=32,
            per_layer_config={"05": {"head_dim": 128}}, num_kv_shared_layers=0, rms_norm_eps=1e-6,
            bos_token_id=common["bos_token_id"], eos_token_id=[ids[n] for n in arch.eos_ids], pad_token_id=ids[arch.pad],
        )
        vision = transformers.Gemma4VisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                                                 num_key_value_heads=2, head_dim=32, position_embedding_size=1024)
        return transformers.Gemma4Config(
            text_config=text, vision_config=vision, tie_word_embeddings=True, dtype="float32",
            boi_token_id=tok.convert_tokens_to_ids("<|image>"), eoi_token_id=tok.convert_tokens_to_ids("<image|>"),
            image_token_id=tok.convert_tokens_to_ids("<|image|>"), video_token_id=tok.convert_tokens_to_ids("<|video|>"),
            boa_token_id=tok.convert_tokens_to_ids("<|audio>"), eoa_token_index=tok.convert_tokens_to_ids("<audio|>"),
            audio_token_id=tok.convert_tokens_to_ids("<|audio|>"),
        )
    if arch.name == "qwen3.5":
        from transformers.models.qwen3_5.configuration_qwen3_5 import Qwen3_5VisionConfig

        text = transformers.Qwen3_5TextConfig(
            vocab_size=rows, hidden_size=arch.hidden, intermediate_size=arch.hidden * 3, num_hidden_layers=4, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=8192, tie_word_embeddings=False, rms_norm_eps=1e-6,
            # the hybrid layout: three gated-delta-net (linear attention) layers to one full-attention layer
            layer_types=["linear_attention"] * 3 + ["full_attention"], linear_key_head_dim=16, linear_value_head_dim=16,
            linear_num_key_heads=2, linear_num_value_heads=4, linear_conv_kernel_dim=4,
            rope_parameters={"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25,
                             "mrope_section": [2, 1, 1], "mrope_interleaved": True},
            bos_token_id=None, eos_token_id=ids[arch.eos], pad_token_id=ids[arch.pad],
        )
        vision = Qwen3_5VisionConfig(depth=1, hidden_size=64, intermediate_size=128, num_heads=2, out_hidden_size=arch.hidden,
                                     num_position_embeddings=64)
        return transformers.Qwen3_5Config(
            text_config=text, vision_config=vision, tie_word_embeddings=False, dtype="float32",
            image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"), video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
            vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"), vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        )
    raise UserError(f"no config for {arch.name}")


def _save_processor(arch: Arch, out: Path, template: str) -> None:
    """Gemma 3 checkpoints ship a processor (image processor + tokenizer + template).

    Saving it saves the tokenizer again, and transformers 5 drops ``added_tokens_decoder``
    (which llama.cpp's converter needs to mark the turn markers CONTROL): the tokenizer's
    own config is put back afterwards, with the processor class added.
    """
    if arch.name != "gemma3":
        return
    cfg_file = out / "tokenizer_config.json"
    ours = json.loads(cfg_file.read_text(encoding="utf-8"))
    from transformers import AutoTokenizer, Gemma3ImageProcessorPil, Gemma3Processor

    image = Gemma3ImageProcessorPil(size={"height": 32, "width": 32}, do_pan_and_scan=False)
    proc = Gemma3Processor(image_processor=image, tokenizer=AutoTokenizer.from_pretrained(str(out)), chat_template=template,
                           image_seq_length=4)
    proc.save_pretrained(str(out))
    cfg_file.write_text(json.dumps({**ours, "processor_class": "Gemma3Processor"}, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "chat_template.jinja").write_text(template, encoding="utf-8")


# ---------------------------------------------------------------------------- build


def pretrain(model, data, *, steps: int, generator, report: OnProgress, extra=None, lr: float = 4e-3) -> float:
    """A few steps of next-token training on random windows of ``data``, so the replica speaks in words.

    The loss is a softmax over the tokens the corpus uses, not over the whole vocabulary:
    with 128k–262k real tokens and a hidden size of 64 the full output layer would be ~97 %
    of the work, and a replica only needs to put its probability on words of the sample text
    (the other rows keep their small random init, so they stay unlikely). For the same reason
    the embedding (and an untied output layer) trains as a table of those rows only, written
    back into the full one at the end: a dense gradient of 262k rows was zero-filled, clipped
    and stepped by AdamW at every step for the few thousand rows the corpus touches (Gemma 4's
    replica: 0.5 s a step, 43 % of it filling zeros).
    """
    import torch
    import torch.nn.functional as F

    from core.train.demo_model import optimizer_step

    used = torch.unique(data)
    remap = torch.full((int(data.max()) + 1,), -1, dtype=torch.long)
    remap[used] = torch.arange(len(used))
    backbone = getattr(model, model.base_model_prefix)
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    tied = head.weight is emb.weight
    full_emb, full_head, padding_idx = emb.weight, head.weight, emb.padding_idx
    emb.weight = torch.nn.Parameter(full_emb.detach()[used].clone())
    head.weight = emb.weight if tied else torch.nn.Parameter(full_head.detach()[used].clone())
    emb.padding_idx = None  # a row index of the full table; every row here is a corpus token
    model.train()
    try:
        # fused: one kernel over all parameters; the foreach default took 0.2 s a step on the 16M of a 128k embedding
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, fused=True)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
        loss_value = float("nan")
        for step in range(steps):
            starts = torch.randint(0, len(data) - SEQ_LEN - 1, (BATCH,), generator=generator)
            batch = remap[torch.stack([data[s: s + SEQ_LEN + 1] for s in starts])]
            inputs, targets = batch[:, :-1], batch[:, 1:]
            hidden = backbone(input_ids=inputs, **(extra(inputs) if extra else {})).last_hidden_state
            logits = hidden @ head.weight.t()
            loss_value = optimizer_step(model, opt, sched, F.cross_entropy(logits.reshape(-1, len(used)), targets.reshape(-1)))
            if step % 10 == 0 or step == steps - 1:
                report(ProgressEvent("train", step + 1, steps, f"loss {loss_value:.3f}", {"loss": loss_value}))
    finally:
        with torch.no_grad():
            full_emb[used] = emb.weight
            if not tied:
                full_head[used] = head.weight
        emb.weight, emb.padding_idx = full_emb, padding_idx
        head.weight = full_emb if tied else full_head
    model.eval()
    return loss_value


def build_replica(arch_name: str, out_dir: str | os.PathLike, *, seed: int = 0, steps: int | None = None,
                  progress: OnProgress | None = None) -> Path:
    """Build the replica into ``out_dir`` (replaced atomically) and return it.

    ``progress(ProgressEvent)`` is called for the stages "tokenizer", "train" and "save".
    """
    import torch
    import transformers
    from transformers import AutoTokenizer, GenerationConfig

    from core.quiet import quiet_libraries
    from core.train.demo_model import load_corpus

    quiet_libraries()
    arch = get_arch(arch_name)
    steps = arch.steps if steps is None else steps
    report = progress or ignore
    out_dir = Path(out_dir)
    started = time.monotonic()
    with folder_build(out_dir) as work:
        conversations = load_corpus()
        template = template_text(arch.template)
        report(ProgressEvent("tokenizer", 0, 1))
        if arch.vocab:
            _bpe_tokenizer(arch, work)
        else:
            _gemma3_tokenizer(work, [m["content"] for c in conversations for m in c] + ["user", "model", "system"])
        _set_template(work, template)
        tok = AutoTokenizer.from_pretrained(str(work))
        report(ProgressEvent("tokenizer", 1, 1, info={"vocab": len(tok)}))

        # one stream of conversations in the official format; random windows of it are the batches
        stream: list[int] = []
        for conv in conversations:
            text = tok.apply_chat_template(conv, tokenize=False, enable_thinking=False)
            stream.extend(tok(text, add_special_tokens=False)["input_ids"])
        data = torch.tensor(stream, dtype=torch.long)

        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        config = _model_config(arch, tok)
        model = getattr(transformers, arch.model_class)(config)
        loss_value = pretrain(model, data, steps=steps, generator=gen, report=report,
                              extra=(lambda b: {"token_type_ids": torch.zeros_like(b)}) if arch.name == "gemma3" else None)

        report(ProgressEvent("save", 0, 1))
        ids = [tok.convert_tokens_to_ids(n) for n in arch.eos_ids]
        model.generation_config = GenerationConfig(
            bos_token_id=tok.convert_tokens_to_ids(arch.bos) if arch.bos else None, eos_token_id=ids,
            pad_token_id=tok.convert_tokens_to_ids(arch.pad), do_sample=False, max_new_tokens=64,
        )
        model.save_pretrained(str(work), safe_serialization=True)
        _save_processor(arch, work, template)
        info = {
            "name": f"demo-{arch.name}", "arch": arch.name, "family": arch.family, "class": arch.model_class, "seed": seed,
            "steps": steps, "final_loss": loss_value, "parameters": sum(p.numel() for p in model.parameters()),
            "vocab": len(tok), "template": arch.template, "note": arch.note, "seconds": round(time.monotonic() - started, 1),
            "fingerprint": fingerprint(arch, seed=seed, steps=steps),
        }
        (work / "nastavnik_replica.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    report(ProgressEvent("save", 1, 1, info=info))
    return out_dir


def prequantize(src: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """A bitsandbytes 4-bit (nf4, double quant) copy of ``src``, as ``unsloth/…-bnb-4bit`` repos are.

    The towers and the output head stay in 16 bits (``core.train.modules.NOT_QUANTIZED``);
    ``config.json`` carries the ``quantization_config``, and loading the folder gives
    ``Linear4bit`` layers without a ``BitsAndBytesConfig``.
    """
    import torch
    import transformers
    from transformers import BitsAndBytesConfig

    from core.train.modules import NOT_QUANTIZED

    src, out_dir = Path(src), Path(out_dir)
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    cls = getattr(transformers, config["architectures"][0])
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_storage=torch.uint8,
                               llm_int8_skip_modules=list(NOT_QUANTIZED))
    with folder_build(out_dir) as work:
        model = cls.from_pretrained(str(src), quantization_config=quant, dtype=torch.bfloat16, device_map={"": "cpu"})
        model.save_pretrained(str(work), safe_serialization=True)
        for item in src.iterdir():
            if item.is_file() and item.suffix != ".safetensors" and item.name not in ("config.json", "model.safetensors.index.json"):
                shutil.copy2(item, work / item.name)
        info = json.loads((src / "nastavnik_replica.json").read_text(encoding="utf-8")) if (src / "nastavnik_replica.json").is_file() else {}
        info.update({"name": out_dir.name, "prequantized_from": str(src), "quantization": "bnb-4bit nf4 double-quant"})
        (work / "nastavnik_replica.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return out_dir
