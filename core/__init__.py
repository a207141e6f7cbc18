"""Nastavnik's domain: store, formats, training, export, inference, evaluation.

Nothing in here imports the TUI or Textual; heavy libraries (torch, transformers,
trl, peft, unsloth, llama_cpp) are imported inside the functions that need them.
"""

__version__ = "0.1.0"
