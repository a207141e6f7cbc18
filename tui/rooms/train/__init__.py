"""The Train room, in four views: setup.py (the form), progress.py (the live run), runs.py
(the table of runs), models.py (the workspace's models); room.py puts them in tabs as ``TrainRoom``."""

from tui.rooms.train.room import TrainRoom

__all__ = ["TrainRoom"]
