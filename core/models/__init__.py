"""Models as the workspace holds them: the inventory (what is on disk, what uses it, its fit)."""
