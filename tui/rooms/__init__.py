"""The app's rooms (Pairs, Chat, Train, Evaluate): tabbed views that open dialogs; no room imports another."""
