"""Nastavnik\x27s faces: the Textual app and the command line."""
