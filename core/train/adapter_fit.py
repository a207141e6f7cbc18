"""Load a saved LoRA adapter onto a model, refused when its tensors do not all find their modules.

PEFT loads an adapter by module name and only *warns* ("Found missing adapter keys") when the
names do not match: the LoRA layers it made stay at their initial values (B = 0), so the model
behaves exactly as the bare base. That is what happens when an adapter trained on one class of
a family is loaded onto another: Unsloth on CUDA trains Qwen 3.5 as
``Qwen3_5ForConditionalGeneration`` (``model.language_model.layers…``), transformers'
``AutoModelForCausalLM`` gives ``Qwen3_5ForCausalLM`` (``model.layers…``). A merge would then
export the untrained base under the run's name, and a DPO run ``--from-run`` would start from
the base instead of the run. ``load_adapter`` refuses instead, naming the tensors.

``model_class`` reads which class a run's adapter was trained on (its ``nastavnik_run.json``,
written by ``core.train.pipeline``), so the export can load the base as that class.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from core.errors import UserError

RUN_FILE = "nastavnik_run.json"


def model_class(adapter_dir: str | Path | None) -> str | None:
    """The model class an adapter was trained on, from its ``nastavnik_run.json`` (None: not recorded)."""
    if adapter_dir is None:
        return None
    try:
        meta = json.loads((Path(adapter_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = meta.get("model_class") or (meta.get("setup") or {}).get("model_class")
    return str(name) if name else None


def misfit(peft_model, adapter_dir: str | Path, adapter_name: str = "default") -> tuple[list[str], list[str], int]:
    """(the adapter's tensors that found no module in ``peft_model``, the model's LoRA tensors the
    adapter had nothing for, how many tensors the adapter has) — PEFT's own load result."""
    from peft.utils import load_peft_weights, set_peft_model_state_dict

    base = peft_model.get_base_model()
    weights = load_peft_weights(str(adapter_dir), device="cpu",
                                key_mapping=getattr(base, "_checkpoint_conversion_mapping", None) or None)
    total = len(weights)
    result = set_peft_model_state_dict(peft_model, weights, adapter_name=adapter_name)  # the same values again
    prefix = "lora_"
    missing = [k for k in result.missing_keys if prefix in k and adapter_name in k]  # as PeftModel.load_adapter filters them
    return list(result.unexpected_keys), missing, total


def _some(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (f", … ({len(keys) - n} more)" if len(keys) > n else "")


def misfit_error(what: str, hint: str, cls: str, adapter_dir: str | Path, unused: list[str], missing: list[str],
                 total: int) -> UserError:
    """The refusal of an adapter whose tensors do not all find their modules of ``cls`` (``unused``)
    or whose LoRA modules do not all get a tensor (``missing``) — one wording for the PEFT load and
    the streaming merge (``core.export.stream_merge``)."""
    trained = model_class(adapter_dir)
    why = []
    if unused:
        why.append(f"{len(unused)} of its {total} tensors found no module in {cls} ({_some(unused)})")
    if missing:
        why.append(f"{len(missing)} LoRA tensors of {cls} got no value from it ({_some(missing)})")
    return UserError(
        f"{what} does not fit the model it is loaded onto"
        + (f" (trained on {trained}, loaded as {cls})" if trained and trained != cls else "") + ": " + "; ".join(why),
        hint=hint,
    )


def load_adapter(model, adapter_dir: str | Path, *, what: str, hint: str, is_trainable: bool = False, **kwargs):
    """``PeftModel.from_pretrained(model, adapter_dir)``, refused with a UserError naming ``what``
    (``"run 3's adapter"``) and the tensors when any adapter tensor found no module or any LoRA
    module of the model got no tensor."""
    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*missing adapter keys.*")  # refused below, with the names
        peft_model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=is_trainable, **kwargs)
    unused, missing, total = misfit(peft_model, adapter_dir)
    if unused or missing:
        raise misfit_error(what, hint, type(peft_model.get_base_model()).__name__, adapter_dir, unused, missing, total)
    return peft_model
