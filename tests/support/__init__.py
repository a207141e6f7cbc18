"""Helpers the tests share, as plain modules: the CLI runner, waits, sample data, the room app,
the tmux driver, fakes. Test modules and conftests import from here; nothing imports a conftest
or another test module (tests/test_layout.py checks)."""
