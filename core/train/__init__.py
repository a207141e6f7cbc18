"""Training: presets, chat templates, the pipeline, backends, and detached runs.

Nothing heavy is imported here; torch, transformers, trl, peft and unsloth load inside
the functions that need them.
"""
