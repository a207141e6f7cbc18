"""The app's modal dialogs, one per module, opened by the rooms and the app; they import widgets, never a room."""
