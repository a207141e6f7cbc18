"""What changed between two runs: their data (each run's ``dataset.jsonl``) and their settings.

The user's loop is: train, look, fix the data, train again — and then ask what made the
difference. ``diff_runs(a, b)`` answers from what each run kept (``RunData``, read by
``load_run``): the pairs added to the training data and where they came from (new, approved,
restored), the pairs removed and why (rejected, sent back to draft, deleted), the pairs edited
(question/answer/system/context, each with its text diff), status changes, pairs moved between
the train and eval splits, tag changes, settings that differ; for preference runs the same for
the preference pairs (added, removed, edited). It is a pure function of the two snapshots.

Snapshots written before status, tags and the left-out pairs were kept read with those
unknown (``None``): a removal's reason is then ``None``, never a guess, and no status or tag
change is claimed where one side did not record them.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import UserError

# a run's settings that are its own bookkeeping, not a choice that changes what it learns
_SETTINGS_SKIPPED = ("vram_estimate_gib",)


# ---------------------------------------------------------------------------- what a run kept


@dataclass
class PairState:
    """One pair as a run's snapshot recorded it. ``trained``: in the run's data (either split);
    else ``left`` says why not. ``None`` fields: the snapshot did not record them."""

    pair_id: int
    trained: bool
    question: str = ""
    answer: str | None = None
    system: str | None = None
    context: list[dict] | None = None
    split: str | None = None
    status: str | None = None
    tags: list[str] | None = None
    left: str | None = None

    def texts(self) -> dict[str, str]:
        return {"question": self.question, "answer": self.answer or "", "system": self.system or "",
                "context": _context_text(self.context)}


@dataclass
class PreferenceState:
    preference_id: int
    trained: bool
    prompt: str = ""
    system: str = ""
    context: list[dict] = field(default_factory=list)
    chosen: str = ""
    rejected: str = ""
    left: str | None = None

    def texts(self) -> dict[str, str]:
        return {"prompt": self.prompt, "system": self.system, "context": _context_text(self.context), "chosen": self.chosen,
                "rejected": self.rejected}


@dataclass
class RunData:
    """What ``diff_runs`` needs of a run: its id, settings and snapshot, by pair id."""

    run_id: int
    config: dict
    kind: str  # "pairs" (an SFT run) or "preferences" (DPO, ORPO)
    pairs: dict[int, PairState] = field(default_factory=dict)
    preferences: dict[int, PreferenceState] = field(default_factory=dict)
    complete: bool = True  # the snapshot records status, tags and every pair left out


def _context_text(context: list[dict] | None) -> str:
    return "\n".join(f"{t.get('role', 'user')}: {t.get('content', '')}" for t in context or [])


def _split_messages(messages: list[dict]) -> tuple[str | None, list[dict], str, str]:
    """(system, earlier turns, question, answer) of a pair's training conversation."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else None
    rest = messages[1:] if system is not None else messages
    answer = rest[-1]["content"] if rest and rest[-1]["role"] == "assistant" else ""
    body = rest[:-1] if rest and rest[-1]["role"] == "assistant" else rest
    question = body[-1]["content"] if body else ""
    return system, list(body[:-1]), question, answer


def read_pairs_snapshot(path: Path) -> tuple[dict[int, PairState], bool]:
    """A run's SFT snapshot by pair id, and whether it is complete (written with status, tags
    and the pairs left out). Records without a pair id (written by hand) are skipped."""
    pairs: dict[int, PairState] = {}
    complete = True
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        pid = rec.get("pair_id")
        if pid is None:
            continue
        if "left" in rec:
            pairs[pid] = PairState(pid, False, question=rec.get("question", ""), split=rec.get("split"), status=rec.get("status"),
                                   tags=list(rec.get("tags") or []), left=rec["left"])
            continue
        if "status" not in rec:
            complete = False
        system, context, question, answer = _split_messages(rec["messages"])
        pairs[pid] = PairState(pid, True, question, answer, system, context, rec.get("split"), rec.get("status"),
                               rec.get("tags"))
    return pairs, complete


def read_preferences_snapshot(path: Path) -> dict[int, PreferenceState]:
    from core.train.preference_data import PreferenceSnapshot

    snap = PreferenceSnapshot.read(path)
    out: dict[int, PreferenceState] = {}
    for ex in snap.examples:
        if ex.preference_id is None:
            continue
        system = ex.prompt[0]["content"] if ex.prompt and ex.prompt[0]["role"] == "system" else ""
        turns = ex.prompt[1:] if system else ex.prompt
        out[ex.preference_id] = PreferenceState(ex.preference_id, True, turns[-1]["content"] if turns else "", system,
                                                list(turns[:-1]), ex.chosen, ex.rejected)
    for pid in snap.deleted:
        out[pid] = PreferenceState(pid, False, left="deleted")
    return out


def load_run(run) -> RunData:
    """A run of the store (``core.store.Run``) with its snapshot, read from its folder."""
    from core.train.preference_data import is_preference_snapshot

    path = Path(run.run_dir or "") / "dataset.jsonl"
    if not run.run_dir or not path.is_file():
        raise UserError(f"run {run.id} has no data snapshot ({path})", hint="only runs that started have one",
                        code="runs.no_snapshot", params={"id": run.id})
    config = {k: v for k, v in (run.config or {}).items() if k not in _SETTINGS_SKIPPED}
    if is_preference_snapshot(path):
        return RunData(run.id, config, "preferences", preferences=read_preferences_snapshot(path))
    pairs, complete = read_pairs_snapshot(path)
    return RunData(run.id, config, "pairs", pairs=pairs, complete=complete)


# ---------------------------------------------------------------------------- what changed


@dataclass
class TextChange:
    """One text field of a pair, before and after, with its unified diff lines."""

    field: str
    old: str
    new: str
    diff: list[str]


@dataclass
class Added:
    id: int
    question: str
    before: str | None  # "new" (not in the store then), "draft", "rejected", "deleted"; None: unknown


@dataclass
class Removed:
    id: int
    question: str
    reason: str | None  # "rejected", "draft", "deleted"; None: the later snapshot does not say


@dataclass
class Edited:
    id: int
    question: str
    changes: list[TextChange]


@dataclass
class StatusChange:
    id: int
    question: str
    old: str
    new: str


@dataclass
class SplitChange:
    id: int
    question: str
    old: str
    new: str


@dataclass
class TagChange:
    id: int
    question: str
    added: list[str]
    removed: list[str]


@dataclass
class SettingChange:
    key: str
    old: object
    new: object


@dataclass
class PairsDiff:
    added: list[Added] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)
    edited: list[Edited] = field(default_factory=list)
    status: list[StatusChange] = field(default_factory=list)
    moved: list[SplitChange] = field(default_factory=list)
    tags: list[TagChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.edited or self.status or self.moved or self.tags)

    def only(self, pair_id: int) -> PairsDiff:
        return PairsDiff(*[[x for x in getattr(self, name) if x.id == pair_id] for name in PAIR_SECTIONS])


PAIR_SECTIONS = ("added", "removed", "edited", "status", "moved", "tags")
PREFERENCE_SECTIONS = ("added", "removed", "edited")


@dataclass
class PreferencesDiff:
    added: list[Added] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)
    edited: list[Edited] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.edited)


@dataclass
class RunDiff:
    a: int
    b: int
    kind_a: str
    kind_b: str
    settings: list[SettingChange]
    pairs: PairsDiff | None  # None: not two SFT runs
    preferences: PreferencesDiff | None  # None: not two preference runs
    complete: bool  # both snapshots recorded status, tags and the pairs left out

    @property
    def empty(self) -> bool:
        return not self.settings and (self.pairs is None or self.pairs.empty) and (self.preferences is None or self.preferences.empty)

    def only_pair(self, pair_id: int) -> RunDiff:
        """The changes of one pair (and the settings, which touch every pair)."""
        return RunDiff(self.a, self.b, self.kind_a, self.kind_b, self.settings,
                       self.pairs.only(pair_id) if self.pairs is not None else None, None, self.complete)

    def to_dict(self) -> dict:
        return asdict(self)


def text_change(name: str, old: str, new: str) -> TextChange | None:
    """None when equal; else both texts and their line diff (difflib's unified lines, no header)."""
    if old == new:
        return None
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1))[2:]
    return TextChange(name, old, new, lines)


def _edits(old: dict[str, str], new: dict[str, str]) -> list[TextChange]:
    return [c for name in old if (c := text_change(name, old[name], new[name])) is not None]


def _settings(a: dict, b: dict) -> list[SettingChange]:
    keys = sorted(set(a) | set(b))
    return [SettingChange(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


def diff_pairs(a: dict[int, PairState], b: dict[int, PairState], *, a_complete: bool = True, b_complete: bool = True) -> PairsDiff:
    """The changes from snapshot ``a`` to snapshot ``b`` (each by pair id), in pair id order."""
    out = PairsDiff()
    for pid in sorted(set(a) | set(b)):
        old, new = a.get(pid), b.get(pid)
        question = (new.question if new and new.question else old.question if old else "")
        was_in, is_in = bool(old and old.trained), bool(new and new.trained)
        if is_in and not was_in:
            before = old.left if old is not None else ("new" if a_complete else None)
            out.added.append(Added(pid, question, before))
        elif was_in and not is_in:
            reason = new.left if new is not None else ("deleted" if b_complete else None)
            out.removed.append(Removed(pid, question, reason))
        elif was_in and is_in and old is not None and new is not None:
            changes = _edits(old.texts(), new.texts())
            if changes:
                out.edited.append(Edited(pid, question, changes))
        if old is None or new is None:
            continue
        if old.status and new.status and old.status != new.status:
            out.status.append(StatusChange(pid, question, old.status, new.status))
        if old.split and new.split and old.split != new.split:
            out.moved.append(SplitChange(pid, question, old.split, new.split))
        if old.tags is not None and new.tags is not None and set(old.tags) != set(new.tags):
            out.tags.append(TagChange(pid, question, sorted(set(new.tags) - set(old.tags)), sorted(set(old.tags) - set(new.tags))))
    return out


def diff_preferences(a: dict[int, PreferenceState], b: dict[int, PreferenceState]) -> PreferencesDiff:
    out = PreferencesDiff()
    for pid in sorted(set(a) | set(b)):
        old, new = a.get(pid), b.get(pid)
        prompt = new.prompt if new and new.prompt else old.prompt if old else ""
        was_in, is_in = bool(old and old.trained), bool(new and new.trained)
        if is_in and not was_in:
            out.added.append(Added(pid, prompt, old.left if old is not None else "new"))
        elif was_in and not is_in:
            out.removed.append(Removed(pid, prompt, new.left if new is not None else "deleted"))
        elif was_in and is_in and old is not None and new is not None:
            changes = _edits(old.texts(), new.texts())
            if changes:
                out.edited.append(Edited(pid, prompt, changes))
    return out


def diff_runs(a: RunData, b: RunData) -> RunDiff:
    """What changed from run ``a`` to run ``b``: settings, and the data both kept of one kind."""
    pairs = diff_pairs(a.pairs, b.pairs, a_complete=a.complete, b_complete=b.complete) if a.kind == b.kind == "pairs" else None
    prefs = diff_preferences(a.preferences, b.preferences) if a.kind == b.kind == "preferences" else None
    return RunDiff(a.run_id, b.run_id, a.kind, b.kind, _settings(a.config, b.config), pairs, prefs, a.complete and b.complete)


# ---------------------------------------------------------------------------- which runs


def previous_run(store, run_id: int):
    """The run started before ``run_id`` that has a snapshot, or None."""
    for run in store.list_runs():  # newest first
        if run.id < run_id and run.run_dir and (Path(run.run_dir) / "dataset.jsonl").is_file():
            return run
    return None


def compare_runs(store, a: int, b: int | None = None) -> RunDiff:
    """``diff_runs`` of two runs of the store; ``b`` None: ``a`` against the run before it."""
    if b is None:
        later = store.get_run(a)
        earlier = previous_run(store, later.id)
        if earlier is None:
            raise UserError(f"run {a} has no earlier run to compare with", hint="`nastavnik runs list` shows the runs",
                            code="runs.no_previous", params={"id": a})
        return diff_runs(load_run(earlier), load_run(later))
    return diff_runs(load_run(store.get_run(a)), load_run(store.get_run(b)))


def run_of_model(store, name: str) -> int | None:
    """The run a model was exported from (the models registry, else the export job that named it), or None."""
    model = store.find_model(name)
    if model is not None and model.run_id is not None:
        return model.run_id
    for job in store.list_export_jobs():
        if job.run_id is not None and job.name == name:
            return job.run_id
    return None
