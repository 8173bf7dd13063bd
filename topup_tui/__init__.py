"""topup-tui: manage prepaid top-up cards from the terminal."""

__version__ = "0.1.0"
