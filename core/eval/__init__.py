"""Evaluation: answering the eval split with exported models and scoring the answers
(``evaluate``), and the language check that flags answers in the wrong script (``langcheck``).
"""
