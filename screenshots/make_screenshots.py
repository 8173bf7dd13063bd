"""Re-make the README's screenshots from a fresh demo database: `python screenshots/make_screenshots.py`.

Runs the real app headless (Textual's pilot) at 100x30 and saves SVGs beside this script.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZE = (100, 30)


async def settle(pilot) -> None:
    from textual.worker import WorkerFailed

    for _ in range(3):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()


async def main() -> None:
    from topup_tui.core.database import open_store
    from topup_tui.core.models import Card
    from topup_tui.demo import fill_demo
    from topup_tui.tui.app import TopupApp

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(os.path.join(tmp, "demo.db"), key_path=Path(tmp) / "demo.key", actor="operator")
        fill_demo(store, seed=2018)
        app = TopupApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.save_screenshot("main-table.svg", str(HERE))

            await pilot.press("f")
            await settle(pilot)
            from textual.widgets import Input, Select

            app.screen.query_one("#status", Select).value = "new"
            app.screen.query_one("#amount_min", Input).value = "10"
            app.screen.query_one("#expires_to", Input).value = "notadate"
            app.screen.action_search()
            await settle(pilot)
            app.save_screenshot("search-panel.svg", str(HERE))
            await pilot.press("escape")
            await settle(pilot)

            await pilot.press("g")
            await settle(pilot)
            for field, value in {"amount": "15", "quantity": "400000", "series": "2027"}.items():
                app.screen.query_one(f"#{field}", Input).value = value
            app.screen.query_one("#reseller", Select).value = "Reseller 1"
            await settle(pilot)
            app.save_screenshot("generate-dialog.svg", str(HERE))
            app.screen.action_ok()
            for _ in range(500):
                await asyncio.sleep(0.02)
                bars = app.main.query("#gen-bar")
                if bars and (bars.first().progress or 0) > 60_000:
                    break
            await pilot.pause()
            app.save_screenshot("generate-progress.svg", str(HERE))
            app.main.action_cancel_generation()
            await settle(pilot)

            await pilot.press("space", "space", "space")
            await pilot.press("e")
            await settle(pilot)
            app.screen.query_one("#expires_mode", Select).value = "set"
            await pilot.pause()
            app.screen.query_one("#expires", Input).value = "2028-12-31"
            await settle(pilot)
            app.save_screenshot("mass-edit-dialog.svg", str(HERE))
            await pilot.press("escape")
            await settle(pilot)

            card = Card.select().where(Card.activated_at.is_null(False)).first()
            await pilot.press("slash")
            await settle(pilot)
            app.screen.query_one(Input).value = card.serial
            await pilot.press("enter")
            await settle(pilot)
            app.save_screenshot("card-screen.svg", str(HERE))
        store.close()
    print("wrote", ", ".join(sorted(p.name for p in HERE.glob("*.svg"))))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
