"""The test suite, sorted by kind (tests/test_layout.py keeps it so):

- ``core/``: the domain, one folder per stage (store, formats, train, export, infer, eval, loop);
- ``cli/``: ``nastavnik …`` as a script or a person types it;
- ``tui/``: the app driven with Pilot, and its snapshots (``__snapshots__/``);
- ``e2e/``: the real binary in tmux, ``nastavnik serve`` in a browser, the demo loop;
- ``support/``: helpers as plain modules (the CLI runner, waits, sample data, the room app, tmux);
- the top level: checks of the repository itself (layout, pinned stack, benches) and
  ``conftest.py`` with the fixtures every test shares.
"""
