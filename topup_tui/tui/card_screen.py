"""Quick lookup (`/`) and the card screen: every field, the batch, the history."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from topup_tui.tui.dialog import Dialog
from textual.widgets import Input, Label, Static
from textual.worker import Worker, WorkerState

from topup_tui.core.errors import InputError
from topup_tui.core.pins import normalize_pin
from topup_tui.core.search import CardDetail, card_detail, lookup
from topup_tui.core.times import format_time
from topup_tui.tui.text import clean, status_cell


class LookupScreen(Dialog[None]):
    """One input for a serial or a PIN; Enter opens the card."""

    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Label("Lookup: serial number or PIN", classes="title")
            yield Input(placeholder="101-000000042, 101-42 or a PIN (spaces fine)", id="query", compact=True)
            error = Static("", classes="error", id="err-query", markup=False)
            error.styles.padding = (0, 0)
            yield error
            yield Label("enter opens the card · esc closes", classes="hint")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        self._lookup(event.value)

    @work(thread=True, exclusive=True, group="lookup", exit_on_error=False)
    def _lookup(self, text: str) -> list[CardDetail]:
        return self.app.run_db(lookup, self.app.store, text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "lookup":
            return
        error = self.query_one("#err-query", Static)
        if event.state == WorkerState.SUCCESS:
            found = event.worker.result
            error.update("")
            if not found:
                self.notify("No such card", severity="warning", markup=False)
                return
            self.dismiss()
            for detail in found:
                self.app.push_screen(CardScreen(detail.card.id, detail))
        elif event.state == WorkerState.ERROR:
            if isinstance(event.worker.error, InputError):
                error.update(event.worker.error.message)
            else:
                self.app.show_error(event.worker.error)


class CardScreen(Dialog[None]):
    """A card with its batch and history. `v` reveals the PIN (audited); `y`/`Y` copy."""

    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("v", "reveal", "Reveal PIN"),
        Binding("y", "copy_serial", "Copy serial"),
        Binding("Y", "copy_pin", "Copy PIN"),
    ]

    def __init__(self, card_id: int, detail: CardDetail | None = None) -> None:
        super().__init__()
        self.card_id = card_id
        self.detail = detail
        self.revealed: str | None = None
        self.body_text = ""  # what the card body says, as plain text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Top-up Card", classes="title")
            with VerticalScroll(classes="form"):
                yield Static("loading…", id="card-body", markup=False)
            yield Static("v reveal PIN (audited) · y copy serial · Y copy PIN · esc close", classes="hint")

    def on_mount(self) -> None:
        if self.detail is not None:
            self._show(self.detail)
        else:
            self._load(False)

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def _load(self, reveal: bool) -> CardDetail | None:
        if reveal:  # a reveal writes its audit event: its own thread, which may wait for a writer
            return card_detail(self.app.store, self.card_id, reveal=True)
        return self.app.run_db(card_detail, self.app.store, self.card_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "card":
            return
        if event.state == WorkerState.SUCCESS:
            detail = event.worker.result
            if detail is None:
                self.notify("No such card (deleted meanwhile?)", severity="warning", markup=False)
                self.dismiss()
                return
            if "•" not in detail.card.pin:
                self.revealed = normalize_pin(detail.card.pin)
                if self._pending_copy:
                    self._pending_copy = False
                    self._copy(self.revealed, "PIN")
            self._show(detail)
        elif event.state == WorkerState.ERROR:
            self.app.show_error(event.worker.error)

    _pending_copy = False

    def _show(self, detail: CardDetail) -> None:
        from rich.table import Table
        from rich.text import Text

        self.detail = detail
        card, batch = detail.card, detail.batch
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        activated = "—" if card.activated_at is None else f"{clean(card.activated_by)} at {format_time(card.activated_at)}"
        for label, value in (
            ("Serial Number", Text(card.serial)), ("Status", status_cell(card.status)),
            ("Amount", Text(card.amount_text)), ("PIN Code", Text(card.pin)),
            ("Reseller", Text(clean(card.reseller or "—"))), ("Expires", Text(format_time(card.expires_at))),
            ("Activated", Text(activated)), ("Created on", Text(format_time(card.created_at))),
            ("Batch", Text(f"{batch['id']}: {batch['quantity']:,} cards {batch['first_serial']} .. "
                           f"{batch['last_serial']}, {batch['pin_length']}-digit PINs, by {clean(batch['created_by'])} "
                           f"at {batch['created_at']}")),
        ):
            grid.add_row(label, value)
        grid.add_row("History", Text(""))
        for h in detail.history:
            grid.add_row(Text(format_time(h.at), style="dim"), Text(clean(f"{h.action} by {h.actor} · {h.target}")))
        self.body_text = "\n".join(
            " ".join(cell.plain if isinstance(cell, Text) else str(cell) for cell in row)
            for row in zip(*(column._cells for column in grid.columns))
        )
        self.query_one("#card-body", Static).update(grid)

    def action_reveal(self) -> None:
        self._load(True)

    def action_copy_serial(self) -> None:
        if self.detail:
            self._copy(self.detail.card.serial, "serial")

    def action_copy_pin(self) -> None:
        if self.revealed:
            self._copy(self.revealed, "PIN")
        else:
            self._pending_copy = True
            self._load(True)  # copying the PIN reveals it: audited like a reveal

    def _copy(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        self.notify(f"{what} copied to the clipboard", timeout=3, markup=False)
