"""Opening a database: key file, file modes, wrong/missing key, schema versions, SQLite pragmas."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.conftest import NOW
from topup_tui import paths
from topup_tui.core import database as database_mod
from topup_tui.core import models
from topup_tui.core.database import open_store
from topup_tui.core.errors import DatabaseError
from topup_tui.core.keys import create_key, read_key
from topup_tui.core.models import AuditEvent, Meta
from topup_tui.core.resellers import add_reseller


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """Run with umask 0, so a file is private only because the code made it so."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_new_database_creates_a_private_key_file(db_url, key_path, open_umask):
    assert not key_path.exists()
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        assert key_path.exists()
        assert mode(key_path) == 0o600
        assert read_key(key_path).fingerprint == store.key.fingerprint
        meta = {m.key: m.value for m in Meta.select()}
        assert meta["key_fingerprint"] == store.key.fingerprint
        assert meta["schema_version"] == str(models.SCHEMA_VERSION)
        created = AuditEvent.get(AuditEvent.action == "create-database")
        assert created.actor == "tester"
        assert str(key_path) in created.details
    finally:
        store.close()


def test_default_location_is_a_private_data_dir(isolated_env, monkeypatch, open_umask):
    monkeypatch.delenv("TOPUP_KEY_FILE")
    data = Path(os.environ["XDG_DATA_HOME"]) / paths.APP_NAME
    assert paths.data_dir() == data
    assert not data.exists()
    store = open_store(None, actor="tester")
    try:
        assert store.target.path == data / "topup.db"
        assert store.key.path == data / "topup.key"
        assert mode(data) == 0o700
        assert mode(data / "topup.db") == 0o600
        assert mode(data / "topup.key") == 0o600
    finally:
        store.close()


def test_topup_db_env_names_the_database(tmp_path, key_path, monkeypatch):
    target = tmp_path / "from-env.db"
    monkeypatch.setenv("TOPUP_DB", str(target))
    store = open_store(None, key_path=key_path, actor="tester")
    try:
        assert store.target.path == target
        assert target.exists()
    finally:
        store.close()


def test_sqlite_files_are_private_after_writes(tmp_path, key_path, open_umask):
    path = tmp_path / "topup.db"
    store = open_store(str(path), key_path=key_path, actor="tester")
    try:
        for i in range(5):
            add_reseller(store, f"Reseller {i}")
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists() and wal.stat().st_size > 0
        assert shm.exists()
        for candidate in (path, wal, shm):
            assert mode(candidate) == 0o600, candidate
    finally:
        store.close()
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists():
            assert mode(candidate) == 0o600, candidate


def test_wrong_key_is_refused_naming_both_fingerprints(db_url, key_path, tmp_path):
    store = open_store(db_url, key_path=key_path, actor="tester")
    needed = store.key.fingerprint
    add_reseller(store, "Acme")
    store.close()
    other_path = tmp_path / "other.key"
    other = create_key(other_path)
    assert other.fingerprint != needed
    with pytest.raises(DatabaseError) as info:
        open_store(db_url, key_path=other_path, actor="tester")
    message = str(info.value)
    assert needed in message
    assert other.fingerprint in message
    assert str(other_path) in message
    assert "TOPUP_KEY_FILE" in message
    assert "\n" not in message
    # the right key still opens it, untouched
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        assert [r.name for r in models.Reseller.select()] == ["Acme"]
    finally:
        store.close()


def test_missing_key_is_refused_and_no_key_is_created(db_url, key_path, tmp_path):
    store = open_store(db_url, key_path=key_path, actor="tester")
    needed = store.key.fingerprint
    store.close()
    missing = tmp_path / "nowhere" / "topup.key"
    with pytest.raises(DatabaseError) as info:
        open_store(db_url, key_path=missing, actor="tester")
    message = str(info.value)
    assert needed in message
    assert str(missing) in message
    assert not missing.exists()
    assert not missing.parent.exists()
    assert read_key(key_path).fingerprint == needed  # the real key is untouched


def test_missing_default_key_is_not_created(isolated_env, monkeypatch, tmp_path):
    """With TOPUP_KEY_FILE unset, the default key location is reported and left alone."""
    db = tmp_path / "topup.db"
    store = open_store(str(db), key_path=tmp_path / "k.key", actor="tester")
    store.close()
    monkeypatch.delenv("TOPUP_KEY_FILE")
    default_key = paths.data_dir() / "topup.key"
    with pytest.raises(DatabaseError) as info:
        open_store(str(db), actor="tester")
    assert str(default_key) in str(info.value)
    assert not default_key.exists()


def _set_schema_version(db_url, key_path, version: int) -> None:
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        with store.write():
            Meta.update(value=str(version)).where(Meta.key == "schema_version").execute()
    finally:
        store.close()


def _schema_version(db_url, key_path) -> str:
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        return Meta.get(Meta.key == "schema_version").value
    finally:
        store.close()


def test_newer_schema_is_refused(db_url, key_path):
    newer = models.SCHEMA_VERSION + 1
    _set_schema_version(db_url, key_path, newer)
    with pytest.raises(DatabaseError) as info:
        open_store(db_url, key_path=key_path, actor="tester")
    message = str(info.value)
    assert f"schema version {newer}" in message
    assert "newer" in message
    assert "upgrade topup-tui" in message


def test_older_schema_with_a_migration_is_upgraded(db_url, key_path, monkeypatch):
    old = models.SCHEMA_VERSION
    calls = []

    def migrate(database):
        calls.append(database)
        database.execute_sql("CREATE TABLE migrated_marker (id INTEGER PRIMARY KEY)")

    monkeypatch.setattr(models, "SCHEMA_VERSION", old + 1)
    monkeypatch.setattr(database_mod, "SCHEMA_VERSION", old + 1)
    monkeypatch.setattr(database_mod, "MIGRATIONS", {old: migrate})
    _set_schema_version(db_url, key_path, old)  # opening a new database writes the patched version
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        assert len(calls) == 1
        assert store.notes == [f"upgraded the database schema from version {old} to {old + 1}"]
        assert Meta.get(Meta.key == "schema_version").value == str(old + 1)
        event = AuditEvent.get(AuditEvent.action == "upgrade-schema")
        assert f'"from_version": {old}' in event.details
        store.database.execute_sql("SELECT count(*) FROM migrated_marker")
    finally:
        store.close()
    # opening again: nothing more to do
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        assert store.notes == []
        assert len(calls) == 1
    finally:
        store.close()


def test_failing_migration_leaves_the_database_as_it_was(db_url, key_path, monkeypatch):
    old = models.SCHEMA_VERSION

    def migrate(database):
        database.execute_sql("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(models, "SCHEMA_VERSION", old + 1)
    monkeypatch.setattr(database_mod, "SCHEMA_VERSION", old + 1)
    monkeypatch.setattr(database_mod, "MIGRATIONS", {old: migrate})
    _set_schema_version(db_url, key_path, old)
    with pytest.raises(RuntimeError):
        open_store(db_url, key_path=key_path, actor="tester")
    monkeypatch.setattr(database_mod, "MIGRATIONS", {old: lambda database: None})
    monkeypatch.setattr(models, "SCHEMA_VERSION", old)
    monkeypatch.setattr(database_mod, "SCHEMA_VERSION", old)
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        assert Meta.get(Meta.key == "schema_version").value == str(old)
        assert "half_done" not in store.database.get_tables()
    finally:
        store.close()


def test_missing_migration_path_is_refused(db_url, key_path, monkeypatch):
    old = models.SCHEMA_VERSION
    calls = []
    monkeypatch.setattr(models, "SCHEMA_VERSION", old + 2)
    monkeypatch.setattr(database_mod, "SCHEMA_VERSION", old + 2)
    monkeypatch.setattr(database_mod, "MIGRATIONS", {old: calls.append})  # old+1 -> old+2 is missing
    _set_schema_version(db_url, key_path, old)
    with pytest.raises(DatabaseError) as info:
        open_store(db_url, key_path=key_path, actor="tester")
    message = str(info.value)
    assert f"schema version {old}" in message
    assert f"no upgrade path from version {old + 1} to {old + 2}" in message
    assert calls == []  # nothing was run before refusing
    monkeypatch.setattr(database_mod, "MIGRATIONS", {})
    monkeypatch.setattr(models, "SCHEMA_VERSION", old)
    monkeypatch.setattr(database_mod, "SCHEMA_VERSION", old)
    assert _schema_version(db_url, key_path) == str(old)


def test_foreign_tables_are_not_taken_over(tmp_path, key_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseError, match="not a topup-tui database"):
        open_store(str(path), key_path=key_path, actor="tester")
    assert not key_path.exists()


def test_sqlite_pragmas_in_effect(tmp_path, key_path):
    store = open_store(str(tmp_path / "topup.db"), key_path=key_path, actor="tester")
    try:
        pragma = lambda name: store.database.execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == 2
        assert pragma("busy_timeout") > 0
    finally:
        store.close()


def test_write_transaction_takes_the_write_lock_at_begin(tmp_path, key_path):
    """store.write() is BEGIN IMMEDIATE: the lock is held before the first statement."""
    path = tmp_path / "topup.db"
    store = open_store(str(path), key_path=key_path, actor="tester")
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        with store.write():
            # nothing written yet: a DEFERRED transaction would hold no lock at this point
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
    finally:
        other.close()
        store.close()


def test_foreign_keys_are_enforced(db_url, key_path):
    import peewee as pw

    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        with pytest.raises(pw.IntegrityError):
            with store.database.atomic():
                models.Client.create(name="c", currency="USD", reseller=424242, created_at=NOW)
    finally:
        store.close()
