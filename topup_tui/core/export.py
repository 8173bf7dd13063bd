"""Exporting a batch for the card printer: the only way full PINs leave in bulk.

The CSV (serial, PIN grouped, amount, currency, expiration) is written to a temporary 0600 file
beside the destination, fsynced, then linked into place, so the destination is either absent or
complete, never half-written, and an existing file is never overwritten. The export is audited.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from topup_tui.core.database import Store
from topup_tui.core.errors import InputError
from topup_tui.core.models import Batch, Card, format_serial
from topup_tui.core.money import format_amount
from topup_tui.core.pins import group_pin
from topup_tui.core.times import format_time

CSV_HEADER = ["serial", "pin", "amount", "currency", "expires"]


def export_batch(store: Store, batch_id: int, path: str | Path, *, progress=None) -> int:
    """Write every card of batch `batch_id` to a new CSV file at `path`; returns the count."""
    dest = Path(path).expanduser()
    batch = Batch.get_or_none(Batch.id == batch_id)
    if batch is None:
        raise InputError("batch", f"no batch {batch_id}")
    if dest.exists():
        raise InputError("export", f"{dest} already exists; choose a new file name")
    if not dest.parent.is_dir():
        raise InputError("export", f"directory {dest.parent} does not exist")
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InputError("export", f"cannot write in {dest.parent}: {exc.strerror}") from None
    count = 0
    try:
        with os.fdopen(fd, "w", newline="", encoding="ascii") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            query = (
                Card.select(Card.series, Card.number, Card.pin_ct, Card.amount, Card.currency, Card.expires_at)
                .where(Card.batch == batch_id)
                .order_by(Card.series, Card.number)
                .tuples()
            )
            decrypt = store.key.decrypt
            for series, number, pin_ct, amount, currency, expires_at in query.iterator():
                writer.writerow([
                    format_serial(series, number), group_pin(decrypt(pin_ct)),
                    format_amount(amount, currency, with_code=False), currency, format_time(expires_at),
                ])
                count += 1
                if progress and count % 10_000 == 0:
                    progress(count, batch.quantity)
            handle.flush()
            os.fsync(handle.fileno())
        with store.write():
            store.audit("export", f"batch {batch_id}", count, path=str(dest.resolve()))
            try:
                os.link(tmp, dest)  # fails if dest exists: never overwrites a file
            except FileExistsError:
                raise InputError("export", f"{dest} already exists; choose a new file name") from None
            except OSError:  # a filesystem without hard links: check, then rename
                if dest.exists():
                    raise InputError("export", f"{dest} already exists; choose a new file name") from None
                os.rename(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return count
