"""How far a new user has gone around the loop, read from the store: the first-run guide's ticks.

The guide (the app's «Первые шаги») names four steps — train, export and chat, correct, train
again — and ticks each when the store shows it done, so nothing is kept beside the data that
could disagree with it: a finished run; a conversation with a run's GGUF; a correction (a live
preference from a chat or an evaluation answer); a run created after the first correction, later
than the run whose answer was corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store import Store

#: the steps, in the order a user takes them
STEPS = ("train", "chat", "correct", "retrain")


@dataclass(frozen=True)
class FirstSteps:
    """Which steps are done, and whether the workspace holds the demo model (``nastavnik demo``)."""

    demo: bool = False
    train: bool = False
    chat: bool = False
    correct: bool = False
    retrain: bool = False

    def done(self, step: str) -> bool:
        return bool(getattr(self, step))

    @property
    def next_step(self) -> str | None:
        """The first step not done yet; None once the loop has been gone around."""
        return next((s for s in STEPS if not self.done(s)), None)


def first_steps(store: Store) -> FirstSteps:
    """Read the four steps from the store (a handful of small queries)."""
    from core.store.preferences import PreferenceFilter

    demo = store.find_model("demo")
    trained = bool(store.list_runs(status="done", limit=1))
    tuned = {m.name for m in store.list_models(kind="gguf") if m.run_id is not None}
    chatted = bool(tuned) and any(tuned & set(c.models) for c in store.list_conversations(limit=50))
    corrections = [p for kind in ("chat", "eval")
                   for p in store.list_preferences(PreferenceFilter(kind=kind), limit=1)]
    first_fix = min((p.created for p in corrections), default=None)
    corrected_run = max((p.run_id for p in corrections if p.run_id is not None), default=0)
    newest = store.list_runs(limit=1)
    # a later run than the one whose answer was corrected, started since (timestamps are to the
    # millisecond: the run id tells a run from before the correction within the same one)
    retrained = (first_fix is not None and bool(newest) and newest[0].id > corrected_run
                 and newest[0].created >= first_fix)
    return FirstSteps(demo=demo is not None and bool(demo.meta.get("demo")), train=trained, chat=chatted,
                      correct=bool(corrections), retrain=retrained)
