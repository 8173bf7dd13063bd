"""The peewee models. Every model binds to `db`, a proxy initialised by `database.open_database`.

Money is integer minor units (`BigIntegerField`), never DecimalField (a float on SQLite).
Times are UTC epoch seconds in an integer column (`UTCTimeField`): exact, portable between
SQLite and PostgreSQL, cheap to index and compare.
"""

from __future__ import annotations

from datetime import UTC, datetime

import peewee as pw

db = pw.DatabaseProxy()

SCHEMA_VERSION = 1


class UTCTimeField(pw.BigIntegerField):
    """An aware UTC datetime stored as whole epoch seconds."""

    def db_value(self, value):
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return int(value.timestamp())
        return value

    def python_value(self, value):
        if value is None:
            return None
        return datetime.fromtimestamp(int(value), UTC)


class BaseModel(pw.Model):
    class Meta:
        database = db
        legacy_table_names = False


class Meta(BaseModel):
    """Key/value facts about the database itself: schema version, key fingerprint."""

    key = pw.CharField(primary_key=True, max_length=64)
    value = pw.TextField()

    class Meta:
        table_name = "topup_meta"


class Reseller(BaseModel):
    name = pw.CharField(max_length=200, unique=True)
    created_at = UTCTimeField()


class Client(BaseModel):
    name = pw.CharField(max_length=200, unique=True)
    currency = pw.CharField(max_length=3)
    reseller = pw.ForeignKeyField(Reseller, null=True, backref="clients", on_delete="RESTRICT")
    balance = pw.BigIntegerField(default=0)  # minor units of `currency`
    created_at = UTCTimeField()
    locked_until = UTCTimeField(null=True)  # redemption lockout after too many wrong PINs


class Series(BaseModel):
    """The serial counter of a series: numbers are handed out once, never reused."""

    name = pw.CharField(primary_key=True, max_length=12)
    next_number = pw.BigIntegerField()


class Batch(BaseModel):
    """One generation run, with every parameter it was given."""

    created_at = UTCTimeField()
    created_by = pw.CharField(max_length=100)
    series = pw.CharField(max_length=12)
    first_number = pw.BigIntegerField()
    quantity = pw.IntegerField()
    amount = pw.BigIntegerField()
    currency = pw.CharField(max_length=3)
    pin_length = pw.SmallIntegerField()
    reseller = pw.ForeignKeyField(Reseller, null=True, backref="batches", on_delete="RESTRICT")
    expires_at = UTCTimeField()
    allow_weak_pins = pw.BooleanField(default=False)


class Card(BaseModel):
    batch = pw.ForeignKeyField(Batch, backref="cards", on_delete="RESTRICT")
    series = pw.CharField(max_length=12)
    number = pw.BigIntegerField()
    pin_ct = pw.BlobField(unique=True)  # AES-SIV(PIN): deterministic, so it carries the unique index
    pin_length = pw.SmallIntegerField()
    amount = pw.BigIntegerField()
    currency = pw.CharField(max_length=3)
    # Indexed by card_reseller_id_created_at below (a foreign key needs an index led by it).
    reseller = pw.ForeignKeyField(Reseller, null=True, backref="cards", on_delete="RESTRICT", index=False)
    expires_at = UTCTimeField(index=True)
    created_at = UTCTimeField(index=True)
    activated_at = UTCTimeField(null=True)
    activated_by = pw.ForeignKeyField(Client, null=True, backref="cards", on_delete="RESTRICT")

    class Meta:
        # Every filter of the Advanced Search has an index to start from; the derived status has
        # the two partial indexes added below the class. A batch is one reseller, one series and
        # one amount, made at one time: the indexes led by the reseller and by (series, amount)
        # end with created_at, so the newest cards of a company, a series or an amount range are
        # read off them in created order however deep in the table they lie (search.py's
        # anchors), and series + amount is counted from one index. card_amount stays (amount)
        # alone: the amount sort walks it, ties in rowid order.
        indexes = (
            (("series", "number"), True),
            (("amount",), False),
            (("reseller", "created_at"), False),
            (("series", "amount", "created_at"), False),
        )

    @property
    def serial(self) -> str:
        return format_serial(self.series, self.number)

    def status(self, now: datetime) -> str:
        return card_status(self.activated_at, self.expires_at, now)


# The derived status. new / expired: "not activated" and a side of the expiration, answered by an
# index over the unredeemed cards alone; activated_at is one of its columns although it is always
# NULL there, so that SQLite takes the index as covering the condition on it (a COUNT then reads
# the index alone), and so is the amount, so that status + amount is counted from it alone.
# activated (and the activation range): an index over the activated cards alone, which a new card
# does not enter. Neither is an index over every card led by activated_at: that column is NULL for
# most cards, and a planner that knows only the average rows per value (SQLite's ANALYZE without
# STAT4) then takes "activated_at IS NULL" for a selective condition and reads it first, whatever
# else the filter holds.
Card.add_index(
    Card.index(Card.expires_at, Card.activated_at, Card.amount, name="card_unredeemed")
    .where(Card.activated_at.is_null())
)
Card.add_index(Card.index(Card.activated_at, name="card_activated").where(Card.activated_at.is_null(False)))


class AuditEvent(BaseModel):
    at = UTCTimeField(index=True)
    actor = pw.CharField(max_length=100)  # the OS user
    action = pw.CharField(max_length=40)
    target = pw.TextField()  # what: "batch 7", "cards 101-000000001..101-000001000", a filter
    count = pw.BigIntegerField(default=0)
    details = pw.TextField(default="{}")  # JSON; never a PIN

    class Meta:
        indexes = ((("target",), False),)


class CardEvent(BaseModel):
    """Which audit events touched which card, for a card's history (no FK: history outlives cards)."""

    card_id = pw.BigIntegerField()
    event_id = pw.BigIntegerField()

    class Meta:
        primary_key = pw.CompositeKey("card_id", "event_id")


class LedgerEntry(BaseModel):
    """A credit to a client's balance. A card is credited once: the unique card column says so."""

    client = pw.ForeignKeyField(Client, backref="ledger", on_delete="RESTRICT")
    card = pw.ForeignKeyField(Card, unique=True, backref="ledger", on_delete="RESTRICT")
    amount = pw.BigIntegerField()
    currency = pw.CharField(max_length=3)
    at = UTCTimeField()


class RedeemFailure(BaseModel):
    """A failed redemption attempt, counted for the guessing lockout."""

    client = pw.ForeignKeyField(Client, backref="failures", on_delete="CASCADE")
    at = UTCTimeField()
    reason = pw.CharField(max_length=40)

    class Meta:
        indexes = ((("client", "at"), False),)


MODELS = [Meta, Reseller, Client, Series, Batch, Card, AuditEvent, CardEvent, LedgerEntry, RedeemFailure]


def format_serial(series: str, number: int) -> str:
    return f"{series}-{number:09d}"


def card_status(activated_at: datetime | None, expires_at: datetime, now: datetime) -> str:
    """Derived, never stored: activated if redeemed, expired once `now` reaches the expiration."""
    if activated_at is not None:
        return "activated"
    if now >= expires_at:
        return "expired"
    return "new"
