"""Inference: running exported GGUF models with llama-cpp-python.

``runner`` is the one model runner (load, stream, stop, count tokens, close) with an
in-process and a child-process runner behind it; ``server`` is that child's loop;
``generation`` the lean streaming loop both use; ``llamacpp`` the llama.cpp runtime and its
converter files; ``gguf_meta`` reads a GGUF's header without loading the model.
"""
