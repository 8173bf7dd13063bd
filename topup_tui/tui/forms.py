"""Small form helpers shared by the dialogs: a labelled row with an error line under it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Static

from topup_tui.tui.text import clean


def field_row(label: str, *widgets: Widget, name: str) -> ComposeResult:
    with Horizontal(classes="field", id=f"row-{name}"):
        yield Label(label, classes="label")
        for widget in widgets:
            yield widget
    error = Static("", classes="error", id=f"err-{name}", markup=False)
    error.display = False
    yield error


def show_errors(screen, errors: dict[str, str], row_of: dict[str, str] | None = None) -> None:
    """Put each message under its field's row; clear the rows without an error."""
    by_row: dict[str, list[str]] = {}
    for field, message in errors.items():
        row = (row_of or {}).get(field, field)
        by_row.setdefault(row, []).append(message if row == field else f"{field.replace('_', ' ')}: {message}")
    for widget in screen.query(".error"):
        name = (widget.id or "").removeprefix("err-")
        messages = by_row.get(name)
        widget.display = bool(messages)
        widget.update(clean("; ".join(messages)) if messages else "")
