"""Resellers, clients (with their ledger) and the Redeem Voucher screen."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from topup_tui.tui.dialog import Dialog
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from topup_tui.core.clients import add_client, client_ledger, list_clients, rename_client, rename_reseller
from topup_tui.core.errors import InputError
from topup_tui.core.redeem import RedeemRefused, redeem
from topup_tui.core.resellers import add_reseller, list_resellers, reseller_names
from topup_tui.core.times import format_time, utcnow
from topup_tui.tui.forms import field_row, show_errors
from topup_tui.tui.text import clean, literal

NO_RESELLER = "__none__"


class FormDialog(Dialog[object]):
    """A small form whose OK runs `action(values)` in a thread; errors show at their fields."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str, object]], action) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields  # (name, label, initial str | list of (label, value) for a Select)
        self.action = action

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Label(clean(self.title_text), classes="title")
            for name, label, initial in self.fields:
                if isinstance(initial, list):
                    widget = Select(initial, value=initial[0][1], allow_blank=False, id=name, compact=True)
                else:
                    widget = Input(str(initial), id=name, compact=True)
                yield from field_row(label, widget, name=name)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("OK", id="ok", variant="primary", compact=True)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        values = {w.id: w.value for w in self.query(Input)}
        values.update({w.id: w.value for w in self.query(Select)})
        self._run(values)

    @work(thread=True, exclusive=True, group="form", exit_on_error=False)
    def _run(self, values: dict):
        return self.action(values)  # a write: on this worker's thread, not the shared database thread

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "form":
            return
        if event.state == WorkerState.SUCCESS:
            self.dismiss(event.worker.result)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, InputError):
                names = {n for n, _, _ in self.fields}
                field = error.field if error.field in names else ("new" if "new" in names else self.fields[0][0])
                show_errors(self, {field: error.message})
            else:
                self.app.show_error(error)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ListScreen(Screen):
    """A table of people or companies with add / rename keys."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("a", "add", "Add"),
        Binding("r", "rename", "Rename"),
    ]
    TITLE = ""

    def compose(self) -> ComposeResult:
        yield Label(self.TITLE, id="title")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="list")
        yield Static("", id="info", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def _load(self):
        return self.app.run_db(self.fetch)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "list":
            return
        if event.state == WorkerState.SUCCESS:
            self.show(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.app.show_error(event.worker.error)

    def selected_name(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _after(self, result) -> None:
        if result is not None:
            self.notify(clean(str(result)), markup=False)
            self.reload()


class ResellersScreen(ListScreen):
    TITLE = "Resellers"

    def fetch(self):
        return list_resellers(self.app.store)

    def show(self, rows) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns("Id", "Name", "Created on")
        for r in rows:
            table.add_row(str(r.id), literal(r.name), format_time(r.created_at), key=r.name)
        self.query_one("#info", Static).update(f"{len(rows):,} resellers · a add · r rename · esc back")

    def action_add(self) -> None:
        store = self.app.store
        self.app.push_screen(FormDialog("Add reseller", [("name", "Name:", "")],
                                        lambda v: f"added reseller {add_reseller(store, v['name']).name}"), self._after)

    def action_rename(self) -> None:
        old = self.selected_name()
        if old is None:
            return
        store = self.app.store
        self.app.push_screen(FormDialog(f"Rename reseller {old}", [("new", "New name:", old)],
                                        lambda v: f"renamed to {rename_reseller(store, old, v['new']).name}"), self._after)


class ClientsScreen(ListScreen):
    TITLE = "Clients"
    BINDINGS = [Binding("enter", "ledger", "Ledger")]

    def fetch(self):
        return list_clients(self.app.store), reseller_names(self.app.store)

    def show(self, result) -> None:
        rows, self.resellers = result
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns("Name", "Balance", "Reseller", "Locked until")
        now = utcnow()
        for c in rows:
            locked = format_time(c.locked_until) if c.locked_until and c.locked_until > now else "—"
            table.add_row(literal(c.name), c.balance_text, literal(c.reseller or "—"), locked, key=c.name)
        self.query_one("#info", Static).update(f"{len(rows):,} clients · enter ledger · a add · r rename · esc back")

    def action_add(self) -> None:
        store = self.app.store
        options = [("(no reseller)", NO_RESELLER)] + [(literal(n), n) for n in getattr(self, "resellers", [])]

        def add(v):
            reseller = None if v["reseller"] == NO_RESELLER else v["reseller"]
            return f"added client {add_client(store, v['name'], v['currency'], reseller).name}"

        self.app.push_screen(FormDialog("Add client", [("name", "Name:", ""), ("currency", "Currency:", "USD"),
                                                       ("reseller", "Reseller:", options)], add), self._after)

    def action_rename(self) -> None:
        old = self.selected_name()
        if old is None:
            return
        store = self.app.store
        self.app.push_screen(FormDialog(f"Rename client {old}", [("new", "New name:", old)],
                                        lambda v: f"renamed to {rename_client(store, old, v['new']).name}"), self._after)

    @on(DataTable.RowSelected)
    def action_ledger(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.app.push_screen(LedgerScreen(name))


class LedgerScreen(Dialog[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.client_name = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("", id="head", markup=False)
            yield DataTable(cursor_type="row", id="ledger")
            yield Label("esc closes", classes="hint")

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="ledger", exit_on_error=False)
    def _load(self):
        return self.app.run_db(client_ledger, self.app.store, self.client_name)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "ledger":
            return
        if event.state == WorkerState.SUCCESS:
            summary, lines = event.worker.result
            self.query_one("#head", Static).update(clean(f"{summary.name} · balance {summary.balance_text}"))
            table = self.query_one(DataTable)
            table.add_columns("When", "Card", "Credit")
            for line in lines:
                table.add_row(format_time(line.at), line.serial, "+" + line.amount_text)
        elif event.state == WorkerState.ERROR:
            self.app.show_error(event.worker.error)


class RedeemScreen(Dialog[None]):
    """Redeem Voucher: choose a client, type or paste a PIN, Enter. Stays open for the next one."""

    AUTO_FOCUS = "#client"
    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Label("Redeem Voucher", classes="title")
            yield from field_row("Client:", Select([], prompt="choose a client", id="client", compact=True), name="client")
            yield from field_row("PIN:", Input(placeholder="spaces or dashes allowed", id="pin", compact=True), name="pin")
            yield Static("", id="result", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", compact=True)
                yield Button("Redeem", id="redeem", variant="primary", compact=True)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self):
        return self.app.run_db(lambda: [c.name for c in list_clients(self.app.store)])

    @on(Input.Submitted)
    @on(Button.Pressed, "#redeem")
    def action_redeem(self) -> None:
        client = self.query_one("#client", Select).value
        if client is Select.NULL or client is None:
            show_errors(self, {"client": "choose the client to credit"})
            return
        show_errors(self, {})
        self._redeem(str(client), self.query_one("#pin", Input).value)

    @work(thread=True, exclusive=True, group="redeem", exit_on_error=False)
    def _redeem(self, client: str, pin: str):
        return redeem(self.app.store, client, pin)  # a write: its own thread

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        result = self.query_one("#result", Static)
        if worker.group == "load" and event.state == WorkerState.SUCCESS:
            self.query_one("#client", Select).set_options([(literal(n), n) for n in worker.result])
        elif worker.group == "redeem" and event.state == WorkerState.SUCCESS:
            result.update(clean(worker.result.sentence()))
            result.styles.color = "green"
            self.query_one("#pin", Input).value = ""
        elif worker.group == "redeem" and event.state == WorkerState.ERROR:
            error = worker.error
            if isinstance(error, RedeemRefused):
                result.update(clean(f"refused ({error.code}): {error}"))
                result.styles.color = "red"
            elif isinstance(error, InputError):
                result.update("")
                show_errors(self, {error.field: error.message})
            else:
                self.app.show_error(error)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss()
