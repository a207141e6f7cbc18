"""The connection every part of the store shares: WAL, foreign keys, migrations."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from core.errors import UserError
from core.store import migrations


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote (sqlite3 types ``lastrowid`` as optional)."""
    assert cur.lastrowid is not None, "not after an INSERT"
    return cur.lastrowid


class StoreBase:
    """Owns one SQLite connection. Open one ``Store`` per thread."""

    def __init__(self, path: str | Path, *, migrate: bool = True) -> None:
        self.path = Path(path)
        try:
            conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise UserError(f"cannot open the store {self.path}: {exc}") from exc
        self.conn = conn
        self._db = None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            if migrate and migrations.pending(conn):
                migrations.migrate(self.db)
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{self.path} is not a Nastavnik store: {exc}", hint="pass --home with another folder") from exc
        self._depth = 0

    @property
    def db(self):
        """sqlite-utils' view of the connection, for migrations and tests (imported on first use)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; nests (inner blocks join the outer transaction)."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0
