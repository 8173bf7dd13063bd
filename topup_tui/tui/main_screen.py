"""The Top-up Cards section: actions, the active search, the paged table, the generation bar."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from topup_tui.core.errors import Cancelled, TopupError
from topup_tui.core.filters import CardFilter
from topup_tui.core.search import DEFAULT_SORT, Page, search_cards
from topup_tui.tui.keybar import ActionBar, KeyBar
from topup_tui.tui.table import SORT_OF_COLUMN, CardTable
from topup_tui.tui.text import clean

if TYPE_CHECKING:
    from topup_tui.core.edit import Scope
    from topup_tui.core.generate import BatchResult, GenerateRequest

PAGE_SIZES = (20, 50, 100)


class MainScreen(Screen):
    """The reference section as a screen.

    | key | action |
    |-----|--------|
    | n / PageDown, p / PageUp | next / previous page |
    | < / > | first / last page |
    | s | sort by the column under the cursor (again to reverse) |
    | space, a, A, x | mark the card, the page, every match; clear marks |
    | / f g e | lookup, advanced search, generate, mass edit |
    | enter | open the card |
    """

    BINDINGS = [
        Binding("g", "generate", "Generate", id="generate"),
        Binding("e", "mass_edit", "Mass Edit", id="mass_edit"),
        Binding("f", "search", "Search", id="search"),
        Binding("slash", "lookup", "Lookup", id="lookup", key_display="/"),
        Binding("n", "next_page", "Next", id="next_page"),
        Binding("p", "prev_page", "Prev", id="prev_page"),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("question_mark,f1", "app.help", "Help", id="help", key_display="?"),
        Binding("q", "app.quit", "Quit", id="quit"),
        Binding("less_than_sign", "first_page", "First page", show=False, id="first_page"),
        Binding("greater_than_sign", "last_page", "Last page", show=False, id="last_page"),
        Binding("space", "mark", "Mark card", show=False, id="mark"),
        Binding("a", "mark_page", "Mark page", show=False, id="mark_page"),
        Binding("A", "mark_all", "Mark all matching", show=False, id="mark_all"),
        Binding("x", "clear_marks", "Clear marks", show=False, id="clear_marks"),
        Binding("z", "page_size", "Page size", show=False, id="page_size"),
        Binding("r", "reset_search", "Reset search", show=False, id="reset_search"),
        Binding("R", "refresh", "Refresh", show=False, id="refresh"),
        Binding("C", "cancel_generation", "Cancel generation", show=False, id="cancel_generation"),
        Binding("v", "redeem", "Redeem voucher", show=False, id="redeem"),
        Binding("c", "clients", "Clients", show=False, id="clients"),
        Binding("o", "resellers", "Resellers", show=False, id="resellers"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = CardFilter()
        self.filter_fields: dict[str, str] = {}
        self.sort: tuple[str, bool] = DEFAULT_SORT
        self.page_number = 1
        self.page_size = PAGE_SIZES[0]
        self.page: Page | None = None
        self.marks: set[int] = set()
        self.all_marked = False
        self.cancel_event: threading.Event | None = None
        self.generation_bar = None  # a GenerationBar, mounted on the first generation
        self._progress_started = 0.0
        self._last_progress = 0.0

    # ----- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield ActionBar(
            "Top-up Cards",
            [("Generate Top-Up Cards", "generate"), ("Mass Edit", "mass_edit"), ("Advanced Search", "search")],
            id="toolbar",
        )
        yield Static("", id="summary", markup=False)
        yield CardTable(id="cards")
        yield Static("", id="empty", markup=False)
        yield Static("", id="info", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        table = self.query_one(CardTable)
        table.setup_columns(self._table_width())
        table.focus()
        self.reload()

    def on_resize(self) -> None:
        table = self.query_one(CardTable)
        widths = table.widths
        table.widths = {}
        from topup_tui.tui.table import fit_widths

        if fit_widths(self._table_width()) != widths:
            table.setup_columns(self._table_width())
            self._render_page()
        else:
            table.widths = widths

    def _table_width(self) -> int:
        return max(40, self.size.width - 2)  # the vertical scrollbar

    # ----- loading ------------------------------------------------------------------------
    def reload(self, page: int | None = None) -> None:
        """Load `page` (default: the current one); the screen moves to it once it has loaded."""
        self._load_page(self.filter, page or self.page_number, self.page_size, self.sort)

    @work(thread=True, exclusive=True, group="page", exit_on_error=False)
    def _load_page(self, flt: CardFilter, page: int, page_size: int, sort) -> Page:
        prefetched, self.app.first_page = self.app.first_page, None
        if prefetched is not None and (flt, page, page_size, sort) == (CardFilter(), 1, PAGE_SIZES[0], DEFAULT_SORT):
            return prefetched.result()
        return self.app.run_db(search_cards, self.app.store, flt, page=page, page_size=page_size, sort=sort)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "page":
            if event.state == WorkerState.SUCCESS:
                self.page = worker.result
                self.page_number = self.page.page
                self._render_page()
            elif event.state == WorkerState.ERROR:
                self.app.show_error(worker.error)
        elif worker.group == "generate":
            if event.state == WorkerState.SUCCESS:
                self._generation_done(worker.result)
            elif event.state == WorkerState.ERROR:
                self._generation_failed(worker.error)

    def _render_page(self) -> None:
        page = self.page
        table = self.query_one(CardTable)
        empty = self.query_one("#empty", Static)
        summary = self.query_one("#summary", Static)
        text = "Search: all cards" if self.filter.is_empty else f"Search: {self.filter.describe()}"
        summary.update(clean(text) + ("  (f change · r reset)" if not self.filter.is_empty else "  (f to search)"))
        if page is None:
            return
        table.show_rows(page.rows, self.marks, self.all_marked)
        if page.total == 0:
            empty.update(
                "No cards yet. Press g to generate cards; o to add the resellers (companies) that own "
                "them, c for clients. ? lists every key."
                if self.filter.is_empty else "No card matches this search. Press f to change it or r to reset it."
            )
        empty.display = page.total == 0
        table.display = page.total > 0
        marked = " · all matching marked" if self.all_marked else (f" · {len(self.marks):,} marked" if self.marks else "")
        self.query_one("#info", Static).update(
            f"{page.footer()} · {self.page_size} per page (z){marked}"
        )

    # ----- paging and sorting -------------------------------------------------------------
    def _pages(self) -> int:
        return self.page.pages if self.page else 1

    def action_next_page(self) -> None:
        if self.page_number < self._pages():
            self.reload(self.page_number + 1)

    def action_prev_page(self) -> None:
        if self.page_number > 1:
            self.reload(self.page_number - 1)

    def action_first_page(self) -> None:
        self.reload(1)

    def action_last_page(self) -> None:
        self.reload(self._pages())

    def action_page_size(self) -> None:
        index = PAGE_SIZES.index(self.page_size) if self.page_size in PAGE_SIZES else -1
        first_row = (self.page_number - 1) * self.page_size
        self.page_size = PAGE_SIZES[(index + 1) % len(PAGE_SIZES)]
        self.reload(first_row // self.page_size + 1)

    def action_sort(self) -> None:
        table = self.query_one(CardTable)
        column = list(table.columns)[table.cursor_column].value if table.columns else None
        self._sort_by(column)

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        self._sort_by(event.column_key.value)

    def _sort_by(self, column_key: str | None) -> None:
        sort = SORT_OF_COLUMN.get(column_key or "")
        if sort is None:
            self.notify("this column cannot be sorted (PINs are encrypted)", severity="warning", markup=False)
            return
        current, descending = self.sort
        self.sort = (sort, not descending) if current == sort else (sort, sort in ("created", "activated"))
        self.notify(f"sorted by {sort} {'descending' if self.sort[1] else 'ascending'}", timeout=2, markup=False)
        self.reload(1)

    def action_refresh(self) -> None:
        self.reload()

    # ----- marks --------------------------------------------------------------------------
    def _cursor_card_id(self) -> int | None:
        table = self.query_one(CardTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return int(row_key.value)

    def action_mark(self) -> None:
        card_id = self._cursor_card_id()
        if card_id is None:
            return
        if self.all_marked:
            self.notify("every matching card is marked; x clears the marks first", markup=False)
            return
        self.marks.symmetric_difference_update({card_id})
        table = self.query_one(CardTable)
        self._render_page()
        if table.cursor_row + 1 < table.row_count:
            table.move_cursor(row=table.cursor_row + 1, animate=False)

    def action_mark_page(self) -> None:
        if not self.page or self.all_marked:
            return
        ids = {row.id for row in self.page.rows}
        if ids <= self.marks:
            self.marks -= ids
        else:
            self.marks |= ids
        self._render_page()

    def action_mark_all(self) -> None:
        self.all_marked = not self.all_marked
        self.marks.clear()
        self._render_page()

    def action_clear_marks(self) -> None:
        self.marks.clear()
        self.all_marked = False
        self._render_page()

    def current_scope(self) -> tuple[Scope, str]:
        """The mass-edit scope: the marks, or every card matching the search."""
        from topup_tui.core.edit import Scope

        if self.marks and not self.all_marked:
            return Scope.of_ids(self.marks), f"the {len(self.marks):,} marked cards"
        what = "every card" if self.filter.is_empty else f"every card matching: {self.filter.describe()}"
        return Scope.matching(self.filter), what

    # ----- search and lookup --------------------------------------------------------------
    def action_search(self) -> None:
        from topup_tui.tui.search_screen import SearchScreen

        self.app.push_screen(SearchScreen(self.filter_fields), self._search_done)

    def _search_done(self, result) -> None:
        if result is None:
            return
        self.filter_fields, self.filter = result
        self.action_clear_marks()
        self.reload(1)

    def action_reset_search(self) -> None:
        self.filter_fields, self.filter = {}, CardFilter()
        self.action_clear_marks()
        self.reload(1)

    def show_batch(self, batch_id: int) -> None:
        self.filter_fields, self.filter = {"batch": str(batch_id)}, CardFilter(batch=batch_id)
        self.action_clear_marks()
        self.reload(1)

    def action_lookup(self) -> None:
        from topup_tui.tui.card_screen import LookupScreen

        self.app.push_screen(LookupScreen())

    @on(DataTable.CellSelected)
    def _open_card(self, event: DataTable.CellSelected) -> None:
        from topup_tui.tui.card_screen import CardScreen

        self.app.push_screen(CardScreen(int(event.cell_key.row_key.value)), lambda _: self.reload())

    # ----- generate -----------------------------------------------------------------------
    @property
    def generating(self) -> bool:
        return self.cancel_event is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("generate", "mass_edit", "redeem") and self.generating:
            return None  # shown greyed out: one write at a time while a batch holds the lock
        if action == "cancel_generation" and not self.generating:
            return None
        return True

    def action_generate(self) -> None:
        from topup_tui.tui.generate_screen import GenerateScreen

        if not self.generating:
            self.app.push_screen(GenerateScreen(), self._start_generation)

    async def _start_generation(self, request: GenerateRequest | None) -> None:
        if request is None:
            return
        self.cancel_event = threading.Event()
        self._progress_started = time.monotonic()
        if self.generation_bar is None:  # mounted on first use: a lighter start-up
            from topup_tui.tui.generation_bar import GenerationBar

            self.generation_bar = GenerationBar(id="generation")
            await self.mount(self.generation_bar, before="#info")
        self.generation_bar.show(f"Generating {request.quantity:,} cards…", 0, request.quantity)
        self.refresh_bindings()
        self._generate(request, self.cancel_event)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _generate(self, request: GenerateRequest, cancel: threading.Event) -> BatchResult:
        from topup_tui.core.generate import generate_cards

        return generate_cards(self.app.store, request, progress=self._progress_from_thread, cancel=cancel)

    def _progress_from_thread(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last_progress < 0.1:
            return
        self._last_progress = now
        self.app.call_from_thread(self._show_progress, done, total)

    def _show_progress(self, done: int, total: int) -> None:
        elapsed = max(time.monotonic() - self._progress_started, 1e-6)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0
        if self.generation_bar is not None:
            self.generation_bar.show(f"{done:,}/{total:,} · {rate:,.0f}/s · {left:.0f}s left", done, total)

    def action_cancel_generation(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            if self.generation_bar is not None:
                self.generation_bar.show("Cancelling… (rolling back)")

    def _generation_ended(self) -> None:
        self.cancel_event = None
        if self.generation_bar is not None:
            self.generation_bar.display = False
        self.refresh_bindings()

    def _generation_done(self, result: BatchResult) -> None:
        from topup_tui.tui.generate_screen import GeneratedScreen

        self._generation_ended()
        self.reload()
        self.app.push_screen(GeneratedScreen(result), self._after_generated)

    def _after_generated(self, batch_id: int | None) -> None:
        if batch_id is not None:
            self.show_batch(batch_id)

    def _generation_failed(self, error: BaseException) -> None:
        self._generation_ended()
        if isinstance(error, Cancelled):
            self.notify("generation cancelled; no card was written", severity="warning", markup=False)
        else:
            self.app.show_error(error)

    # ----- people and redemption ----------------------------------------------------------
    def action_redeem(self) -> None:
        from topup_tui.tui.people_screens import RedeemScreen

        self.app.push_screen(RedeemScreen(), lambda _: self.reload())

    def action_clients(self) -> None:
        from topup_tui.tui.people_screens import ClientsScreen

        self.app.push_screen(ClientsScreen(), lambda _: self.reload())

    def action_resellers(self) -> None:
        from topup_tui.tui.people_screens import ResellersScreen

        self.app.push_screen(ResellersScreen(), lambda _: self.reload())

    # ----- mass edit ----------------------------------------------------------------------
    def action_mass_edit(self) -> None:
        from topup_tui.tui.mass_edit_screen import MassEditScreen

        if self.generating:
            return
        try:
            scope, what = self.current_scope()
        except TopupError as exc:
            self.app.show_error(exc)
            return
        self.app.push_screen(MassEditScreen(scope, what), self._mass_edit_done)

    def _mass_edit_done(self, changed: bool | None) -> None:
        if changed:
            self.action_clear_marks()
            self.reload()
