"""Opening a database: SQLite (default) or PostgreSQL, checked against its PIN key.

`open_store(target)` is the one way in. It resolves where the data lives, opens the connection
with the pragmas money needs, creates the schema and the key for a new database, and for an
existing one checks the key's fingerprint *before* any card is read or written, then upgrades
an older schema in place (saying so) or refuses a newer one.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import peewee as pw

from topup_tui import paths
from topup_tui.core.errors import DatabaseError, InputError
from topup_tui.core.keys import PinKey, create_key, read_key
from topup_tui.core.models import MODELS, SCHEMA_VERSION, AuditEvent, Meta, db
from topup_tui.core.times import utcnow

BUSY_TIMEOUT_S = 30  # a 1,000,000-card batch holds the SQLite write lock for several seconds

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_S * 1000,
    "synchronous": 2,  # FULL: a committed card survives a power cut
    "cache_size": -32768,  # 32 MiB
    "temp_store": "memory",
}

# Upgrades, keyed by the version they upgrade *from*. Each runs inside the upgrade transaction.
MIGRATIONS: dict[int, Callable[[pw.Database], None]] = {}


@dataclass(frozen=True)
class Target:
    """Where the data lives, parsed from `--db` / `TOPUP_DB`."""

    kind: str  # "sqlite" | "postgresql"
    path: Path | None = None
    dsn: dict = field(default_factory=dict)
    schema: str | None = None
    display: str = ""


def parse_target(text: str | None) -> Target:
    """A file path, `sqlite:///path`, or `postgresql://user@host:port/db[?schema=name]`."""
    raw = (text or os.environ.get("TOPUP_DB") or "").strip()
    if not raw:
        path = paths.default_db_path()
        return Target("sqlite", path=path, display=str(path))
    if raw.startswith("sqlite://"):
        rest = raw[len("sqlite://") :]
        if not rest.startswith("/") or rest == "/":
            raise InputError("db", f"{raw!r}: write sqlite:///relative/path or sqlite:////absolute/path")
        path = Path(unquote(rest[1:])).expanduser()
        return Target("sqlite", path=path, display=str(path))
    if raw.startswith(("postgresql://", "postgres://")):
        url = urlparse(raw)
        dbname = unquote(url.path.lstrip("/"))
        if not dbname:
            raise InputError("db", f"{raw!r}: no database name (postgresql://user@host:5432/DBNAME)")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        schema = query.pop("schema", None)
        dsn = {"database": dbname, "host": url.hostname or "127.0.0.1", "port": url.port or 5432}
        if url.username:
            dsn["user"] = unquote(url.username)
        if url.password:
            dsn["password"] = unquote(url.password)
        dsn.update(query)
        if schema:
            if not schema.replace("_", "").isalnum() or not schema.isascii():
                raise InputError("db", f"schema {schema!r}: letters, digits and _ only")
            dsn["options"] = f"-c search_path={schema}"
        shown = f"postgresql://{url.username + '@' if url.username else ''}{dsn['host']}:{dsn['port']}/{dbname}"
        return Target("postgresql", dsn=dsn, schema=schema, display=shown + (f"?schema={schema}" if schema else ""))
    if "://" in raw:
        raise InputError("db", f"{raw!r}: use a file path, sqlite:///path or postgresql://user@host:port/db")
    path = Path(raw).expanduser()
    return Target("sqlite", path=path, display=str(path))


def current_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): the uid still names someone
        return f"uid:{os.getuid()}"


class Store:
    """An open database with its key and the operator using it. Core functions take one."""

    def __init__(self, database: pw.Database, target: Target, key: PinKey, actor: str) -> None:
        self.database = database
        self.target = target
        self.key = key
        self.actor = actor
        self.notes: list[str] = []  # things the operator must be told (a schema upgrade)

    @property
    def is_sqlite(self) -> bool:
        return self.target.kind == "sqlite"

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction: all of it or none of it. BEGIN IMMEDIATE on SQLite."""
        with translate_db_errors():
            with self.database.atomic():
                yield

    def audit(self, action: str, target: str, count: int = 0, **details) -> AuditEvent:
        """Record an audit event; call it inside the transaction of the change it describes."""
        return AuditEvent.create(**self.audit_values(action, target, count, **details))

    def audit_values(self, action: str, target: str, count: int = 0, **details) -> dict:
        """The columns of an audit event (for a caller that inserts it with its own statement)."""
        return {
            "at": utcnow(), "actor": self.actor, "action": action, "target": target, "count": count,
            "details": json.dumps(details, sort_keys=True, default=str),
        }

    def close(self) -> None:
        if not self.database.is_closed():
            self.database.close()
        if self.is_sqlite:
            _private_sqlite_files(self.target.path)


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn driver failures an operator can act on into one clear line."""
    try:
        yield
    except pw.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise DatabaseError(
                f"the database is busy (another operator is writing) and stayed so for {BUSY_TIMEOUT_S}s; try again"
            ) from None
        if "disk" in text or "full" in text or "readonly" in text:
            raise DatabaseError(f"the database cannot be written: {text}") from None
        raise DatabaseError(f"database error: {text}") from None
    except pw.InterfaceError as exc:
        raise DatabaseError(f"database connection lost: {exc}") from None


def _private_sqlite_files(path: Path | None) -> None:
    if path is None:
        return
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(f"{path}{suffix}")
        try:
            if candidate.exists() and (candidate.stat().st_mode & 0o077):
                os.chmod(candidate, 0o600)
        except OSError:
            pass


def _connect(target: Target) -> pw.Database:
    """Open the connection (creating the SQLite file 0600 if it is not there)."""
    if target.kind == "sqlite":
        path = target.path
        assert path is not None
        if path == paths.default_db_path():
            paths.ensure_private_dir(path.parent)
        elif not path.parent.exists():
            raise InputError("db", f"directory {path.parent} does not exist")
        # Create the file 0600 ourselves; SQLite gives -wal and -shm the main file's mode.
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise DatabaseError(f"cannot open {path}: {exc.strerror}") from None
        _private_sqlite_files(path)
        database = pw.SqliteDatabase(
            str(path), pragmas=SQLITE_PRAGMAS, timeout=BUSY_TIMEOUT_S, lock_type="IMMEDIATE"
        )
    else:
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise DatabaseError(
                "PostgreSQL needs the driver: pip install 'topup-tui[postgres]'"
            ) from None
        dsn = dict(target.dsn)
        database = pw.PostgresqlDatabase(dsn.pop("database"), **dsn)
    try:
        database.connect(reuse_if_open=True)
        if target.kind == "sqlite":
            database.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
    except pw.DatabaseError as exc:
        raise DatabaseError(f"cannot open database {target.display}: {' '.join(str(exc).split())}") from None
    return database


def _has_table(database: pw.Database, name: str, target: Target) -> bool:
    if target.kind == "sqlite":
        row = database.execute_sql("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
    else:
        row = database.execute_sql("SELECT to_regclass(%s)", (name,)).fetchone()
        row = row if row and row[0] else None
    return row is not None


def _user_tables(database: pw.Database, target: Target) -> list[str]:
    if target.kind == "sqlite":
        rows = database.execute_sql("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = database.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return [r[0] for r in rows.fetchall()]


def open_store(
    target_text: str | None = None, *, key_path: Path | None = None, actor: str | None = None, create: bool = True
) -> Store:
    """Open the database named by `target_text`, `TOPUP_DB` or the default.

    With `create=False` a database that does not exist yet is an error rather than a new empty
    one (and a new key): a mistyped `--db` for a read should not leave files behind.
    """
    target = parse_target(target_text)
    key_path = key_path or paths.key_file_path()
    if not create and target.kind == "sqlite" and not (target.path and target.path.exists()):
        raise DatabaseError(f"no database at {target.display} (check --db / TOPUP_DB)")
    database = _connect(target)
    db.initialize(database)
    try:
        store = _open_checked(database, target, key_path, actor or current_actor(), create)
    except BaseException:
        database.close()
        raise
    if store.is_sqlite:
        _private_sqlite_files(target.path)
    return store


def _open_checked(database: pw.Database, target: Target, key_path: Path, actor: str, create: bool) -> Store:
    with translate_db_errors():
        if not _has_table(database, Meta._meta.table_name, target):
            others = _user_tables(database, target)
            if others:
                raise DatabaseError(
                    f"{target.display} is not a topup-tui database (it has tables {', '.join(sorted(others)[:5])})"
                )
            if not create:
                raise DatabaseError(f"{target.display} holds no topup-tui database yet (check --db / TOPUP_DB)")
            return _create_new(database, target, key_path, actor)
        meta = {row.key: row.value for row in Meta.select()}
        needed = meta.get("key_fingerprint")
        if not needed:
            raise DatabaseError(f"{target.display} records no key fingerprint: it is damaged or not topup-tui's")
        try:
            key = read_key(key_path)
        except DatabaseError as exc:
            raise DatabaseError(
                f"{target.display} needs the PIN key {needed}, but {exc}; set TOPUP_KEY_FILE to the key file"
            ) from None
        if key.fingerprint != needed:
            raise DatabaseError(
                f"{target.display} needs the PIN key {needed}, but {key_path} is {key.fingerprint}; "
                "set TOPUP_KEY_FILE to the right key file"
            )
        store = Store(database, target, key, actor)
        version = meta.get("schema_version", "0")
        if not version.isdigit():
            raise DatabaseError(f"{target.display} records schema version {version!r}: it is damaged")
        _upgrade(store, int(version))
        return store


def _create_new(database: pw.Database, target: Target, key_path: Path, actor: str) -> Store:
    # A key already there is shared with this new database (several databases, one operator key);
    # otherwise the new database brings its new key.
    key = read_key(key_path) if key_path.exists() else None
    if key is None:
        if key_path == paths.key_file_path() and key_path.parent == paths.data_dir():
            paths.ensure_private_dir(key_path.parent)
        key = create_key(key_path)
    store = Store(database, target, key, actor)
    with store.write():
        database.create_tables(MODELS)
        Meta.insert_many(
            [
                {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                {"key": "key_fingerprint", "value": key.fingerprint},
                {"key": "created_at", "value": utcnow().isoformat()},
            ]
        ).execute()
        store.audit("create-database", target.display, 0, key_fingerprint=key.fingerprint, key_file=str(key_path))
    return store


def _upgrade(store: Store, version: int) -> None:
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{store.target.display} has schema version {version}, newer than this topup-tui understands "
            f"({SCHEMA_VERSION}); upgrade topup-tui"
        )
    missing = [v for v in range(version, SCHEMA_VERSION) if v not in MIGRATIONS]
    if missing:
        raise DatabaseError(
            f"{store.target.display} has schema version {version}; no upgrade path from version "
            f"{missing[0]} to {SCHEMA_VERSION} exists (was it made by a development build?)"
        )
    with store.write():
        for v in range(version, SCHEMA_VERSION):
            MIGRATIONS[v](store.database)
        Meta.update(value=str(SCHEMA_VERSION)).where(Meta.key == "schema_version").execute()
        store.audit("upgrade-schema", store.target.display, 0, from_version=version, to_version=SCHEMA_VERSION)
    store.notes.append(f"upgraded the database schema from version {version} to {SCHEMA_VERSION}")


__all__ = ["Store", "Target", "open_store", "parse_target", "translate_db_errors"]
