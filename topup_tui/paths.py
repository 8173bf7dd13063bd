"""Where things live by default: the user's data directory (platformdirs), created 0700."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "topup-tui"


def data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing; a directory we create is 0700."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    return path


def default_db_path() -> Path:
    return data_dir() / "topup.db"


def key_file_path() -> Path:
    named = os.environ.get("TOPUP_KEY_FILE")
    return Path(named).expanduser() if named else data_dir() / "topup.key"
