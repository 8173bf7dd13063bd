"""Fixtures of the TUI tests: a demo database and an empty one, each in a temp directory."""

from __future__ import annotations

import pytest

from topup_tui.core.database import open_store
from topup_tui.demo import fill_demo


@pytest.fixture
def demo_store(tmp_path, key_path):
    store = open_store(str(tmp_path / "demo.db"), key_path=key_path, actor="tester")
    fill_demo(store, seed=7)
    yield store
    store.close()


@pytest.fixture
def empty_store(tmp_path, key_path):
    store = open_store(str(tmp_path / "empty.db"), key_path=key_path, actor="tester")
    yield store
    store.close()
