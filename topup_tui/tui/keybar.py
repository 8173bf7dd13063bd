"""One-line bars: the key bar: the screen's shown bindings, greyed when `check_action` says not now.

It replaces Textual's Footer on the main screen: the same information, a fraction of the widgets
(the Footer mounts one widget per key, a visible cost on every start-up). Clicking a key runs it.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self._spans: list[tuple[int, int, str, object]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.update_keys())
        self.call_after_refresh(self.update_keys)

    def update_keys(self) -> None:
        text = Text(no_wrap=True, overflow="crop")
        self._spans = []
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            start = len(text)
            key_style = "bold" if active.enabled else "dim"
            text.append(f" {binding.key_display or self.app.get_key_display(binding)} ", style=key_style)
            text.append(f"{binding.description} ", style="" if active.enabled else "dim")
            self._spans.append((start, len(text), binding.action, active.node))
        self.update(text)

    async def on_click(self, event: events.Click) -> None:
        for start, end, action, node in self._spans:
            if start <= event.x < end:
                await self.app.run_action(action, node)
                return


class ActionBar(Static):
    """The section's title and its action buttons as one line: each label runs its action when
    clicked, and is greyed while `check_action` says not now (one widget instead of a Button
    each: start-up cost)."""

    DEFAULT_CSS = """
    ActionBar {
        height: 1;
        background: $panel;
    }
    """

    def __init__(self, title: str, actions: list[tuple[str, str]], **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.title_text = title
        self.actions = actions
        self._spans: list[tuple[int, int, str]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.update_actions())
        self.update_actions()

    def update_actions(self) -> None:
        text = Text(f" {self.title_text} ", style="bold", no_wrap=True, overflow="crop")
        self._spans = []
        for label, action in self.actions:
            enabled = self.screen.check_action(action, ()) is True
            text.append(" ")
            start = len(text)
            text.append(f" {label} ", style="reverse" if enabled else "dim")
            self._spans.append((start, len(text), action))
        self.update(text)

    async def on_click(self, event: events.Click) -> None:
        for start, end, action in self._spans:
            if start <= event.x < end:
                await self.screen.run_action(action)
                return
