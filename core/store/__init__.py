"""The store: the only place with SQL. Returns dataclasses, never rows.

``Store`` is assembled from one mixin per subject (preferences, teacher drafts, pairs, chats,
blind votes, runs, models, export and download jobs); each lives in its own module and all share the connection set up in
``base``. The actions and their undo are shared: a mixin that writes under an action extends
``_undo_more`` to take its part back.
"""

from __future__ import annotations

from core.store.base import StoreBase
from core.store.chats import ChatsMixin
from core.store.downloads import DOWNLOAD_STATUSES, DownloadJob, DownloadJobsMixin
from core.store.exports import EXPORT_STATUSES, ExportJob, ExportJobsMixin
from core.store.drafts import DraftsMixin
from core.store.models import MODEL_KINDS, Model, ModelsMixin
from core.store.runs import ACTIVE, RUN_STATUSES, TERMINAL, Metric, Run, RunsMixin
from core.store.pairs import (
    Action,
    DedupReport,
    ImportCounts,
    Pair,
    PairChanged,
    PairFilter,
    PairsMixin,
    Revision,
    STATUSES,
    SPLITS,
)
from core.store.preferences import Preference, PreferenceFilter, PreferenceRevision, PreferencesMixin
from core.store.votes import BlindVote, VotesMixin


class Store(PreferencesMixin, DraftsMixin, PairsMixin, ChatsMixin, VotesMixin, RunsMixin, ModelsMixin, ExportJobsMixin,
            DownloadJobsMixin, StoreBase):
    """Open with ``Store(path)`` or ``Workspace.store()``; one per thread."""


__all__ = [
    "ACTIVE",
    "Action",
    "BlindVote",
    "DedupReport",
    "DOWNLOAD_STATUSES",
    "DownloadJob",
    "EXPORT_STATUSES",
    "ExportJob",
    "ImportCounts",
    "Pair",
    "PairChanged",
    "PairFilter",
    "Preference",
    "PreferenceFilter",
    "PreferenceRevision",
    "Revision",
    "RUN_STATUSES",
    "TERMINAL",
    "Run",
    "Metric",
    "MODEL_KINDS",
    "Model",
    "STATUSES",
    "SPLITS",
    "Store",
]
