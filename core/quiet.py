"""Library chatter that is not for our users, silenced in one place.

* torchao (installed with Unsloth) logs a warning for each optional CUDA kernel library it
  cannot load — on every import of transformers' quantizers, i.e. every model load.
* torch's pytree module warns that torchao registers Enum constants the old way.
* transformers/TRL/PEFT deprecation notes are meant for library developers.
Real errors still come through: only these loggers and warning categories are lowered.
"""

from __future__ import annotations

import logging
import warnings

_LOGGERS = ("torchao", "torch.utils._pytree")


def quiet_libraries() -> None:
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)(\.|$)")
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script_method.*is deprecated", category=DeprecationWarning)
