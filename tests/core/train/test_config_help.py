"""A training setting's help is written once, on its TrainConfig field: `nastavnik train --help`
and the Train form's tooltips both say it, so the two cannot drift apart again."""

from __future__ import annotations

from dataclasses import fields

from core.train.config import TrainConfig, field_help


def test_every_train_flag_of_a_config_field_shows_that_fields_help():
    from tui.cli.train import train

    config_fields = {f.name for f in fields(TrainConfig)}
    options = {p.name: p for p in train.params if p.name in config_fields}
    assert {"base", "epochs", "lr", "max_steps", "backend", "dtype", "method", "beta"} <= set(options)
    for name, option in options.items():
        assert option.help and option.help == field_help(name), name


def test_the_train_form_tooltips_say_the_same_help_in_english_and_have_a_russian_one():
    from tui.i18n import set_lang, t
    from tui.rooms.train.setup import HELP_LABELS

    try:
        for fld in HELP_LABELS.values():
            set_lang("en")
            assert t(f"train.help.{fld}") == field_help(fld) != ""
            set_lang("ru")
            assert t(f"train.help.{fld}") not in ("", field_help(fld), f"train.help.{fld}"), fld
    finally:
        set_lang("en")
