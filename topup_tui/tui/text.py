"""Showing database text literally: no markup, no escape sequences reaching the terminal."""

from __future__ import annotations

from rich.text import Text

STATUS_STYLE = {
    "new": ("●", "green"),
    "activated": ("✔", "dodger_blue2"),
    "expired": ("✖", "red"),
}


def clean(value: object) -> str:
    """A display string with every control character shown as an escape (`\\x1b`), not obeyed."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def literal(value: object, style: str = "") -> Text:
    """A Rich Text that shows `value` exactly: `[bold]x[/]` stays those characters."""
    return Text(clean(value), style=style, no_wrap=True, overflow="ellipsis")


def truncate(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def status_cell(status: str) -> Text:
    symbol, colour = STATUS_STYLE.get(status, ("?", ""))
    return Text(f"{symbol} {status}", style=colour, no_wrap=True)
