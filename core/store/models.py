"""Models the app knows: base checkpoints, trained adapters, merged models and GGUF files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

from core.errors import UserError
from core.store.base import StoreBase, now

MODEL_KINDS = ("base", "adapter", "merged", "gguf")


@dataclass
class Model:
    id: int
    kind: str
    name: str
    path: str
    run_id: int | None = None
    base: str | None = None
    quant: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    dataset_sha256: str | None = None
    created: str = ""
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def checkpoint(self) -> int | None:
        """The step of the run's checkpoint this GGUF was exported from (``export RUN --checkpoint``);
        None for the run's own export (its final adapter) and every other model."""
        step = (self.meta or {}).get("checkpoint")
        return int(step) if step is not None else None


_COLS = "id, kind, name, path, run_id, base, quant, sha256, size_bytes, dataset_sha256, created, meta"


def _model(row) -> Model:
    values = list(row)
    values[-1] = json.loads(values[-1] or "{}")
    return Model(*values)


class ModelsMixin(StoreBase):
    """Rows of ``models``. Names are unique; ``add_model(..., replace=True)`` updates one."""

    def add_model(
        self,
        kind: str,
        name: str,
        path: str,
        *,
        run_id: int | None = None,
        base: str | None = None,
        quant: str | None = None,
        sha256: str | None = None,
        size_bytes: int | None = None,
        dataset_sha256: str | None = None,
        meta: dict | None = None,
        replace: bool = False,
    ) -> Model:
        if kind not in MODEL_KINDS:
            raise UserError(f"unknown model kind {kind!r}", hint="one of: " + ", ".join(MODEL_KINDS))
        if not name or not str(name).strip():
            raise UserError("a model needs a name")
        values = (kind, name, str(path), run_id, base, quant, sha256, size_bytes, dataset_sha256, now(), json.dumps(meta or {}, ensure_ascii=False))
        with self.transaction():
            existing = self.conn.execute("SELECT id FROM models WHERE name=?", (name,)).fetchone()
            if existing and not replace:
                raise UserError(f"a model named {name!r} already exists", hint="choose another --name, or remove the old one")
            if existing:
                self.conn.execute(
                    "UPDATE models SET kind=?, name=?, path=?, run_id=?, base=?, quant=?, sha256=?, size_bytes=?, dataset_sha256=?, created=?, meta=? WHERE id=?",
                    (*values, existing[0]),
                )
                model_id = existing[0]
            else:
                model_id = self.conn.execute(
                    f"INSERT INTO models ({_COLS.split(', ', 1)[1]}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", values
                ).lastrowid
        return self.get_model(model_id)

    def list_models(self, kind: str | None = None) -> list[Model]:
        if kind:
            rows = self.conn.execute(f"SELECT {_COLS} FROM models WHERE kind=? ORDER BY id", (kind,)).fetchall()
        else:
            rows = self.conn.execute(f"SELECT {_COLS} FROM models ORDER BY id").fetchall()
        return [_model(r) for r in rows]

    def get_model(self, id_or_name: int | str) -> Model:
        row = None
        if isinstance(id_or_name, int) or str(id_or_name).isdigit():
            row = self.conn.execute(f"SELECT {_COLS} FROM models WHERE id=?", (int(id_or_name),)).fetchone()
        if row is None:
            row = self.conn.execute(f"SELECT {_COLS} FROM models WHERE name=?", (str(id_or_name),)).fetchone()
        if row is None:
            raise UserError(f"there is no model {id_or_name!r}", hint="`nastavnik models list` shows the models")
        return _model(row)

    def find_model(self, id_or_name: int | str) -> Model | None:
        try:
            return self.get_model(id_or_name)
        except UserError:
            return None

    def remove_model(self, id_or_name: int | str) -> None:
        model = self.get_model(id_or_name)
        with self.transaction():
            self.conn.execute("DELETE FROM models WHERE id=?", (model.id,))

    # ------------------------------------------------------------------ what uses a model

    def runs_on_base(self, names: Sequence[str], paths: Sequence[str]) -> list[int]:
        """Ids of the runs trained on a base named one of ``names`` or read from one of ``paths``."""
        out = []
        for run_id, base, config in self.conn.execute("SELECT id, base, config FROM runs ORDER BY id"):
            try:
                path = json.loads(config or "{}").get("base")
            except ValueError:
                path = None
            if base in names or (path and path in paths):
                out.append(run_id)
        return out

    def chats_naming(self, names: Sequence[str]) -> list[int]:
        """Ids of the conversations held with a model named one of ``names``."""
        out = []
        for conv_id, models in self.conn.execute("SELECT id, models FROM conversations ORDER BY id"):
            try:
                named = json.loads(models or "[]")
            except ValueError:
                named = []
            if any(n in names for n in named):
                out.append(conv_id)
        return out

    def results_naming(self, names: Sequence[str]) -> int:
        """How many evaluation answers, grades and blind votes name one of ``names``."""
        if not names:
            return 0
        marks = ",".join("?" * len(names))
        total = 0
        for sql in (f"SELECT COUNT(*) FROM eval_results WHERE model IN ({marks})",
                    f"SELECT COUNT(*) FROM grades WHERE model IN ({marks})"):
            total += self.conn.execute(sql, tuple(names)).fetchone()[0]
        total += self.conn.execute(f"SELECT COUNT(*) FROM blind_votes WHERE model_a IN ({marks}) OR model_b IN ({marks})",
                                   tuple(names) * 2).fetchone()[0]
        return total

    def remove_models(self, ids: Sequence[int]) -> None:
        """Remove the rows of ``ids``, all or none."""
        with self.transaction():
            for model_id in ids:
                self.conn.execute("DELETE FROM models WHERE id=?", (model_id,))
