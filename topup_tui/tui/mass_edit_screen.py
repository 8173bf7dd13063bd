"""The Mass Edit dialog: preserve / set to, a preview before Process, Delete with a typed count."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from topup_tui.tui.dialog import Dialog
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from topup_tui.core.edit import Preview, Scope, delete_cards, mass_edit, preview
from topup_tui.core.errors import InputError
from topup_tui.core.resellers import reseller_names
from topup_tui.core.times import DATE_FORMATS_HELP, parse_time
from topup_tui.tui.forms import field_row, show_errors
from topup_tui.tui.text import clean, literal

PRESERVE, SET_TO = "preserve", "set"


class MassEditScreen(Dialog[bool | None]):
    """Dismisses True when cards were changed or deleted."""

    AUTO_FOCUS = "#expires_mode"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, scope: Scope, what: str) -> None:
        super().__init__()
        self.scope = scope
        self.what = what
        self.plan: Preview | None = None

    def compose(self) -> ComposeResult:
        mode = [("preserve", PRESERVE), ("set to", SET_TO)]
        with Vertical(classes="dialog"):
            yield Label("Mass Top-up Cards Edit", classes="title")
            yield Static(clean(f"Scope: {self.what}"), markup=False, id="scope")
            yield Static("counting…", classes="preview", id="preview", markup=False)
            with VerticalScroll(classes="form"):
                yield from field_row(
                    "Expiration Date:",
                    Select(mode, value=PRESERVE, allow_blank=False, id="expires_mode", compact=True, classes="half"),
                    Input(placeholder="YYYY-MM-DD", id="expires", compact=True, disabled=True, classes="half"),
                    name="expires",
                )
                yield from field_row(
                    "Company:",
                    Select(mode, value=PRESERVE, allow_blank=False, id="reseller_mode", compact=True, classes="half"),
                    Select([], prompt="reseller", id="reseller", compact=True, disabled=True, classes="half"),
                    name="reseller",
                )
                yield Static(f"dates: {DATE_FORMATS_HELP}; a past date expires the cards now", classes="hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Delete all" if self.scope.is_everything else "Delete", id="delete", variant="error", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Process »", id="process", variant="primary", compact=True)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self):
        def load():
            return reseller_names(self.app.store), preview(self.app.store, self.scope)

        return self.app.run_db(load)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR:
            error = worker.error
            if isinstance(error, InputError):
                show_errors(self, {error.field: error.message}, {"set_reseller": "reseller", "set_expires": "expires"})
            self.app.show_error(error)
            return
        if event.state != WorkerState.SUCCESS:
            return
        if worker.group == "load":
            names, self.plan = worker.result
            self.query_one("#reseller", Select).set_options([(literal(n), n) for n in names])
            self.query_one("#preview", Static).update(
                f"{self.plan.sentence('change')} — new {self.plan.new:,}, expired {self.plan.expired:,}, "
                f"activated {self.plan.activated:,}"
            )
        elif worker.group == "write":
            verb, result = worker.result
            self.notify(result.sentence(verb), markup=False)
            self.dismiss(True)

    @on(Select.Changed, "#expires_mode")
    def _expires_mode(self, event: Select.Changed) -> None:
        box = self.query_one("#expires", Input)
        box.disabled = event.value != SET_TO
        if not box.disabled:
            box.focus()

    @on(Select.Changed, "#reseller_mode")
    def _reseller_mode(self, event: Select.Changed) -> None:
        box = self.query_one("#reseller", Select)
        box.disabled = event.value != SET_TO
        if not box.disabled:
            box.focus()

    def _changes(self) -> dict | None:
        errors: dict[str, str] = {}
        changes: dict = {}
        if self.query_one("#expires_mode", Select).value == SET_TO:
            try:
                changes["set_expires"] = parse_time(self.query_one("#expires", Input).value, "expires")
            except InputError as exc:
                errors["expires"] = exc.message
        if self.query_one("#reseller_mode", Select).value == SET_TO:
            value = self.query_one("#reseller", Select).value
            if value is Select.NULL or value is None:
                errors["reseller"] = "choose the reseller to set"
            else:
                changes["set_reseller"] = value
        if not errors and not changes:
            errors["expires"] = "nothing to change: set the expiration date, the company, or both"
        show_errors(self, errors)
        return None if errors else changes

    @on(Input.Submitted)
    @on(Button.Pressed, "#process")
    def action_process(self) -> None:
        changes = self._changes()
        if changes is None:
            return
        if self.plan is not None and self.plan.changeable == 0:
            self.notify("0 cards to change", markup=False)
            return
        self._write(lambda: ("changed", mass_edit(self.app.store, self.scope, **changes)))

    @work(thread=True, exclusive=True, group="write", exit_on_error=False)
    def _write(self, call):
        return call()  # a write may wait for another writer's lock: not on the shared database thread

    @on(Button.Pressed, "#delete")
    def action_delete(self) -> None:
        if self.plan is None:
            return
        if self.plan.changeable == 0:
            self.notify("0 cards to delete" + (f" ({self.plan.activated:,} activated kept)" if self.plan.activated else ""),
                        markup=False)
            return
        count = self.plan.changeable

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._write(lambda: ("deleted", delete_cards(
                    self.app.store, self.scope, confirm_all=self.scope.is_everything, expected=count)))

        self.app.push_screen(DeleteConfirmScreen(self.plan, self.what), confirmed)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class DeleteConfirmScreen(Dialog[bool]):
    """The operator types the number of cards to be deleted; anything else deletes nothing."""

    AUTO_FOCUS = "#count"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, plan: Preview, what: str) -> None:
        super().__init__()
        self.plan = plan
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Label("Delete cards", classes="title")
            yield Static(clean(f"{self.what}: {self.plan.sentence('delete')}."), markup=False)
            yield Label(f"Type {self.plan.changeable} to delete them. This cannot be undone.")
            yield Input(placeholder=str(self.plan.changeable), id="count", compact=True)
            yield Static("", classes="error", id="err-count", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Delete", id="delete", variant="error", compact=True)

    @on(Input.Submitted)
    @on(Button.Pressed, "#delete")
    def _delete(self) -> None:
        typed = self.query_one("#count", Input).value.replace(",", "").strip()
        if typed != str(self.plan.changeable):
            error = self.query_one("#err-count", Static)
            error.styles.padding = (0, 0)
            error.update(f"that is not {self.plan.changeable}; nothing deleted")
            return
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
