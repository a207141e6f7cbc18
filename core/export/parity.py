"""Step 4 of an export: the GGUF files checked against the HF model they came from.

``parity_check`` compares, for a few questions: the prompt text llama.cpp builds from the
template embedded in the GGUF with the one transformers builds from the tokenizer's
(``template_equal``), their token ids (``tokens_equal``, which also catches a doubled BOS),
the end-of-sequence token, and greedy answers token by token for each quant. The result is
records, not sentences: each mismatch a ``Mismatch`` (what differs, where, both sides), each
quant a ``QuantVerdict`` (answers and tokens that agreed of how many, near ties, verdict).
The Export dialog says them in the UI language and the CLI in English (``Mismatch.english``);
``ParityReport.ok`` is true only when there is no mismatch. ``ParityReport.from_dict`` reads
a report back from an export job's stored result, also one stored before the records.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import UserError
from core.export.common import quiet_transformers
from core.infer.llamacpp import load_llama
from core.progress import OnProgress, ProgressEvent

DEFAULT_QUESTIONS = (
    "Что такое LoRA?",
    "Зачем нужна оценочная выборка?",
    "Как выбрать скорость обучения?",
)


# two greedy answers that part where HF itself scores both tokens within a tenth of its logits' standard
# deviation part at a near tie: quantization (or fp16 vs fp32) rounding flips such a choice on a
# tiny, barely trained model without anything being wrong; a template, tokenizer or weight error
# shows as a clear preference for a different token, or in the prompt checks
NEAR_TIE = 0.1


@dataclass
class AnswerParity:
    question: str
    quant: str
    matched: int  # tokens equal from the start
    hf_tokens: int
    gguf_tokens: int
    hf_stopped: bool  # ended with EOS before the token limit
    gguf_stopped: bool
    first_diff: str | None = None
    hf_answer: str = ""
    gguf_answer: str = ""
    # where they part: how far apart HF's logits for its token and the GGUF's are there, in
    # units of the logits' spread; below NEAR_TIE the two are a rounding apart, not a mismatch
    gap: float | None = None

    @property
    def equal(self) -> bool:
        return self.first_diff is None

    @property
    def near_tie(self) -> bool:
        return self.gap is not None and self.gap <= NEAR_TIE


# what a Mismatch can say: the end-of-sequence token, the prompt's text, the prompt's token
# ids, a doubled BOS, an answer that parts from HF's, an answer that runs past HF's EOS; and
# "other" for a line stored before these records (shown as it is)
MISMATCH_KINDS = ("eos", "text", "ids", "bos", "answer", "no_eos", "other")


@dataclass
class Mismatch:
    """One thing in which a GGUF differs from its HF model: ``kind`` (MISMATCH_KINDS), ``at``
    the character, position or answer token where it starts, ``hf`` and ``gguf`` what each side
    has there (a token as ``'▁a' (id 9)``, a text fragment quoted), ``side`` for a doubled BOS,
    ``quant`` and ``question`` for an answer, ``text`` for an "other" line."""

    kind: str
    at: int | None = None
    hf: str = ""
    gguf: str = ""
    side: str = ""
    quant: str = ""
    question: str = ""
    text: str = ""

    @property
    def names_a_token(self) -> bool:
        """Whether it points at a differing token (the line worth showing first)."""
        if self.kind == "other":
            return "token" in self.text and "differ" in self.text.lower()
        return self.kind in ("ids", "answer")

    def english(self) -> str:
        """The mismatch in one English line (the CLI, the export log, the job's JSON)."""
        return {
            "eos": lambda: f"EOS differs: HF {self.hf} vs GGUF {self.gguf}",
            "text": lambda: f"prompt text differs at character {self.at}: HF {self.hf} vs GGUF {self.gguf}",
            "ids": lambda: f"prompt token ids differ at position {self.at}: HF {self.hf} vs GGUF {self.gguf}",
            "bos": lambda: f"{self.side} prompt starts with a doubled BOS",
            "answer": lambda: f"{self.quant} answer to {self.question!r} differs from HF at token {self.at}: "
                              f"HF {self.hf} vs GGUF {self.gguf}",
            "no_eos": lambda: f"{self.quant} did not stop at EOS for {self.question!r}",
        }.get(self.kind, lambda: self.text)()


@dataclass
class QuantVerdict:
    """One quant's greedy answers against HF's: how many were identical of how many, how many
    tokens matched of how many, how many parted only at a near tie; ``ok``: no mismatch of its own."""

    quant: str
    answers: int
    identical: int
    tokens_matched: int
    tokens: int
    near_ties: int = 0
    ok: bool = True

    def english(self) -> str:
        tied = f" ({self.near_ties} part{'s' if self.near_ties > 1 else ''} at a near tie)" if self.near_ties else ""
        return f"{self.quant}: {self.identical}/{self.answers} answers identical{tied}, {self.tokens_matched}/{self.tokens} tokens match"


@dataclass
class ParityReport:
    template_equal: bool = False
    tokens_equal: bool = False
    double_bos: bool = False
    eos_equal: bool = False
    eos_token: str = ""
    prompt_hf: str = ""
    prompt_gguf: str = ""
    answers: list[AnswerParity] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def warnings(self) -> list[str]:
        """Each mismatch in English."""
        return [m.english() for m in self.mismatches]

    @property
    def quants(self) -> list[QuantVerdict]:
        """A verdict per quant, in the order they were checked."""
        by_quant: dict[str, list[AnswerParity]] = {}
        for a in self.answers:
            by_quant.setdefault(a.quant, []).append(a)
        bad = {m.quant for m in self.mismatches if m.quant}
        return [QuantVerdict(quant, len(answers), sum(a.equal for a in answers), sum(a.matched for a in answers),
                             sum(max(a.hf_tokens, a.gguf_tokens) for a in answers),
                             sum(a.near_tie for a in answers), quant not in bad)
                for quant, answers in by_quant.items()]

    @property
    def headline(self) -> Mismatch | None:
        """The mismatch to show first: the first that names a differing token, else the first."""
        return next((m for m in self.mismatches if m.names_a_token), self.mismatches[0] if self.mismatches else None)

    def summary(self) -> str:
        parts = [
            "template " + ("equal" if self.template_equal else "DIFFERS"),
            "token ids " + ("equal" if self.tokens_equal else "DIFFER"),
            "BOS " + ("DOUBLED" if self.double_bos else "once"),
            "EOS " + (f"{self.eos_token!r} equal" if self.eos_equal else "DIFFERS"),
        ]
        return "; ".join(parts + [q.english() for q in self.quants])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        d["warnings"] = self.warnings
        d["quants"] = [asdict(q) for q in self.quants]
        d["summary"] = self.summary()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ParityReport:
        """The report ``to_dict`` stored; a result stored before the records keeps its
        warnings as "other" mismatches."""
        fields = {k: d[k] for k in ("template_equal", "tokens_equal", "double_bos", "eos_equal", "eos_token",
                                    "prompt_hf", "prompt_gguf") if k in d}
        answers = [AnswerParity(**{k: v for k, v in a.items() if k in AnswerParity.__dataclass_fields__})
                   for a in d.get("answers") or []]
        if "mismatches" in d:
            mismatches = [Mismatch(**m) for m in d["mismatches"]]
        else:
            mismatches = [Mismatch("other", text=w) for w in d.get("warnings") or []]
        return cls(**fields, answers=answers, mismatches=mismatches)



def _tensor_bytes(hf_dir: Path) -> list[int]:
    from core.export.preflight import _BYTES, _headers

    return [math.prod(h[k]["shape"]) * _BYTES.get(h[k]["dtype"], 4) for h in _headers(Path(hf_dir)) for k in h if k != "__metadata__"]


def parity_memory(hf_dir: Path) -> int:
    """The RAM the check takes, in bytes: the HF model whole in its own dtype (its tensors as stored
    in ``hf_dir``), plus what Python, torch and transformers take. llama.cpp maps the GGUF from
    the file (page cache the system can give back), so it is not counted."""
    from core.export.preflight import FIXED_RAM

    return sum(_tensor_bytes(hf_dir)) + FIXED_RAM


# what the GPU needs beyond the HF model's weights for the check: the CUDA context and cuBLAS's workspace
# (about half a GB), and the activations, KV cache and float32 logits of a few hundred tokens (a prompt
# and 32 greedy tokens; a 262k vocabulary's logits are about 1 MB a token) — a flat margin, not a model
GPU_MARGIN = int(1.5e9)


def gpu_memory() -> tuple[int, int] | None:
    """(free, total) bytes on CUDA device 0 now — ``torch.cuda.mem_get_info``, which counts what every
    other process holds there (a training run, a chat) — or None with no usable CUDA device."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    try:
        if not torch.cuda.is_available():
            return None
        free, total = torch.cuda.mem_get_info(0)
    except RuntimeError:  # a driver that lists a device it cannot open
        return None
    return int(free), int(total)


@dataclass
class ParityMemory:
    """How the check will hold the HF model: ``mode`` "gpu" (whole on CUDA device 0), "ram" (whole in
    RAM), "offload" (accelerate's disk offload: what does not fit in ``budget`` bytes is read from the
    merged folder's own shards as each layer runs — the same weights, slower) or "skip"; ``line``
    says it (None for "ram" with no GPU to speak of). ``need`` is the RAM the check takes on the CPU;
    ``gpu_need`` what it takes on the GPU and ``gpu_free`` what the GPU has free (None: no GPU)."""

    need: int
    available: int
    mode: str
    budget: int | None = None
    line: str | None = None
    gpu_need: int | None = None
    gpu_free: int | None = None


def parity_memory_plan(hf_dir: Path, later: str, available: int | None = None, *, offload: bool = True) -> ParityMemory:
    """Where the check's HF side runs, with the one line that says why: on the GPU when a CUDA device is
    there and has the model's bytes + ``GPU_MARGIN`` free (free as the driver counts it, other processes
    included); else in the RAM available now when it fits whole; else offloaded when its largest tensor
    fits in RAM, with room (``offload``: a check that can run so); else a skip that says how to run it later
    (``later``). Reads the safetensors
    headers and asks the driver: no model is loaded."""
    from core.export.preflight import FIXED_RAM, SPARE, free_resources

    sizes = _tensor_bytes(hf_dir)
    need = sum(sizes) + FIXED_RAM
    gpu = gpu_memory()
    gpu_need = sum(sizes) + GPU_MARGIN
    gpu_free = gpu[0] if gpu else None
    if available is None:
        available = free_resources(Path(hf_dir))[0]
    if gpu_free is not None and gpu_free >= gpu_need:
        return ParityMemory(need, available, "gpu", None,
                            f"the parity check holds the HF model on the GPU: it needs {gpu_need / 1e9:.1f} GB, "
                            f"the GPU has {gpu_free / 1e9:.1f} GB free", gpu_need, gpu_free)
    busy = (f"the GPU has {gpu_free / 1e9:.1f} GB free, the check needs {gpu_need / 1e9:.1f} GB there: on the CPU"
            if gpu_free is not None else None)
    usable = int(available * (1 - SPARE))
    if need <= usable:
        return ParityMemory(need, available, "ram", None,
                            busy and f"{busy}, holding the HF model in RAM ({need / 1e9:.1f} GB of {available / 1e9:.1f} GB available)",
                            gpu_need, gpu_free)
    budget = usable - FIXED_RAM
    if offload and sizes and budget >= 1.2 * max(sizes):
        return ParityMemory(need, available, "offload", budget,
                            (f"{busy}; " if busy else "")
                            + f"the parity check's HF model needs {need / 1e9:.1f} GB of RAM, {available / 1e9:.1f} GB is available: "
                            f"it holds {budget / 1e9:.1f} GB and reads the rest from the merged folder as it runs (slower)",
                            gpu_need, gpu_free)
    return ParityMemory(need, available, "skip", None,
                        f"parity check skipped: the HF model needs {need / 1e9:.1f} GB of RAM, {available / 1e9:.1f} GB is available"
                        + (f", and the GPU has {gpu_free / 1e9:.1f} GB free of the {gpu_need / 1e9:.1f} GB it needs there" if gpu_free is not None else "")
                        + f"; run it later where there is room: {later}", gpu_need, gpu_free)


def eval_questions(ws, limit: int = 4) -> list[str]:
    """Questions of the eval split (approved first) for the parity check; defaults if none."""
    from core.store import PairFilter

    with ws.store() as store:
        pairs = store.list_pairs(PairFilter(split="eval", status="approved"), limit=limit) or store.list_pairs(
            PairFilter(split="eval"), limit=limit
        )
    return [p.question for p in pairs] or list(DEFAULT_QUESTIONS)


def _hf_chat_ids(tok, messages) -> list[int]:
    out = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, enable_thinking=False)
    if hasattr(out, "keys") and "input_ids" in out:
        out = out["input_ids"]
    if out and isinstance(out[0], list):
        out = out[0]
    return [int(i) for i in out]


def _first_diff(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _first_char_diff(a: str, b: str) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def gguf_chat_prompt(llm, messages: list[dict]) -> tuple[str, list[int], list[str]]:
    """The prompt, token ids and stops llama-cpp-python builds from the GGUF's own template.

    This is the path ``Llama.create_chat_completion`` takes for a model with an embedded
    chat template.
    """
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise UserError("the GGUF carries no chat template", hint="export again from a model whose tokenizer_config.json has one")
    eos = llm._model.token_get_text(llm.token_eos())
    bos = llm._model.token_get_text(llm.token_bos())
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, stop_token_ids=[llm.token_eos()])
    result = formatter(messages=messages, enable_thinking=False)
    ids = llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
    stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
    return result.prompt, ids, stops


def gguf_greedy(llm, prompt_ids: list[int], max_new_tokens: int) -> tuple[list[int], bool]:
    """Greedy generation with llama.cpp; (new token ids, stopped at an end-of-generation token)."""
    import llama_cpp

    llm.reset()
    out: list[int] = []
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    for token in llm.generate(prompt_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            return out, True
        out.append(int(token))
        if len(out) >= max_new_tokens:
            break
    return out, False


def input_device(model):
    """Where the model takes its inputs: its own device (a CUDA device for the check on the GPU); the CPU
    for a disk-offloaded model whose first weights wait on the meta device (accelerate's hooks move them)."""
    import torch

    device = getattr(model, "device", None) or torch.device("cpu")
    return torch.device("cpu") if torch.device(device).type == "meta" else device


def hf_greedy(model, tok, prompt_ids: list[int], max_new_tokens: int, eos_ids: list[int]) -> tuple[list[int], bool]:
    import torch

    device = input_device(model)
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt_ids], device=device),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long, device=device),
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos_ids,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0],
        )
    new = [int(i) for i in out[0][len(prompt_ids):]]
    for i, t in enumerate(new):
        if t in eos_ids:
            return new[:i], True
    return new, False


def parity_check(
    hf_dir: Path,
    ggufs: dict[str, Path],
    questions: list[str] | None = None,
    *,
    system: str | None = None,
    max_new_tokens: int = 32,
    log_file: Path | None = None,
    progress: OnProgress | None = None,
    ram_budget: int | None = None,
    on_gpu: bool = False,
    model=None,
    lora: Path | None = None,
) -> ParityReport:
    """Compare the HF model in ``hf_dir`` with its GGUF files; every mismatch becomes a warning.
    ``ram_budget``: hold at most that many bytes of the HF model in RAM, the rest offloaded;
    ``on_gpu``: load it onto CUDA device 0 instead (``parity_memory_plan``'s mode "gpu"): the prompt
    ids go there, llama.cpp stays on the CPU.

    A run exported as a GGUF LoRA: ``model`` is HF's base with the PEFT adapter on it (unmerged,
    ``core.export.lora``), ``hf_dir`` the folder of its tokenizer files, each GGUF a base file and
    ``lora`` the run's adapter applied to it by llama.cpp; compared exactly as a merged export."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    report = ParityReport()
    questions = list(questions or DEFAULT_QUESTIONS)
    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    from core.export.merge import checkpoint_dtype

    # in the merged model's own dtype: the GGUF it is compared with is converted in that dtype too
    offload = None
    if model is not None:  # given: a LoRA export's HF base with its adapter on it
        if on_gpu:
            model = model.to("cuda:0")
    elif on_gpu:
        model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=checkpoint_dtype(Path(hf_dir)), device_map={"": 0})
    elif ram_budget is None:
        model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=checkpoint_dtype(Path(hf_dir)))
    else:  # the weights that do not fit are read from the merged folder's own shards as each layer runs
        import tempfile

        offload = tempfile.TemporaryDirectory(prefix="nastavnik-parity-offload-")
        model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=checkpoint_dtype(Path(hf_dir)), device_map="auto",
                                                     max_memory={"cpu": int(ram_budget)}, offload_folder=offload.name)
    model.eval()
    try:
        return _compare(model, tok, ggufs, questions, system=system, max_new_tokens=max_new_tokens, log_file=log_file,
                        progress=progress, report=report, lora=lora)
    finally:
        del model
        if offload is not None:
            offload.cleanup()


def _compare(model, tok, ggufs: dict[str, Path], questions: list[str], *, system: str | None, max_new_tokens: int,
             log_file: Path | None, progress: OnProgress | None, report: ParityReport,
             lora: Path | None = None) -> ParityReport:
    """``parity_check``'s comparison, with the HF model loaded."""

    def conv(q: str) -> list[dict]:
        return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": q}]

    # the prompt in the training format (non-thinking), against what llama.cpp renders from the GGUF's template
    hf_prompts = {q: tok.apply_chat_template(conv(q), tokenize=False, add_generation_prompt=True, enable_thinking=False)
                  for q in questions}
    hf_ids = {q: _hf_chat_ids(tok, conv(q)) for q in questions}
    gen_cfg = getattr(model, "generation_config", None)
    eos_ids = getattr(gen_cfg, "eos_token_id", None) or tok.eos_token_id
    eos_ids = [int(i) for i in (eos_ids if isinstance(eos_ids, (list, tuple)) else [eos_ids])]
    if tok.eos_token_id is not None and tok.eos_token_id not in eos_ids:
        eos_ids.insert(0, tok.eos_token_id)
    hf_answers = {q: hf_greedy(model, tok, hf_ids[q], max_new_tokens, eos_ids) for q in questions}

    first = True
    order = sorted(ggufs, key=lambda q: (q not in ("f16", "bf16", "f32"), q))  # the unquantized reference first
    for n, (quant) in enumerate(order, 1):
        if progress:
            progress(ProgressEvent("parity", n - 1, len(order), f"checking {quant}"))
        n_ctx = min(2048, max(512, getattr(model.config, "max_position_embeddings", 0) or 512))
        # on the CPU, as the HF side: no GPU device, no batch offloaded to one, beside a training run or not
        llm = load_llama(ggufs[quant], log_file=log_file, n_ctx=n_ctx, n_gpu_layers=0, lora=lora)
        try:
            if first:  # template, ids, BOS and EOS are the same in every quant: check once
                first = False
                gguf_eos = llm.token_eos()
                report.eos_token = llm._model.token_get_text(gguf_eos)
                report.eos_equal = gguf_eos == tok.eos_token_id and report.eos_token == tok.eos_token
                if not report.eos_equal:
                    report.mismatches.append(Mismatch("eos", hf=f"{tok.eos_token!r} (id {tok.eos_token_id})",
                                                      gguf=f"{report.eos_token!r} (id {gguf_eos})"))
                report.template_equal = report.tokens_equal = True
                for q in questions:
                    g_prompt, g_ids, _ = gguf_chat_prompt(llm, conv(q))
                    if not report.prompt_hf:
                        report.prompt_hf, report.prompt_gguf = hf_prompts[q], g_prompt
                    if g_prompt != hf_prompts[q] and report.template_equal:
                        report.template_equal = False
                        report.prompt_hf, report.prompt_gguf = hf_prompts[q], g_prompt
                        i = _first_char_diff(hf_prompts[q], g_prompt)
                        assert i is not None  # the two prompts differ
                        report.mismatches.append(Mismatch("text", at=i, hf=repr(hf_prompts[q][i:i + 20]),
                                                          gguf=repr(g_prompt[i:i + 20])))
                    if g_ids != hf_ids[q] and report.tokens_equal:
                        report.tokens_equal = False
                        i = _first_diff(hf_ids[q], g_ids)
                        assert i is not None  # the two id lists differ
                        report.mismatches.append(Mismatch("ids", at=i, hf=_tok_desc(tok, hf_ids[q], i),
                                                          gguf=_gguf_desc(llm, g_ids, i)))
                    for label, ids, bos in (("HF", hf_ids[q], tok.bos_token_id), ("GGUF", g_ids, llm.token_bos())):
                        if len(ids) > 1 and ids[0] == bos and ids[1] == bos and not report.double_bos:
                            report.double_bos = True
                            report.mismatches.append(Mismatch("bos", side=label))
            for q in questions:
                # feed llama.cpp HF's prompt ids: the answers then differ only through the weights
                g_new, g_stop = gguf_greedy(llm, hf_ids[q], max_new_tokens)
                h_new, h_stop = hf_answers[q]
                i = _first_diff(h_new, g_new)
                matched = len(h_new) if i is None else i
                diff = gap = None
                if i is not None:
                    hf_side, gguf_side = _tok_desc(tok, h_new, i), _gguf_desc(llm, g_new, i)
                    diff = f"token {i}: HF {hf_side} vs GGUF {gguf_side}"
                    gap = _logit_gap(model, hf_ids[q] + h_new[:i], h_new[i] if i < len(h_new) else None,
                                     g_new[i] if i < len(g_new) else None)
                    if gap is not None and gap <= NEAR_TIE:
                        diff += f" (a near tie: HF scores them {gap:.3f} of its logits' spread apart)"
                    else:
                        report.mismatches.append(Mismatch("answer", at=i, hf=hf_side, gguf=gguf_side, quant=quant, question=q))
                if h_stop and not g_stop and i is None:
                    report.mismatches.append(Mismatch("no_eos", quant=quant, question=q))
                report.answers.append(
                    AnswerParity(
                        question=q, quant=quant, matched=matched, hf_tokens=len(h_new), gguf_tokens=len(g_new),
                        hf_stopped=h_stop, gguf_stopped=g_stop, first_diff=diff, gap=gap,
                        hf_answer=tok.decode(h_new, skip_special_tokens=True),
                        gguf_answer=llm.detokenize(g_new).decode("utf-8", errors="replace"),
                    )
                )
        finally:
            llm.close()
    if progress:
        progress(ProgressEvent("parity", len(order), len(order), report.summary()))
    return report


def _logit_gap(model, prefix: list[int], hf_token: int | None, gguf_token: int | None) -> float | None:
    """HF's preference for its own next token over the GGUF's after ``prefix``, in logit standard
    deviations (None when one side ended there: a length difference is no tie)."""
    if hf_token is None or gguf_token is None:
        return None
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prefix], device=input_device(model))).logits[0, -1].float()
    spread = float(logits.std()) or 1.0
    return float(logits[hf_token] - logits[gguf_token]) / spread


def _tok_desc(tok, ids: list[int], i: int) -> str:
    if i is None or i >= len(ids):
        return "<end>"
    return f"{tok.convert_ids_to_tokens(ids[i])!r} (id {ids[i]})"


def _gguf_desc(llm, ids: list[int], i: int) -> str:
    if i is None or i >= len(ids):
        return "<end>"
    return f"{llm._model.token_get_text(ids[i])!r} (id {ids[i]})"
