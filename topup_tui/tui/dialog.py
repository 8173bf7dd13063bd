"""The base of every dialog: a modal screen whose styles load with the first dialog opened."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType]):
    CSS_PATH = "dialogs.tcss"
