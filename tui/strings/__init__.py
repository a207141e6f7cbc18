"""The UI's strings, one table per language (``en``, ``ru``); ``tui.i18n.t`` looks them up."""
