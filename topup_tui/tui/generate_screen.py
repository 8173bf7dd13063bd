"""The Generate dialog (fields as in the reference, live guessing risk) and its result dialog."""

from __future__ import annotations

import os

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from topup_tui.tui.dialog import Dialog
from textual.widgets import Button, Checkbox, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from topup_tui.core.errors import InputError
from topup_tui.core.export import export_batch
from topup_tui.core.generate import (
    MAX_GUESS_ODDS, BatchResult, GenerateRequest, assess_risk, parse_generate_form, pin_length_counts,
)
from topup_tui.core.resellers import reseller_names
from topup_tui.core.pins import DEFAULT_PIN_LENGTH
from topup_tui.core.times import default_expiration, format_time, utcnow
from topup_tui.tui.forms import field_row, show_errors
from topup_tui.tui.text import clean, literal

NO_RESELLER = "__none__"


class GenerateScreen(Dialog[GenerateRequest | None]):
    """Returns a validated request (the main screen runs it with a progress bar), or None."""

    AUTO_FOCUS = "#amount"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[int, tuple[int, int]] | None = None
        self.resellers: list[str] = []
        self.touched: set[str] = set()
        self.submitted = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Generate Top-Up Cards", classes="title")
            with VerticalScroll(classes="form"):
                yield from field_row(
                    "Amount:",
                    Input(placeholder="15.00", id="amount", classes="half", compact=True),
                    Label(" ", classes="sep"),
                    Input("USD", placeholder="USD", id="currency", classes="half", compact=True, max_length=3),
                    name="amount",
                )
                yield from field_row("Quantity:", Input(placeholder="1..1,000,000", id="quantity", compact=True), name="quantity")
                yield from field_row("Series:", Input(placeholder="101", id="series", compact=True), name="series")
                yield from field_row(
                    "PIN Length:", Input(str(DEFAULT_PIN_LENGTH), id="pin_length", compact=True), Label(" digits"),
                    name="pin_length",
                )
                yield from field_row(
                    "Reseller:", Select([("(no reseller)", NO_RESELLER)], value=NO_RESELLER, allow_blank=False,
                                        id="reseller", compact=True),
                    name="reseller",
                )
                yield from field_row(
                    "Expiration Date:", Input(format_time(default_expiration()), id="expires", compact=True),
                    name="expires",
                )
                yield Label("  a bare date = through 23:59:59 UTC; no offset = UTC", classes="hint")
                yield from field_row("", Checkbox("Allow weak PINs (audited)", id="allow_weak_pins", compact=True), name="allow_weak_pins")
                yield Static("", id="risk", classes="risk", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self):
        def load():
            return reseller_names(self.app.store), pin_length_counts(utcnow())

        return self.app.run_db(load)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "load":
            return
        if event.state == WorkerState.SUCCESS:
            self.resellers, self.counts = event.worker.result
            select = self.query_one("#reseller", Select)
            select.set_options([("(no reseller)", NO_RESELLER)] + [(literal(n), n) for n in self.resellers])
            if len(self.resellers) == 1:
                select.value = self.resellers[0]
            self._validate(all_fields=False)
        elif event.state == WorkerState.ERROR:
            self.app.show_error(event.worker.error)

    def raw_fields(self) -> dict[str, object]:
        out: dict[str, object] = {w.id: w.value for w in self.query(Input)}
        reseller = self.query_one("#reseller", Select).value
        out["reseller"] = None if reseller in (NO_RESELLER, Select.NULL) else reseller
        out["allow_weak_pins"] = self.query_one("#allow_weak_pins", Checkbox).value
        return out

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.has_focus:  # not the pre-filled values arriving
            self.touched.add(event.input.id)
        self._validate(all_fields=False)

    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _other_changed(self) -> None:
        self._validate(all_fields=False)

    def _validate(self, *, all_fields: bool) -> GenerateRequest | None:
        fields = self.raw_fields()
        request, errors = parse_generate_form(fields)
        all_fields = all_fields or self.submitted  # after OK, every field speaks up
        if not all_fields:  # while typing, only speak of fields the operator has touched
            shown = {"amount", "currency"} & self.touched
            errors = {k: v for k, v in errors.items() if k in self.touched or (k == "amount" and shown)}
        row_of = {"currency": "amount"}
        risk_text, risk_error = self._risk(fields)
        if risk_error and (all_fields or "pin_length" in self.touched or "quantity" in self.touched):
            errors.setdefault("pin_length", risk_error)
        show_errors(self, errors, row_of)
        self.query_one("#risk", Static).update(risk_text)
        return request if not errors and not risk_error else None

    def _risk(self, fields: dict[str, object]) -> tuple[str, str | None]:
        """The guessing-risk line for the current quantity and PIN length, and a blocking error."""
        from topup_tui.core.generate import check_quantity
        from topup_tui.core.pins import check_pin_length

        if self.counts is None:
            return "", None
        try:
            quantity = check_quantity(fields.get("quantity"))
            length = check_pin_length(fields.get("pin_length"))
        except InputError:
            return "", None
        risk = assess_risk(length, quantity, self.counts)
        if risk.exhausted:
            return risk.describe(), f"only {max(risk.free, 0):,} unused {length}-digit PINs remain; use {risk.safe_length} or more digits"
        if risk.too_weak:
            text = f"{risk.describe()} (limit 1 in {MAX_GUESS_ODDS:,}); {risk.safe_length} digits would be safe"
            if fields.get("allow_weak_pins"):
                return text + " — weak PINs allowed, audited", None
            return text, f"too easy to guess: use {risk.safe_length} or more digits, or allow weak PINs"
        return risk.describe(), None

    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        self.submitted = True
        request = self._validate(all_fields=True)
        if request is not None:
            self.dismiss(request)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_ok()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class GeneratedScreen(Dialog[int | None]):
    """A finished batch: its summary, an export to CSV (0600), and "show the batch"."""

    AUTO_FOCUS = "#path"
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, result: BatchResult) -> None:
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        r = self.result
        with Vertical(classes="dialog"):
            yield Label(f"Batch {r.batch_id} generated", classes="title")
            yield Static(
                clean(f"{r.count:,} cards {r.first_serial} .. {r.last_serial}, {r.as_dict()['amount']} {r.currency} each, "
                      f"{r.pin_length}-digit PINs, reseller {r.reseller or '—'}, expires {format_time(r.expires_at)}"),
                markup=False,
            )
            yield Static("Export the batch for the card printer (full PINs; the file is created 0600):", classes="hint")
            yield from field_row(
                "CSV file:", Input(os.path.abspath(f"batch-{r.batch_id}.csv"), id="path", compact=True), name="path",
            )
            yield Static("", id="export-status", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Export", id="export", variant="primary", compact=True)
                yield Button("Show batch", id="show", compact=True)
                yield Button("Close", id="close", compact=True)

    @on(Input.Submitted)
    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        self.query_one("#export-status", Static).update("exporting…")
        self._export(self.query_one("#path", Input).value.strip())

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, path: str) -> tuple[int, str]:
        if not path:
            raise InputError("path", "is required")
        return export_batch(self.app.store, self.result.batch_id, path), path

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "export":
            return
        status = self.query_one("#export-status", Static)
        if event.state == WorkerState.SUCCESS:
            count, path = event.worker.result
            status.update(clean(f"exported {count:,} cards to {path} (0600)"))
            show_errors(self, {})
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            status.update("")
            if isinstance(error, InputError):
                show_errors(self, {"path": error.message})
            else:
                self.app.show_error(error)

    @on(Button.Pressed, "#show")
    def _show(self) -> None:
        self.dismiss(self.result.batch_id)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
