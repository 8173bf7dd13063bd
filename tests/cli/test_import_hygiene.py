"""The core is usable without the TUI: importing it never pulls in textual."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import topup_tui.core

CORE_MODULES = sorted(f"topup_tui.core.{m.name}" for m in pkgutil.iter_modules(topup_tui.core.__path__))


def imported_in_a_fresh_interpreter(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_every_core_module_is_found():
    expected = {"database", "errors", "export", "generate", "keys", "models", "money", "pins", "resellers", "times"}
    assert {name.rsplit(".", 1)[1] for name in CORE_MODULES} >= expected


def test_core_does_not_import_textual():
    loaded = imported_in_a_fresh_interpreter(CORE_MODULES)
    assert set(CORE_MODULES) <= loaded
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}


def test_cli_module_imports():
    # The CLI may start the TUI, so it may import textual; it must import cleanly on its own.
    loaded = imported_in_a_fresh_interpreter(["topup_tui.cli", "topup_tui.cli_commands", "topup_tui.__main__"])
    assert {"topup_tui.cli", "topup_tui.cli_commands", "topup_tui.core.generate"} <= loaded
