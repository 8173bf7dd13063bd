"""The Textual face of topup-tui. Every business rule lives in `topup_tui.core`."""
