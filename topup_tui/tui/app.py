"""The application: opens on the Top-up Cards screen over an already opened store."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Vertical, VerticalScroll
from topup_tui.tui.dialog import Dialog
from textual.widgets import Button, Label, Static

from topup_tui.core.database import Store, translate_db_errors
from topup_tui.core.errors import DatabaseError, TopupError
from topup_tui.tui.main_screen import MainScreen
from topup_tui.tui.text import clean


class ActionCommands(Provider):
    """Every key's action in the command palette, as "verb: thing"."""

    COMMANDS = (
        ("Generate: top-up cards", "generate"), ("Mass edit: marked or matching cards", "mass_edit"),
        ("Search: advanced search", "search"), ("Search: reset", "reset_search"),
        ("Lookup: card by serial or PIN", "lookup"), ("Page: next", "next_page"),
        ("Page: previous", "prev_page"), ("Page: first", "first_page"), ("Page: last", "last_page"),
        ("Page: change size (20/50/100)", "page_size"), ("Sort: by the column under the cursor", "sort"),
        ("Mark: card under the cursor", "mark"), ("Mark: every card on the page", "mark_page"),
        ("Mark: every card matching the search", "mark_all"), ("Mark: clear", "clear_marks"),
        ("Table: refresh", "refresh"), ("Generation: cancel", "cancel_generation"), ("Help: keys", "help"),
        ("Redeem: voucher PIN for a client", "redeem"), ("Clients: list, add, rename, ledger", "clients"),
        ("Resellers: list, add, rename", "resellers"),
    )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app = self.app
        for text, action in self.COMMANDS:
            score = matcher.match(text)
            if score > 0:
                target = "app" if action == "help" else "screen"
                yield Hit(score, matcher.highlight(text), _runner(app, f"{target}.{action}"), help=None)


def _runner(app: App, action: str):
    async def run() -> None:
        await app.run_action(action, app.screen if action.startswith("screen.") else app)

    return run


HELP_KEYS = (
    ("g", "Generate top-up cards"),
    ("e", "Mass edit: the marked cards, else every card matching the search"),
    ("f · r", "Advanced search · reset the search"),
    ("/", "Lookup a card by serial or PIN"),
    ("enter", "Open the card under the cursor"),
    ("n p", "Next · previous page (also PageDown · PageUp)"),
    ("< >", "First · last page"),
    ("z", "Page size 20 / 50 / 100"),
    ("s", "Sort by the column under the cursor (again to reverse)"),
    ("space a A x", "Mark the card · the page · every match · clear marks"),
    ("v", "Redeem a voucher: a client and a PIN"),
    ("c · o", "Clients (ledger, add, rename) · resellers (add, rename)"),
    ("C", "Cancel the running generation"),
    ("R", "Refresh"),
    ("ctrl+p", "Command palette: every action"),
    ("? · F1 · q", "This help · quit"),
    ("", ""),
    ("dialogs", "tab moves between fields, enter confirms, escape cancels"),
    ("card screen", "v reveals the PIN (audited), y copies the serial, Y the PIN"),
)


class HelpScreen(Dialog[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for keys, what in HELP_KEYS:
            grid.add_row(keys, what)
        with Vertical(classes="dialog"):
            yield Label("Keys", classes="title")
            with VerticalScroll(classes="form"):
                yield Static(grid)
            yield Button("Close", id="close", compact=True)

    def on_button_pressed(self) -> None:
        self.dismiss()


class ConfirmScreen(Dialog[bool]):
    """y / n / escape."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Label(clean(self.question), markup=False)
            yield Label("y = yes · n = no", classes="hint")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class TopupApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Top-up Cards"
    COMMANDS = App.COMMANDS | {ActionCommands}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, store: Store, first_page: Future | None = None, db_thread: ThreadPoolExecutor | None = None) -> None:
        super().__init__()
        self.store = store
        self.first_page = first_page  # page 1, fetched while Textual was starting (see cli)
        # One long-lived thread for the screens' reads: one connection whose page cache stays
        # warm (a pool of worker threads would each open a cold one). Writes, which may wait
        # for another writer's lock (a generation holds it for seconds), run on threads of
        # their own so that paging and searching never wait behind them.
        self.db_thread = db_thread or ThreadPoolExecutor(1, thread_name_prefix="topup-db")

    def run_db(self, fn, *args, **kwargs):
        """Run the read `fn` on the database thread and wait for it (call it from a thread worker).

        A failed connection (a PostgreSQL server restarted, a network cut) comes back as one
        clear DatabaseError, and the thread's connection is dropped so the next call reconnects.
        """

        def call():
            try:
                with translate_db_errors():
                    return fn(*args, **kwargs)
            except DatabaseError:
                try:
                    self.store.database.close()
                except Exception:  # already gone: the next call opens a new one anyway
                    pass
                raise

        return self.db_thread.submit(call).result()

    def on_unmount(self) -> None:
        self.db_thread.shutdown(wait=False, cancel_futures=True)

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def on_mount(self) -> None:
        for note in self.store.notes:
            self.notify(note, markup=False)

    @property
    def main(self) -> MainScreen:
        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        if self.main.generating:
            def answer(yes: bool | None) -> None:
                if yes:
                    self.main.action_cancel_generation()
                    self.exit()

            self.push_screen(ConfirmScreen("A generation is running. Quit and cancel it? Nothing of it will be kept."), answer)
            return
        self.exit()

    def show_error(self, error: BaseException | None) -> None:
        """A failure as a visible message: the core's one line, never a traceback."""
        if isinstance(error, TopupError):
            text = str(error)
        else:
            text = f"unexpected error: {type(error).__name__}: {error}"
        self.notify(clean(text), severity="error", timeout=10, markup=False)
