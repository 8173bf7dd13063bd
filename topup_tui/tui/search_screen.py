"""The Advanced Search panel: every field of the core filter; Enter in any field searches."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from topup_tui.tui.dialog import Dialog
from textual.widgets import Button, Input, Label, Select
from textual.worker import Worker, WorkerState

from topup_tui.core.errors import InputError
from topup_tui.core.filters import ALL_RESELLERS, CardFilter, parse_filter
from topup_tui.core.resellers import reseller_names
from topup_tui.core.times import utcnow
from topup_tui.tui.forms import field_row, show_errors
from topup_tui.tui.text import literal

RANGES = ("serial", "amount", "expires", "activated", "created")
ROW_OF = {
    "serial": "serial", "serial_from": "serial", "serial_to": "serial",
    "amount_min": "amount", "amount_max": "amount",
    "expires_from": "expires", "expires_to": "expires",
    "activated_from": "activated", "activated_to": "activated",
    "created_from": "created", "created_to": "created",
}
_LOW_HIGH = {"serial": ("serial_from", "serial_to"), "amount": ("amount_min", "amount_max")}


def _bounds(row: str) -> tuple[str, str]:
    return _LOW_HIGH.get(row, (f"{row}_from", f"{row}_to"))


class SearchScreen(Dialog[tuple[dict[str, str], CardFilter] | None]):
    """Returns (the raw field values, the validated filter), or None when cancelled."""

    AUTO_FOCUS = "#serial_from"
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("f2", "reset", "Reset")]

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__()
        self.initial = dict(fields)

    def compose(self) -> ComposeResult:
        v = self.initial.get

        def rng(row: str, hint_from: str, hint_to: str) -> list:
            low, high = _bounds(row)
            first = v("serial", "") if row == "serial" and v("serial") else v(low, "")
            return [
                Input(first, placeholder=hint_from, id=low, classes="half", compact=True),
                Label("—", classes="sep"),
                Input(v(high, ""), placeholder=hint_to, id=high, classes="half", compact=True),
            ]

        with Vertical(classes="dialog"):
            yield Label("Advanced Search", classes="title")
            with VerticalScroll(classes="form"):
                yield from field_row("Serial Number:", *rng("serial", "101-42 (alone: exact)", "101-99"), name="serial")
                yield from field_row("Series:", Input(v("series", ""), placeholder="101", id="series", compact=True), name="series")
                yield from field_row("PIN Code:", Input(v("pin", ""), placeholder="spaces or dashes allowed", id="pin", compact=True), name="pin")
                status = Select(
                    [("new", "new"), ("activated", "activated"), ("expired", "expired")],
                    prompt="any status", value=v("status") or Select.NULL, id="status", compact=True,
                )
                yield from field_row("Status:", status, name="status")
                yield from field_row("Company:", Select([], prompt=ALL_RESELLERS, id="reseller", compact=True), name="reseller")
                yield from field_row("Amount:", *rng("amount", "min 10", "max 50.50"), name="amount")
                yield from field_row("Expiration Date:", *rng("expires", "YYYY-MM-DD", "YYYY-MM-DD"), name="expires")
                yield from field_row("Client:", Input(v("client", ""), placeholder="who activated it", id="client", compact=True), name="client")
                yield from field_row("Activation Date:", *rng("activated", "YYYY-MM-DD", "YYYY-MM-DD"), name="activated")
                yield from field_row("Created on:", *rng("created", "YYYY-MM-DD", "YYYY-MM-DD"), name="created")
                yield from field_row("Batch:", Input(v("batch", ""), placeholder="batch number", id="batch", compact=True), name="batch")
            with Horizontal(classes="buttons"):
                yield Label("enter searches · esc cancels", classes="hint")
                yield Button("Reset", id="reset", compact=True)
                yield Button("Search", id="search", variant="primary", compact=True)

    def on_mount(self) -> None:
        self._load_resellers()

    @work(thread=True, exclusive=True, group="resellers", exit_on_error=False)
    def _load_resellers(self) -> list[str]:
        return self.app.run_db(reseller_names, self.app.store)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "resellers" and event.state == WorkerState.SUCCESS:
            select = self.query_one("#reseller", Select)
            select.set_options([(literal(name), name) for name in worker.result])
            if self.initial.get("reseller") in worker.result:
                select.value = self.initial["reseller"]
        elif worker.group == "validate":
            if event.state == WorkerState.SUCCESS:
                self.dismiss(worker.result)
            elif event.state == WorkerState.ERROR:
                error = worker.error
                if isinstance(error, InputError):
                    show_errors(self, {error.field: error.message}, ROW_OF)
                else:
                    self.app.show_error(error)

    def fields(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for widget in self.query(Input):
            if widget.value.strip():
                out[widget.id] = widget.value.strip()
        for widget in self.query(Select):
            if widget.value is not Select.NULL and widget.value is not None:
                out[widget.id] = str(widget.value)
        if "serial_from" in out and "serial_to" not in out:
            out["serial"] = out.pop("serial_from")  # one serial alone means that card
        return out

    @on(Input.Submitted)
    @on(Button.Pressed, "#search")
    def action_search(self) -> None:
        fields = self.fields()
        flt, errors = parse_filter(fields)
        show_errors(self, errors, ROW_OF)
        if flt is not None:
            self._validate(fields, flt)

    @work(thread=True, exclusive=True, group="validate", exit_on_error=False)
    def _validate(self, fields: dict[str, str], flt: CardFilter):
        self.app.run_db(flt.where, self.app.store, utcnow())  # resolves reseller and client names; raises InputError
        return fields, flt

    @on(Button.Pressed, "#reset")
    def action_reset(self) -> None:
        for widget in self.query(Input):
            widget.value = ""
        for widget in self.query(Select):
            widget.clear()
        show_errors(self, {})

    def action_cancel(self) -> None:
        self.dismiss(None)
