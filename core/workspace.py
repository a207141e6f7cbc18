"""Where files live: the workspace folder and its settings.

Order of precedence: ``--home DIR``, then ``$NASTAVNIK_HOME``, then
``$XDG_DATA_HOME/nastavnik`` (``~/.local/share/nastavnik``).

A workspace holds ``nastavnik.db`` (the store), ``models/``, ``runs/``, ``exports/``,
``logs/``, ``cache/`` and ``settings.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:  # the store is opened on first use: a workspace is read before any SQL
    from core.store import Store

SUBDIRS = ("models", "runs", "exports", "logs", "cache")


def default_home() -> Path:
    env = os.environ.get("NASTAVNIK_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "nastavnik"


@dataclass(frozen=True)
class Workspace:
    home: Path

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> "Workspace":
        path = Path(home).expanduser() if home else default_home()
        if path.exists() and not path.is_dir():
            raise UserError(f"workspace {path} is a file, not a folder", hint="pass --home with a folder path")
        try:
            path.mkdir(parents=True, exist_ok=True)
            for sub in SUBDIRS:
                (path / sub).mkdir(exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create workspace {path}: {exc.strerror}", hint="pass --home with a writable folder") from exc
        return cls(path.resolve())

    @property
    def db_path(self) -> Path:
        return self.home / "nastavnik.db"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def settings_path(self) -> Path:
        return self.home / "settings.json"

    # settings: a small JSON object, written atomically
    def settings(self) -> dict:
        try:
            return json.loads(self.settings_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {self.settings_path}: {exc}", hint="fix or delete the file") from exc

    def setting(self, key: str, default=None):
        return self.settings().get(key, default)

    def update_settings(self, **values) -> dict:
        data = self.settings()
        data.update(values)
        tmp = self.settings_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, self.settings_path)
        return data

    def store(self) -> Store:
        """Open the store of this workspace (one connection; open one per thread)."""
        from core.store import Store

        return Store(self.db_path)
