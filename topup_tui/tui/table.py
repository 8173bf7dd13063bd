"""The cards table: one page of rows, a mark column, widths fitted to the terminal."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from topup_tui.core.search import CardRow
from topup_tui.core.times import format_time
from topup_tui.tui.text import literal, status_cell, truncate

# (key, label, sort column or None)
COLUMNS = (
    ("mark", " ", None),
    ("status", "Status", "status"),
    ("serial", "Serial Number", "serial"),
    ("amount", "Amount", "amount"),
    ("pin", "PIN Code", None),
    ("reseller", "Reseller", "reseller"),
    ("activated", "Activated", "activated"),
    ("created", "Created on", "created"),
)
SORT_OF_COLUMN = {key: sort for key, _, sort in COLUMNS}


def fit_widths(total: int) -> dict[str, int]:
    """Column widths for a table `total` cells wide (one space between columns).

    Fixed columns keep their size; the PIN shrinks to its last 4 digits and the text columns
    share what is left, so nothing needed is cut off at 80 columns and wide screens show all.
    """
    gaps = len(COLUMNS)
    widths = {"mark": 1, "status": 11, "serial": 13, "amount": 10, "pin": 19}
    flex_ideal = {"reseller": 20, "activated": 34, "created": 24}
    flex_min = {"reseller": 7, "activated": 7, "created": 10}
    room = total - gaps - sum(widths.values())
    if room < sum(flex_min.values()):
        widths["pin"] = 9  # "•••• 3854": the digits an operator reads off a card
        room = total - gaps - sum(widths.values())
    room = max(room, sum(flex_min.values()))
    extra = room - sum(flex_min.values())
    want = {k: flex_ideal[k] - flex_min[k] for k in flex_ideal}
    for key in flex_ideal:
        share = min(want[key], extra * want[key] // max(1, sum(want.values())))
        widths[key] = flex_min[key] + share
    spare = room - sum(widths[k] for k in flex_ideal)
    for key in ("created", "activated", "reseller"):
        grow = min(spare, flex_ideal[key] - widths[key])
        widths[key] += grow
        spare -= grow
    widths["reseller"] += min(max(0, spare), 20)  # past that, empty space reads better than a gap
    return widths


def row_cells(row: CardRow, widths: dict[str, int], marked: bool) -> list[object]:
    pin = row.pin if widths["pin"] >= len(row.pin) else "•••• " + row.pin[-4:]
    if row.activated_at is None:
        activated = "—"
    else:
        stamp = format_time(row.activated_at)
        who = row.activated_by or "?"
        activated = f"{who} {stamp[:16] if len(who) + 17 <= widths['activated'] else stamp[:10]}"
    created = format_time(row.created_at)
    if widths["created"] < len(created):
        created = created[:16] if widths["created"] >= 16 else created[:10]
    return [
        Text("✓" if marked else " ", style="bold yellow"),
        status_cell(row.status),
        row.serial,
        truncate(row.amount_text, widths["amount"]).rjust(widths["amount"]) + " ",
        pin,
        literal(truncate(row.reseller or "—", widths["reseller"])),
        literal(truncate(activated, widths["activated"])),
        created,
    ]


class CardTable(DataTable):
    """DataTable with page keys: PageUp/PageDown turn pages instead of scrolling one."""

    BINDINGS = [
        Binding("pagedown", "screen.next_page", "Next page", show=False),
        Binding("pageup", "screen.prev_page", "Previous page", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="cell", cell_padding=0, zebra_stripes=True, **kwargs)
        self.widths: dict[str, int] = fit_widths(78)

    def setup_columns(self, width: int) -> None:
        self.widths = fit_widths(width)
        self.clear(columns=True)
        for key, label, _ in COLUMNS:
            self.add_column(Text(truncate(label, self.widths[key])), width=self.widths[key] + 1, key=key)

    def show_rows(self, rows: list[CardRow], marked: set[int] | None, all_marked: bool) -> None:
        cursor = self.cursor_coordinate
        self.clear()
        for row in rows:
            is_marked = all_marked or (marked is not None and row.id in marked)
            self.add_row(*row_cells(row, self.widths, is_marked), key=str(row.id))
        if rows:
            self.move_cursor(row=min(cursor.row, len(rows) - 1), column=cursor.column, animate=False)
