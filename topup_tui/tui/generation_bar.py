"""The bar under the table while a batch is generated: cards done, rate, time left, Cancel.

Its own module, imported on the first generation: start-up does not pay for a progress bar.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Label, ProgressBar


class GenerationBar(Horizontal):
    """Cards done, rate, time left, a progress bar and Cancel, under the table while a batch runs."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._state: tuple[str, int | None, int | None] = ("", None, None)

    def compose(self) -> ComposeResult:
        yield Label("", id="gen-label")
        yield ProgressBar(id="gen-bar", show_eta=False, show_percentage=True)
        yield Button("Cancel", id="gen-cancel", variant="error", compact=True)

    def on_mount(self) -> None:
        self.show(*self._state)

    def show(self, label: str, done: int | None = None, total: int | None = None) -> None:
        self.display = True
        self._state = (label, done if done is not None else self._state[1], total or self._state[2])
        if not self.is_mounted or not self.children:
            return
        self.query_one("#gen-label", Label).update(label)
        if done is not None:
            self.query_one("#gen-bar", ProgressBar).update(total=total or self._state[2], progress=done)

    @property
    def progress(self) -> float:
        return self.query_one("#gen-bar", ProgressBar).progress

    @on(Button.Pressed, "#gen-cancel")
    def _cancel(self) -> None:
        self.screen.action_cancel_generation()
