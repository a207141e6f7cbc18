"""The Train room's Settings view: the form (preset, method, the numbers, 4-bit, backend, dtype),
the data summary beside it, the tokenized preview, and starting a run from it.

The data line says one token count: estimated from the text until a preview has read the data
with the base's tokenizer and chat template, then that exact count, named so. The preview shows
its examples one at a time (the preview key again: the next one, «2/5»); a change of the base,
the method, the length or the data makes it stale, and it leaves the screen.

Beside the data, two lines about the base the form names: the chat format it trains in (the
base's own template, read from its files, unless the Template field names another on purpose)
and the GPU memory the run needs, estimated from the base's own config.json
(core/train/arch.py) at the form's settings, whatever preset filled the form first. Neither
downloads anything: a base not on disk yet says so. The preset picker lists each preset with its
fit at its own settings (``core.train.vram.preset_fit``: the GiB and the smallest card it fits, or
that it is unknown until its base's config.json is here), computed in a worker from the files on
disk when the room mounts and whenever the models on disk change; the chosen preset's name alone
stays in the field.

``TrainSetup`` is one of the four views ``TrainRoom`` (room.py) is made of; it holds the
form's fields and what they do, the room holds the tabs that switch the views.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static

from core.errors import UserError
from core.train.presets import PRESET_NAMES
from tui.dialogs.confirm import ConfirmScreen
from tui.i18n import error_text, t
from tui.rooms.train.models import fit_short
from tui.widgets.completing_input import ChoiceSuggester, CompletingInput

# (input id, config field, label key, parser)
FIELDS = (
    ("train-base", "base", "train.base", str),
    ("train-steps", "max_steps", "train.steps", int),
    ("train-epochs", "epochs", "train.epochs", float),
    ("train-lr", "lr", "train.lr", float),
    ("train-lora-r", "lora_r", "train.lora_r", int),
    ("train-max-len", "max_seq_len", "train.max_len", int),
    ("train-batch", "batch_size", "train.batch", int),
    ("train-eval-steps", "eval_steps", "train.eval_steps", int),  # 0: eval loss once, at the end
    ("train-patience", "early_stop_patience", "train.patience", int),  # 0: no early stop
    ("train-judge", "judge", "train.judge", str),  # empty: no judge at the evaluations
)
# the form's rows, by input id: two fields share a row where the form would not fit 80×24 otherwise
ROWS = (("train-base",), ("train-steps", "train-epochs"), ("train-lr",), ("train-lora-r", "train-judge"), ("train-max-len",),
        ("train-batch",), ("train-eval-steps", "train-patience"))
# the form's labels and the TrainConfig field each names: a label's tooltip is the field's help
HELP_LABELS = {
    "train-preset-label": "preset", "train-method-label": "method", "train-4bit-label": "load_in_4bit",
    "train-backend-label": "backend", "train-dtype-label": "dtype", "train-template-label": "template",
    **{f"{input_id}-label": fld for input_id, fld, _label, _parser in FIELDS},
}


def _field_row(label_key: str, widget, label_id: str) -> Horizontal:
    return Horizontal(Label(t(label_key), id=label_id, classes="train-label"), widget, classes="train-field")


#: the Template field's value for "the base's own chat template" (a TrainConfig's template "")
OWN = ""


def _facts_key(cfg) -> tuple:
    """What the format and memory lines are made from."""
    return (cfg.base, cfg.preset, cfg.template, cfg.max_seq_len, cfg.batch_size, cfg.lora_r, cfg.load_in_4bit,
            cfg.backend, cfg.method)


def format_text(fmt: dict) -> Text:
    """The chat format line: the base's own (its turns), or a template named in its place."""
    text = Text()
    if fmt["named"]:
        text.append(t("train.format_named", template=fmt["template"], turns=fmt["turns"]), style="bold yellow")
    elif fmt["turns"]:
        text.append(t("train.format_own", turns=fmt["turns"]))
    elif fmt["has_own"]:
        text.append(t("train.format_own_unknown"))
    elif fmt["here"]:
        text.append(t("train.format_none"), style="bold yellow")
    else:
        text.append(t("train.format_not_here"), style="dim")
    return text


def memory_text(facts: dict) -> Text:
    """The GPU memory line: the estimate per backend and the card it fits, or why there is none."""
    if "memory" in facts:
        m = facts["memory"]
        line = t("train.memory", unsloth=f"{m['unsloth']:.1f}", hf=f"{m['hf']:.1f}")
        if facts.get("card"):
            line += " " + t("train.memory_card", gb=facts["card"])
        return Text(line)
    if "error" in facts:
        code, params, english = facts["error"]
        if code == "arch.unknown":
            why = t(f"train.arch_why.{params.get('reason')}", **params) if params.get("reason") else english
            return Text(t("train.memory_unknown", what=params.get("what", "?"), why=why), style="yellow")
        return Text(english, style="yellow")
    return Text(t("train.memory_not_here"), style="dim")


#: how many examples a preview reads, shown one at a time
PREVIEW_SAMPLES = 5


@dataclass
class PreviewPages:
    """A preview on screen: what it was made from (the form's base, method, length and template,
    and the data's sha256; a change to any of them makes it stale), the data line with the
    tokenizer's count, one page per example, and the one shown."""

    made_from: tuple
    sha: str
    line: str
    legend: str
    pages: list[Text]
    note: str = ""
    index: int = 0


def preset_fit_text(fit) -> str:
    """A preset's fit as the picker says it (``core.train.vram.PresetFit``), in the UI's language."""
    if fit.state == "estimated":
        if fit.card_gb:
            return t("train.preset_fit", gib=f"{fit.need_gib:.1f}", card=fit.card_gb)
        return t("train.preset_fit_no_card", gib=f"{fit.need_gib:.1f}")
    if fit.state == "not_here":
        return t("train.preset_fit_not_here")
    r = fit.reason
    if r is not None and r.code == "arch.unknown" and r.params.get("reason"):
        why = f"{r.params.get('what', '?')}: " + t(f"train.arch_why.{r.params['reason']}", **r.params)
    else:
        why = error_text(r, sep=" — ") if r is not None else "?"
    return t("train.preset_fit_unknown", why=why)


def preset_prompt(fit) -> Text:
    """A preset's line in the picker: its name, and under it its fit (dim; it wraps in the list)."""
    return Text.assemble(fit.name, "\n", (preset_fit_text(fit), "dim"))


def _made_from(cfg) -> tuple:
    return (cfg.base, cfg.method, cfg.max_seq_len, cfg.template)


def _preference_page(sample) -> Text:
    """A preference pair as the trainer gets it: the prompt dim, the chosen answer green, the rejected red."""
    text = Text()
    text.append(sample["prompt"], style="dim")
    text.append(sample["chosen"] + "\n", style="bold green")
    text.append(sample["rejected"], style="bold red")
    return text


def _sft_page(sample) -> Text:
    """A pair as the trainer gets it: the tokens it learns from green, the rest dim."""
    text = Text()
    for piece, trained in sample["pieces"]:
        text.append(piece, style="bold green" if trained else "dim")
    return text


class TrainSetup(Vertical):
    """The Settings view's part of ``TrainRoom``: the room's ``ws``, ``action_view`` and ``poll`` serve it."""

    _preview: PreviewPages | None = None  # the preview on screen, while it is current
    _preset_fits: dict | None = None  # each preset's PresetFit by name, once a worker has read them
    _registered_lines: tuple[str, ...] = ()  # the base field tooltip's registered models, with their fit

    def compose_setup(self) -> ComposeResult:
        """The Settings view: the form, and beside it the data summary and the preview."""
        with Horizontal(id="train-setup-row"):
            # the fields scroll where the terminal is short (80×24 with the first-run guide
            # shown); the buttons stay below them, always on screen
            with Vertical(id="train-form-box"):
                with VerticalScroll(id="train-form"):
                    yield _field_row(
                        "train.preset",
                        Select([(n, n) for n in PRESET_NAMES], value="demo", allow_blank=False, compact=True, id="train-preset"),
                        "train-preset-label",
                    )
                    yield _field_row("train.method", Select(self._options("method"), value="sft", allow_blank=False, compact=True,
                                                            id="train-method"), "train-method-label")
                    labels = {input_id: label for input_id, _field, label, _parser in FIELDS}
                    # the base is chosen: Tab completes a registered model or a preset's base (a path too)
                    self.base_suggester = ChoiceSuggester(list(self._preset_bases()))
                    for row in ROWS:
                        yield Horizontal(*(widget for n, input_id in enumerate(row) for widget in (
                            Label(t(labels[input_id]), id=f"{input_id}-label", classes="train-pair-label" if n else "train-label"),
                            CompletingInput(id=input_id, type="text", compact=True, suggester=self.base_suggester)
                            if input_id == "train-base" else Input(id=input_id, type="text", compact=True))), classes="train-field")
                        if "train-base" in row:  # the format the base trains in, chosen beside it
                            yield _field_row("train.template", Select(self._template_options(), value=OWN, allow_blank=False,
                                                                      compact=True, id="train-template"), "train-template-label")
                    yield _field_row("train.4bit", Checkbox("", compact=True, id="train-4bit"), "train-4bit-label")
                    yield _field_row("train.backend", Select(self._options("backend"), value="auto", allow_blank=False, compact=True,
                                                             id="train-backend"), "train-backend-label")
                    yield _field_row("train.dtype", Select(self._options("dtype"), value="auto", allow_blank=False, compact=True,
                                                           id="train-dtype"), "train-dtype-label")
                yield Static("", id="train-form-error")
                with Horizontal(id="train-buttons"):
                    yield Button(t("train.start"), id="train-start", variant="primary", compact=True)
                    yield Button(t("train.preview"), id="train-preview-btn", compact=True)
            with VerticalScroll(id="train-data"):
                yield Static("", id="train-format")
                yield Static("", id="train-memory")
                yield Static("", id="train-dataset")
                yield Static("", id="train-drafts")
                yield Static("", id="train-preview")

    def localize_setup(self) -> None:
        """The form's labels, tooltips and buttons in the current language; what was typed stays."""
        self._help_tooltips()
        self.query_one("#train-preset-label", Label).update(t("train.preset"))
        self.query_one("#train-template-label", Label).update(t("train.template"))
        template = self.query_one("#train-template", Select)
        chosen = template.value
        template.set_options(self._template_options())
        template.value = chosen
        for input_id, _field, label, _parser in FIELDS:
            self.query_one(f"#{input_id}-label", Label).update(t(label))
        for wid, key in (("train-4bit", "train.4bit"), ("train-backend", "train.backend"), ("train-dtype", "train.dtype"),
                         ("train-method", "train.method")):
            self.query_one(f"#{wid}-label", Label).update(t(key))
        self.query_one("#train-steps", Input).placeholder = t("train.steps_hint_short")
        self.query_one("#train-steps", Input).tooltip = t("train.steps_hint")
        for wid, key in (("train-start", "train.start"), ("train-preview-btn", "train.preview")):
            self.query_one(f"#{wid}", Button).label = t(key)
        self._label_4bit()
        self._show_preset_fits()  # the fits in the new language
        self._preview = None
        self.query_one("#train-preview", Static).update("")

    @staticmethod
    def _options(which: str) -> list[tuple[str, str]]:
        from core.train.config import BACKENDS, DTYPES, METHODS

        return [(name, name) for name in {"backend": BACKENDS, "dtype": DTYPES, "method": METHODS}[which]]

    @staticmethod
    def _preset_bases() -> dict[str, str]:
        """Each preset's base and the preset's name, in the presets' order."""
        from core.train.presets import PRESETS

        return {PRESETS[n].base: n for n in PRESET_NAMES}

    def offer_bases(self, inv) -> None:
        """The base field completes the registered bases, then the presets' bases; its tooltip lists
        them with their fit (the inventory's estimate; a preset's smallest card)."""
        registered = [e for e in inv.entries if e.kind in ("base", "merged") and e.model_id is not None]
        presets = self._preset_bases()
        self.base_suggester.choices = [e.name for e in registered] + [b for b in presets if b not in {e.name for e in registered}]
        self._registered_lines = tuple(f"{e.name}  {fit_short(e)}" for e in registered)
        self._base_tooltip()
        self.load_preset_fits()  # a model added, downloaded or deleted may change a preset's fit

    def _base_tooltip(self) -> None:
        """The base field's tooltip: the registered bases, then the presets' bases with the card each
        fits (the picker's fit once read; until then a preset's own numbers)."""
        from core.train.presets import PRESETS
        from core.train.vram import estimate_vram, smallest_card

        lines = list(self._registered_lines)
        for base, name in self._preset_bases().items():
            fit = (self._preset_fits or {}).get(name)
            if fit is not None:
                card = fit.card_gb
            else:
                preset = PRESETS[name]  # a preset without numbers has its fit once its base's config.json is here
                card = smallest_card(estimate_vram(preset, backend="unsloth")) if preset.known else None
            lines.append(t("train.base_preset_option", base=base, preset=name, card=card if card else "?"))
        self.query_one("#train-base", Input).tooltip = t("train.base_options", options="\n".join(lines))

    def load_preset_fits(self) -> None:
        """Each preset's fit again, for the picker (in a thread: config.json files are read)."""
        self._load_preset_fits()

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-preset-fits")
    def _load_preset_fits(self) -> None:
        from core.train.presets import PRESETS
        from core.train.vram import preset_fit

        with self.ws.store() as store:
            fits = {name: preset_fit(PRESETS[name], store) for name in PRESET_NAMES}
        self.app.call_from_thread(self._show_preset_fits, fits)

    def _show_preset_fits(self, fits: dict | None = None) -> None:
        """The picker's lines with their fits; the field keeps the chosen name (the list's prompts
        change, not the Select's options: setting those would choose again and refill the form)."""
        if fits is not None:
            self._preset_fits = fits
        if self._preset_fits is None:
            return
        try:
            listing = self.query_one("#train-preset", Select).query_one(OptionList)
        except NoMatches:
            return
        for index, name in enumerate(PRESET_NAMES):  # the Select's options, in this order, no blank
            fit = self._preset_fits.get(name)
            if fit is not None:
                listing.replace_option_prompt_at_index(index, preset_prompt(fit))
        self._base_tooltip()

    @staticmethod
    def _template_options() -> list[tuple[str, str]]:
        from core.train.templates import TEMPLATES

        return [(t("train.template_own"), OWN), *((name, name) for name in TEMPLATES)]

    def load_dataset_summary(self) -> None:
        self._load_dataset_summary(self.method)
        self.load_base_facts()

    def _help_tooltips(self) -> None:
        for label_id, fld in HELP_LABELS.items():
            self.query_one(f"#{label_id}", Label).tooltip = t(f"train.help.{fld}")

    def _fill_form(self, preset_name: str) -> None:
        from core.train.config import TrainConfig

        cfg = TrainConfig.from_preset(preset_name)
        values = {
            "base": cfg.base,
            "max_steps": "",
            "epochs": f"{cfg.epochs:g}",
            "lr": f"{cfg.lr:g}",
            "lora_r": str(cfg.lora_r),
            "max_seq_len": str(cfg.max_seq_len),
            "batch_size": str(cfg.batch_size),
            "eval_steps": str(cfg.eval_steps),
            "early_stop_patience": str(cfg.early_stop_patience),
            "judge": cfg.judge,
        }
        for input_id, fld, _label, _parser in FIELDS:
            self.query_one(f"#{input_id}", Input).value = values[fld]
        self.query_one("#train-4bit", Checkbox).value = cfg.load_in_4bit  # the preset's choice is the default
        self._label_4bit()

    @on(Checkbox.Changed, "#train-4bit")
    def _4bit_changed(self) -> None:
        self._label_4bit()
        self.load_base_facts()

    @on(Input.Changed, "#train-base, #train-max-len, #train-batch, #train-lora-r")
    @on(Select.Changed, "#train-template, #train-backend")
    def _base_facts_changed(self) -> None:
        self.load_base_facts()

    def load_base_facts(self) -> None:
        """The format and memory lines again, for the form as it stands (in a thread: files are read)."""
        try:
            cfg = self.form_config()
        except UserError:
            cfg = None
        if cfg is None:  # a field being typed: the lines wait for a number
            return
        self._load_base_facts(cfg)

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-base-facts")
    def _load_base_facts(self, cfg) -> None:
        from core.train.runs import local_base
        from core.train.templates import training_format
        from core.train.vram import base_arch, estimate_run, smallest_card

        with self.ws.store() as store:
            folder = local_base(store, cfg.base)
            fmt = training_format(cfg.template, folder)
            try:
                arch = base_arch(cfg, store)
                error = None
            except UserError as exc:
                arch, error = None, exc
        if arch is not None:
            memory = {b: estimate_run(cfg, arch, backend=b) for b in ("unsloth", "hf")}
            card = smallest_card(memory["unsloth"] if cfg.backend != "hf" else memory["hf"])
            facts = {"memory": {b: round(e.total / 2**30, 1) for b, e in memory.items()}, "card": card}
        elif error is not None:
            facts = {"error": (error.code, dict(error.params), str(error))}
        else:
            facts = {}
        self.app.call_from_thread(self._show_base_facts, _facts_key(cfg), fmt, facts)

    def _show_base_facts(self, key: tuple, fmt: dict, facts: dict) -> None:
        try:
            current = _facts_key(self.form_config())
        except UserError:
            return
        if current != key:
            return  # the form changed while the files were read: a newer answer follows
        try:
            self.query_one("#train-format", Static).update(format_text(fmt))
            self.query_one("#train-memory", Static).update(memory_text(facts))
        except NoMatches:
            return

    def _label_4bit(self) -> None:
        """The switch says its state in words: its colour alone is lost on a plain terminal."""
        box = self.query_one("#train-4bit", Checkbox)
        box.label = t("train.on") if box.value else t("train.off")

    @on(Select.Changed, "#train-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        if event.value and event.value != Select.BLANK:
            self._fill_form(str(event.value))

    @on(Select.Changed, "#train-method")
    def _method_changed(self) -> None:
        self._clear_preview()
        self.load_dataset_summary()  # the pairs or the preference pairs

    @on(Input.Changed, "#train-base, #train-max-len")
    def _preview_input_changed(self) -> None:
        # a preview of another base (or length) would tell what this run will not train on; a
        # change already previewed stays (its Changed message can arrive after the preview it
        # asked for, when the field was set and the preview started at once)
        if self._preview is not None and self._preview.made_from != self._form_made_from():
            self._clear_preview()
            self.load_dataset_summary()  # the estimate again, in place of the old base's count

    def _clear_preview(self) -> None:
        self._preview = None
        self._set_preview("")

    @property
    def method(self) -> str:
        return str(self.query_one("#train-method", Select).value)

    def form_config(self):
        """The form as a validated TrainConfig, or a UserError naming the field."""
        from core.train.config import TrainConfig

        preset = str(self.query_one("#train-preset", Select).value)
        values: dict = {}
        for input_id, fld, label, parser in FIELDS:
            raw = self.query_one(f"#{input_id}", Input).value.strip()
            if not raw:
                continue
            try:
                values[fld] = parser(raw)
            except ValueError:
                raise UserError(t("train.bad_number", field=t(label), value=raw)) from None
        values["load_in_4bit"] = self.query_one("#train-4bit", Checkbox).value
        values["backend"] = str(self.query_one("#train-backend", Select).value)
        values["dtype"] = str(self.query_one("#train-dtype", Select).value)
        values["method"] = self.method
        values["template"] = str(self.query_one("#train-template", Select).value or OWN)
        cfg = TrainConfig.from_preset(preset, **values)
        if not values.get("max_steps"):
            cfg = cfg.with_(max_steps=-1)
        return cfg.validate()

    def _show_form_error(self, message: str) -> None:
        try:
            error = self.query_one("#train-form-error", Static)
            error.update(message)
            error.display = bool(message)  # no empty line taken from the form
            if message:
                self.action_view("train-setup")  # where the field to fix is
        except NoMatches:
            return

    @on(Button.Pressed, "#train-start")
    def _start_pressed(self) -> None:
        self.action_start()

    def action_start_key(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        """Start a run with the form's settings (the button, and the command palette)."""
        try:
            cfg = self.form_config()
        except UserError as exc:
            self._show_form_error(error_text(exc, " — "))
            self.app.notify(error_text(exc, " — "), severity="error")
            return
        self._show_form_error("")
        cfg = self.base_here(cfg)
        if cfg is not None:
            self.start_run(cfg)

    def base_here(self, cfg):
        """The form's config when its base is on disk; None when Start and Preview must wait.

        The room never downloads: a hub id the workspace does not hold is offered for download
        (a job, in the Models view, with its progress) and the form waits for it; a hub id a
        download registered trains from that model (the form then names it)."""
        from dataclasses import replace

        from core.hub.download import active_download_for, base_to_fetch, hub_model, is_hub_id

        with self.ws.store() as store:
            missing = base_to_fetch(store, cfg.base)
            here = None
            if missing is None and is_hub_id(cfg.base) and store.find_model(cfg.base) is None:
                here = hub_model(store, cfg.base)
            busy = active_download_for(store, missing) if missing else None
        if here is not None:
            self.query_one("#train-base", Input).value = here.name
            return replace(cfg, base=here.name)
        if missing is None:
            return cfg
        if busy is not None:
            self.wait_for_base(missing, busy.id)
            self.app.notify(t("train.base_downloading", hub=missing))
            self.action_view("train-models-view")
            return None

        def fetch(yes: bool | None) -> None:
            if yes:
                self.wait_for_base(missing)
                self.pull_from_hub(missing)
                self.action_view("train-models-view")

        self.app.push_screen(ConfirmScreen(t("train.base_offer", hub=missing)), fetch)
        return None

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-action")
    def start_run(self, cfg) -> None:
        from core.train.runs import start_run

        try:
            run = start_run(self.ws, cfg)
        except UserError as exc:
            self.app.call_from_thread(self.app.notify, error_text(exc, " — "), severity="error")
            self.app.call_from_thread(self._show_form_error, error_text(exc, " — "))
            return
        self.app.call_from_thread(self._started, run.id)

    def _started(self, run_id: int) -> None:
        self.run_id = None  # follow the newest run
        self.app.notify(t("train.started", id=run_id))
        self.action_view("train-progress-view")
        self.poll()

    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field of the form starts the run, as in any form."""
        if event.input.id in {input_id for input_id, *_ in FIELDS}:
            event.stop()
            self.action_start()

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-dataset")
    def _load_dataset_summary(self, method: str) -> None:
        from core.store import PairFilter
        from core.text import estimate_tokens
        from core.train.pipeline import take_snapshot

        with self.ws.store() as store:
            drafts = store.count_pairs(PairFilter(status="draft"))
            try:
                snap = take_snapshot(store, method)
            except UserError:
                snap = None
        if method != "sft":
            if snap is None:
                text = t("train.no_prefs")
            else:
                tokens = sum(estimate_tokens(m["content"]) for ex in snap.examples for m in ex.prompt) + sum(
                    estimate_tokens(ex.chosen) + estimate_tokens(ex.rejected) for ex in snap.examples)
                text = t("train.prefs", n=len(snap.examples), method=method, tokens=t("train.tokens_estimate", n=tokens),
                         sha=snap.sha256[:12])
        elif snap is None:
            text = t("train.no_data")
        else:
            tokens = sum(estimate_tokens(m["content"]) for ex in snap.train for m in ex.messages)
            text = t("train.dataset", train=len(snap.train), eval=len(snap.eval), tokens=t("train.tokens_estimate", n=tokens),
                     sha=snap.sha256[:12])
        self.app.call_from_thread(self._set_dataset, text, drafts, snap.sha256 if snap is not None else None, method)

    def _set_dataset(self, text, drafts: int, sha: str | None = None, method: str | None = None) -> None:
        if method is not None and method != self.method:
            # a summary of the other method, from a worker that ended after the method changed
            # (``exclusive`` cancels a thread worker, but its result still arrives): a newer one follows
            return
        preview = self._preview
        if preview is not None:
            if preview.sha == sha:
                text = preview.line  # the same data: the tokenizer's count, not the estimate
            else:
                self._clear_preview()  # the data changed since: that preview is not what a run gets
        try:
            self.query_one("#train-dataset", Static).update(text)
            # said only when some wait: "0 drafts wait" is a line to read for nothing
            self.query_one("#train-drafts", Static).update(t("train.drafts", n=drafts) if drafts else "")
        except NoMatches:
            return

    def _set_preview(self, text) -> None:
        try:
            self.query_one("#train-preview", Static).update(text)
        except NoMatches:
            return

    @on(Button.Pressed, "#train-preview-btn")
    def _preview_pressed(self) -> None:
        self.action_preview()

    def action_preview(self) -> None:
        """Preview the data as the run gets it; again on a preview still current: its next example."""
        try:
            cfg = self.form_config()
        except UserError as exc:
            self._show_form_error(error_text(exc, " — "))
            return
        self._show_form_error("")
        cfg = self.base_here(cfg)
        if cfg is None:
            return
        self.action_view("train-setup")
        preview = self._preview
        if preview is not None and preview.made_from == _made_from(cfg):
            preview.index = (preview.index + 1) % max(1, len(preview.pages))
            self._render_preview()
            return
        self._clear_preview()
        self._set_preview(Text(t("train.preview_loading", base=cfg.base), style="dim"))
        self.load_preview(cfg)

    def _render_preview(self) -> None:
        p = self._preview
        if p is None:
            return
        text = Text()
        text.append(p.legend + "\n", style="dim")
        if p.pages:
            text.append(t("train.preview_example", n=p.index + 1, total=len(p.pages), keys=self._preview_key()) + "\n",
                        style="bold")
            text.append_text(p.pages[p.index])
        if p.note:
            text.append("\n" + p.note, style="yellow")
        self._set_preview(text)
        try:
            self.query_one("#train-dataset", Static).update(p.line)
        except NoMatches:
            return

    def _preview_key(self) -> str:
        from tui.keys import hint

        return hint(self.app.room_bindings("train"), "preview") if hasattr(self.app, "room_bindings") else "v"

    def _form_made_from(self) -> tuple | None:
        """What a preview made now would be made from (None while the form has an error)."""
        try:
            return _made_from(self.form_config())
        except UserError:
            return None

    def _show_preview(self, preview: PreviewPages) -> None:
        if self._form_made_from() != preview.made_from:
            return  # the form changed while the tokenizer loaded: this preview is of something else
        self._preview = preview
        self._render_preview()

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-preview")
    def load_preview(self, cfg) -> None:
        try:
            self._load_preview(cfg)
        except Exception:
            self.app.call_from_thread(self._set_preview, "")  # no «loading» left standing; the app reports the error
            raise

    def _load_preview(self, cfg) -> None:
        from transformers import AutoTokenizer

        from core.train.dataset import preview, template_source
        from core.train.pipeline import take_snapshot
        from core.train.runs import resolve_base
        from core.train.templates import get_template

        try:
            with self.ws.store() as store:
                snap = take_snapshot(store, cfg.method)
                label, path = resolve_base(store, cfg.base)
            tok = AutoTokenizer.from_pretrained(path)
            source = template_source(tok, get_template(cfg.template) if cfg.template else None)
            if cfg.preference:
                from core.train.preference_data import preview as preference_preview

                pv = preference_preview(tok, source, snap, max_len=cfg.max_seq_len, samples=PREVIEW_SAMPLES)
            else:
                pv = preview(tok, source, snap, max_len=cfg.max_seq_len, samples=PREVIEW_SAMPLES)
        except (OSError, UserError) as exc:  # the tokenizer files cannot be read, no data, no such base
            self.app.call_from_thread(self._set_preview, "")
            self.app.call_from_thread(self.app.notify, error_text(exc, " — "), severity="error")  # in the UI's language
            return
        # the one count on screen: every token of every example, template included, as the run reads them
        tokens = t("train.tokens_exact", n=pv.tokens, base=label)
        if cfg.preference:
            line = t("train.prefs", n=pv.examples, method=cfg.method, tokens=tokens, sha=snap.sha256[:12])
            pages = [_preference_page(sample) for sample in pv.samples]
            legend = t("train.pref_legend")
            note = t("train.pref_truncated", n=len(pv.truncated), max=cfg.max_seq_len) if pv.truncated else ""
        else:
            line = t("train.dataset", train=pv.examples, eval=len(snap.eval), tokens=tokens, sha=snap.sha256[:12])
            pages = [_sft_page(sample) for sample in pv.samples]
            legend = t("train.preview_legend")
            note = t("train.truncated", n=len(pv.truncated), max=cfg.max_seq_len) if pv.truncated else ""
        result = PreviewPages(_made_from(cfg), snap.sha256, line, legend, pages, note)
        self.app.call_from_thread(self._show_preview, result)
