"""Finding cards: a page of the table, streaming every match, and the paste-anything lookup.

Paging happens in SQL: one COUNT, then the ids of the page with LIMIT/OFFSET (reversed for the
back half of a long result, so the last page costs what the first does), then those rows with
their reseller and client. PINs come back masked but for their last 4 digits unless the caller
asks to reveal; every reveal is audited.

Finding the page's ids takes one of two roads, chosen with the COUNT in hand (see `_page_ids`):
walk the sort order's index and keep the matching cards (cheap when matches are dense near the
top of the order), or let the filter's index find every match and sort them (cheap when they
are few). A planner without data statistics (SQLite's default build) cannot tell the two apart.
In created order, a filter on a company, a series or an amount walks only the cards it can
match, through the indexes that end with created_at (the "anchors"), so a batch deep in the
table is found as fast as the newest one.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import peewee as pw

from topup_tui.core.errors import InputError
from topup_tui.core.filters import CardFilter, parse_serial
from topup_tui.core.models import AuditEvent, Batch, Card, CardEvent, Client, Reseller, card_status, format_serial
from topup_tui.core.money import format_amount
from topup_tui.core.pins import group_pin, mask_pin, normalize_pin
from topup_tui.core.times import format_time, to_utc, utcnow

DEFAULT_PAGE_SIZE = 20
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 10, 500

ClientAlias = Client.alias("activator")

# Sortable columns: name -> the expressions to order by (the card id always breaks ties).
SORT_COLUMNS = ("status", "serial", "amount", "reseller", "activated", "created", "expires")
DEFAULT_SORT = ("created", True)


@dataclass(frozen=True)
class CardRow:
    id: int
    status: str
    serial: str
    amount: int
    currency: str
    pin: str  # grouped; masked unless revealed
    reseller: str | None
    activated_by: str | None
    activated_at: datetime | None
    created_at: datetime
    expires_at: datetime
    batch_id: int

    @property
    def amount_text(self) -> str:
        return format_amount(self.amount, self.currency)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "status": self.status, "serial": self.serial,
            "amount": format_amount(self.amount, self.currency, with_code=False), "currency": self.currency,
            "pin": self.pin, "reseller": self.reseller, "activated_by": self.activated_by,
            "activated_at": format_time(self.activated_at, empty="") or None,
            "created_at": format_time(self.created_at), "expires_at": format_time(self.expires_at),
            "batch": self.batch_id,
        }


@dataclass(frozen=True)
class Page:
    rows: list[CardRow]
    total: int
    page: int
    page_size: int
    elapsed: float  # seconds the page and count queries took

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first_row(self) -> int:
        return 0 if not self.rows else (self.page - 1) * self.page_size + 1

    @property
    def last_row(self) -> int:
        return 0 if not self.rows else self.first_row + len(self.rows) - 1

    def footer(self) -> str:
        """`Rows 1 – 20 of 1,204 · Page 1 of 61 · 0.004s`, like the reference."""
        return (
            f"Rows {self.first_row:,} – {self.last_row:,} of {self.total:,} · "
            f"Page {self.page:,} of {self.pages:,} · {self.elapsed:.3f}s"
        )


def parse_sort(text: str | None) -> tuple[str, bool]:
    """`created`, `amount:desc`, `serial:asc` -> (column, descending)."""
    if not text:
        return DEFAULT_SORT
    column, _, direction = text.strip().lower().partition(":")
    if column not in SORT_COLUMNS:
        raise InputError("sort", f"{column!r}: sort by one of {', '.join(SORT_COLUMNS)}")
    if direction not in ("", "asc", "desc"):
        raise InputError("sort", f"{direction!r}: write COLUMN, COLUMN:asc or COLUMN:desc")
    return column, direction == "desc"


def check_page_size(value: int | str, field: str = "page_size") -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not MIN_PAGE_SIZE <= int(text) <= MAX_PAGE_SIZE:
        raise InputError(field, f"{text!r}: a page holds {MIN_PAGE_SIZE}..{MAX_PAGE_SIZE} rows")
    return int(text)


def check_page(value: int | str, field: str = "page") -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InputError(field, f"{text!r} is not a page number (1, 2, ...)")
    return int(text)


def _order(column: str, descending: bool, now: datetime, flipped: bool = False) -> list[pw.Ordering]:
    """ORDER BY keys for a sort column; `flipped` is the exact reverse (for the back-half read)."""
    if column == "status":
        rank = pw.Case(None, [(Card.activated_at.is_null(False), 1), (Card.expires_at <= now, 2)], 0)
        keys = [rank]
    elif column == "serial":
        keys = [Card.series, Card.number]
    elif column == "amount":
        keys = [Card.amount]
    elif column == "reseller":
        keys = [Reseller.name]
    elif column == "activated":
        keys = [Card.activated_at]
    elif column == "expires":
        keys = [Card.expires_at]
    else:
        keys = [Card.created_at]
    keys.append(Card.id)
    # Cards with no reseller or not activated ("—") come last either way, on every backend
    # (SQLite would put NULLs first ascending, PostgreSQL first descending).
    nulls = ("FIRST" if flipped else "LAST") if column in ("reseller", "activated") else None
    return [k.desc(nulls=nulls) if descending else k.asc(nulls=nulls) for k in keys]


def _select(where: pw.Expression) -> pw.ModelSelect:
    return (
        Card.select(
            Card.id, Card.series, Card.number, Card.pin_ct, Card.amount, Card.currency, Reseller.name,
            ClientAlias.name, Card.activated_at, Card.created_at, Card.expires_at, Card.batch,
        )
        .join(Reseller, pw.JOIN.LEFT_OUTER, on=(Card.reseller == Reseller.id))
        .switch(Card)
        .join(ClientAlias, pw.JOIN.LEFT_OUTER, on=(Card.activated_by == ClientAlias.id))
        .where(where)
        .tuples()
    )


# Sorts whose order an index walks, ties broken by the id: card_created_at, card_amount,
# card_series_number, card_expires_at (an SQLite index entry ends with the rowid).
_WALKABLE_SORTS = ("created", "amount", "serial", "expires")
PROBE_FIRST = 1_000  # rows of the sort order a first probe reads (at least PROBE_GROWTH pages' worth)
PROBE_GROWTH = 4  # each probe reads this many times the rows of the one before
PROBE_BUDGET = 0.5  # probes read at most this share of the match count, then the filter's index is used

# Anchors: the columns that lead an index ending with created_at (models.py). When a filter bounds
# one of them (an equality or a range), its matches are among the cards of a few value tuples of
# the anchor's columns, its "groups" (series + amount: the amounts of the series; an amount range:
# the series having such amounts), found by one index seek each. Each group's cards are in created
# order in the index, so the created order of all of them is a merge of one index walk per group:
# the probes read that instead of the whole table's created order, and a company, a series or an
# amount whose cards lie deep in the table is found at once.
_ANCHORS = ((Card.reseller,), (Card.series, Card.amount))
MAX_GROUPS = 16  # more groups than this: no anchor (a merge of that many walks, and as many seeks)
_anchors_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # database -> its usable anchors


def _usable_anchors(store) -> list[tuple[pw.Field, ...]]:
    """The anchors whose index the database has: one created before those indexes were added
    lacks them, and there a group's walk would sort the whole group (so it does without)."""
    database = store.database
    if database not in _anchors_of:
        indexes = {tuple(index.columns) for index in database.get_indexes(Card._meta.table_name)}
        _anchors_of[database] = [
            anchor for anchor in _ANCHORS
            if (*(col.column_name for col in anchor), Card.created_at.column_name) in indexes
        ]
    return _anchors_of[database]


def _bounds(where: pw.Node) -> dict[str, tuple[object, object]]:
    """{card field name: (low, high)} for the conditions `where` ANDs (None: unbounded that side).

    Only column-versus-value comparisons joined by AND are read; anything else is left out, so
    the bounds hold for every match (they may be looser than the filter, never tighter).
    """
    out: dict[str, tuple[object, object]] = {}

    def visit(node: pw.Node) -> None:
        if not isinstance(node, pw.Expression):
            return
        if node.op == pw.OP.AND:
            visit(node.lhs)
            visit(node.rhs)
            return
        lhs, rhs = node.lhs, node.rhs
        if not (isinstance(lhs, pw.Field) and lhs.model is Card) or rhs is None or isinstance(rhs, pw.Node):
            return
        if node.op not in (pw.OP.EQ, pw.OP.GTE, pw.OP.GT, pw.OP.LTE, pw.OP.LT):
            return
        low, high = out.get(lhs.name, (None, None))
        if node.op in (pw.OP.EQ, pw.OP.GTE, pw.OP.GT):
            low = rhs if low is None else max(low, rhs)
        if node.op in (pw.OP.EQ, pw.OP.LTE, pw.OP.LT):
            high = rhs if high is None else min(high, rhs)
        out[lhs.name] = (low, high)

    visit(where)
    return out


def _groups(store, anchor: tuple[pw.Field, ...], bounds: dict) -> list[tuple] | None:
    """The value tuples of `anchor`'s columns within `bounds` that some card has (an equality is
    taken as is), each found by one seek on the anchor's index; None past MAX_GROUPS."""
    prefixes: list[tuple] = [()]
    for col in anchor:
        low, high = bounds.get(col.name, (None, None))
        found: list[tuple] = []
        for prefix in prefixes:
            if low is not None and low == high:
                found.append((*prefix, low))
                continue
            value, strict = low, False
            while (value := _seek(store, anchor[:len(prefix)], prefix, col, value, strict, high)) is not None:
                found.append((*prefix, value))
                if len(found) > MAX_GROUPS:
                    return None
                strict = True
        prefixes = found
    return prefixes


def _seek(store, columns: tuple, prefix: tuple, col: pw.Field, low, strict: bool, high):
    """The first value of `col` past `low` (None: from the start) up to `high` among the cards whose
    `columns` hold `prefix`: one step along the index (*columns, col, ...)."""
    if store.is_sqlite or not prefix:
        conds = [c == v for c, v in zip(columns, prefix)]
        if low is not None:
            conds.append(col > low if strict else col >= low)
        if high is not None:
            conds.append(col <= high)
    else:
        # PostgreSQL takes a column held equal to a value for a constant, and may then walk an
        # index ordered by `col` alone (card_amount), filtering the prefix, for a long time when
        # the two are correlated. A row comparison is answered by the anchor's index alone.
        head, row = pw.Tuple(*columns), pw.Tuple(*columns, col)
        start, end = pw.Tuple(*prefix, low), pw.Tuple(*prefix, high)
        conds = [
            head >= pw.Tuple(*prefix) if low is None else (row > start if strict else row >= start),
            head <= pw.Tuple(*prefix) if high is None else row <= end,
        ]
    query = Card.select(col).order_by(*columns, col).limit(1)
    return (query.where(*conds) if conds else query).scalar()


def _anchor_groups(store, column: str, bounds: dict) -> tuple[tuple[pw.Field, ...], list[tuple]]:
    """The filter's anchor and its groups for a sort by `column`, or ((), []) when it has none."""
    if column != "created":
        return (), []
    for anchor in _usable_anchors(store):
        if any(col.name in bounds for col in anchor):
            groups = _groups(store, anchor, bounds)
            return (anchor, groups) if groups else ((), [])
    return (), []


def _window(order: list[pw.Ordering], bounds: dict, anchor: tuple, groups: list[tuple], k: int) -> pw.SelectQuery:
    """The ids of the first `k` cards of the sort order among a superset of the matches: the
    cards of the anchor's groups if any (else every card), within the bounds the filter puts on
    the sort's own columns."""
    w = Card.alias("w")
    keys = [getattr(w, key.node.name) for key in order]  # the id is last
    limits = []
    for key in keys[:-1]:
        low, high = bounds.get(key.name, (None, None))
        if low is not None:
            limits.append(key >= low)
        if high is not None:
            limits.append(key <= high)
    arms = []
    for group in groups or [()]:
        conds = limits + [getattr(w, col.name) == value for col, value in zip(anchor, group)]
        arm = w.select(w.id, *keys[:-1]) if len(groups) > 1 else w.select(w.id)
        arms.append(arm.where(*conds) if conds else arm)
    if len(arms) == 1:
        return arms[0].order_by(*[pw.Ordering(key, o.direction) for key, o in zip(keys, order)]).limit(k)
    # UNION ALL ordered as a whole (by position: the id first, then the other keys): a merge of
    # the groups' index walks that stops after k rows.
    merged = arms[0]
    for arm in arms[1:]:
        merged = merged + arm
    positions = [*range(2, len(keys) + 1), 1]
    return merged.order_by(*[pw.Ordering(pw.SQL(str(i)), o.direction) for i, o in zip(positions, order)]).limit(k)


def _page_ids(store, where, column: str, descending: bool, now: datetime, limit: int, offset: int, total: int,
              filtered: bool, flipped: bool = False) -> list[int]:
    """The ids of cards `offset .. offset + limit` of the matches of `where`, in sort order.

    With many matches, the page is first looked for among the top K cards of the sort order (K
    growing by PROBE_GROWTH): an index walk of K rows that finds the page at once when matches
    are dense there, whatever the filter's index would have to read. When the first probe falls
    short and the filter has an anchor (see _ANCHORS), the next ones walk the created order of
    the anchor's groups only, where the matches are denser. The probes stop once they have read
    PROBE_BUDGET of the match count; the filter's index then finds every match and they are
    sorted, which costs about the match count. Every road gives the same ids.
    """
    order = _order(column, descending, now, flipped)
    wanted = min(limit, max(0, total - offset))
    if filtered and column in _WALKABLE_SORTS and total > PROBE_FIRST:
        bounds = _bounds(where)
        anchor, groups, anchored = (), [], False
        k, spent = max(PROBE_FIRST, PROBE_GROWTH * (offset + limit)), 0
        while spent + k <= total * PROBE_BUDGET:
            window = _window(order, bounds, anchor, groups, k).alias("window")
            query = (
                Card.select(Card.id)
                .from_(pw.Join(window, Card, pw.JOIN.CROSS))
                .where((Card.id == window.c.id) & where)
                .order_by(*order).limit(limit).offset(offset).tuples()
            )
            ids = [cid for (cid,) in query]
            if len(ids) >= wanted:
                return ids
            spent += k
            if not anchored:  # the top of the whole order fell short: look among the anchor's groups
                anchored = True
                anchor, groups = _anchor_groups(store, column, bounds)
                if groups:
                    continue  # a window of the same size, among them
            k *= PROBE_GROWTH
    if filtered and store.is_sqlite:
        # The filter's index, then a sort: SQLite would otherwise walk the sort order's index when
        # it guesses the filter is loose (a range, or IS NULL) -- the walk the probes found long.
        # A unary + (a no-op on any value) keeps a sort key from being read off an index.
        order = [_unindexed(key) for key in order]
    query = Card.select(Card.id)
    if column == "reseller":
        query = query.join(Reseller, pw.JOIN.LEFT_OUTER, on=(Card.reseller == Reseller.id))
    query = query.where(where).order_by(*order).limit(limit).offset(offset).tuples()
    return [cid for (cid,) in query]


def _unindexed(key: pw.Ordering) -> pw.Ordering:
    if isinstance(key.node, pw.Field):
        return pw.Ordering(pw.NodeList((pw.SQL("+"), key.node), glue=""), key.direction, nulls=key.nulls)
    return key


def _page(store, where, column: str, descending: bool, now: datetime, limit: int, offset: int, total: int,
          filtered: bool, flipped: bool = False) -> list[tuple]:
    """The rows of a page: its ids first (few columns, no join), then those cards with their names."""
    if total == 0:
        return []
    ids = _page_ids(store, where, column, descending, now, limit, offset, total, filtered, flipped)
    if not ids:
        return []
    return list(_select(Card.id.in_(ids)).order_by(*_order(column, descending, now, flipped)))


def _rows(store, tuples, now: datetime, reveal: bool) -> list[CardRow]:
    decrypt = store.key.decrypt
    out = []
    for (cid, series, number, pin_ct, amount, currency, reseller, client,
         activated_at, created_at, expires_at, batch_id) in tuples:
        pin = decrypt(pin_ct)
        out.append(CardRow(
            cid, card_status(activated_at, expires_at, now), format_serial(series, number), amount, currency,
            group_pin(pin) if reveal else mask_pin(pin), reseller, client, activated_at, created_at,
            expires_at, batch_id,
        ))
    return out


def search_cards(
    store,
    flt: CardFilter | None = None,
    *,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    sort: tuple[str, bool] = DEFAULT_SORT,
    reveal: bool = False,
    now: datetime | None = None,
) -> Page:
    """One page of the cards matching `flt`, with the total count and the time it took.

    A page past the end is clamped to the last page. `reveal=True` shows full PINs and writes
    an audit event naming the cards revealed.
    """
    now = to_utc(now or utcnow())
    flt = flt or CardFilter()
    page_size = check_page_size(page_size)
    started = time.perf_counter()
    where = flt.where(store, now)
    filtered = not flt.is_empty
    count = Card.select(pw.fn.COUNT(pw.SQL("*")))
    total = (count.where(where) if filtered else count).scalar() or 0  # no WHERE: SQLite's fast count
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    offset = (page - 1) * page_size
    column, descending = sort
    if offset > total // 2:
        # Read the back half from the other end: OFFSET then stays below total / 2.
        limit = min(page_size, total - offset)
        back = max(0, total - offset - limit)
        tuples = _page(store, where, column, not descending, now, limit, back, total, filtered, flipped=True)
        tuples.reverse()
    else:
        tuples = _page(store, where, column, descending, now, page_size, offset, total, filtered)
    rows = _rows(store, tuples, now, reveal)
    elapsed = time.perf_counter() - started
    if reveal and rows:
        audit_reveal(store, rows)
    return Page(rows, total, page, page_size, elapsed)


def iter_cards(store, flt: CardFilter | None = None, *, sort=DEFAULT_SORT, reveal=False, now=None,
               chunk: int = 2_000) -> Iterator[CardRow]:
    """Every matching card, in order, in constant memory (for exports). Reveals are audited per chunk."""
    now = to_utc(now or utcnow())
    where = (flt or CardFilter()).where(store, now)
    query = _select(where).order_by(*_order(sort[0], sort[1], now))
    buffer: list[tuple] = []
    for tup in query.iterator():
        buffer.append(tup)
        if len(buffer) >= chunk:
            yield from _flush(store, buffer, now, reveal)
            buffer = []
    if buffer:
        yield from _flush(store, buffer, now, reveal)


def _flush(store, buffer, now, reveal) -> list[CardRow]:
    rows = _rows(store, buffer, now, reveal)
    if reveal:
        audit_reveal(store, rows)
    return rows


def audit_reveal(store, rows: list[CardRow]) -> None:
    """One audit event for a reveal of full PINs, linked to every card revealed."""
    with store.write():
        event = store.audit("reveal-pins", f"{len(rows)} cards", len(rows), serials=[r.serial for r in rows])
        CardEvent.insert_many([(r.id, event.id) for r in rows], fields=[CardEvent.card_id, CardEvent.event_id]) \
            .on_conflict_ignore().execute()


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    target: str
    count: int
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CardDetail:
    card: CardRow
    batch: dict
    history: list[HistoryEntry]
    matched_by: str  # "serial" | "pin"

    def as_dict(self) -> dict[str, object]:
        out = self.card.as_dict()
        out["matched_by"] = self.matched_by
        out["batch"] = self.batch
        out["history"] = [
            {"at": format_time(h.at), "actor": h.actor, "action": h.action, "target": h.target, "count": h.count,
             "details": h.details}
            for h in self.history
        ]
        return out


def lookup(store, text: str, *, reveal: bool = False, now: datetime | None = None) -> list[CardDetail]:
    """Whatever an operator pasted, serial (`101-42`) or PIN (spaced, dashed or bare): the cards it names.

    Both readings are tried, so it does not matter which one was meant; an input that is
    neither a serial nor a PIN is bad input. Usually one card, none when there is no such card.
    """
    now = to_utc(now or utcnow())
    raw = (text or "").strip()
    conds: list[tuple[str, pw.Expression]] = []
    errors = []
    try:
        series, number = parse_serial(raw)
        conds.append(("serial", (Card.series == series) & (Card.number == number)))
    except InputError as exc:
        errors.append(exc.message)
    try:
        pin = normalize_pin(raw)
        conds.append(("pin", Card.pin_ct == store.key.encrypt(pin)))
    except InputError:
        pass
    if not conds:
        raise InputError("lookup", f"{raw!r} is neither a serial number (101-000000042) nor a PIN (5-32 digits)")
    found: list[CardDetail] = []
    seen: set[int] = set()
    for how, cond in conds:
        for row in _rows(store, list(_select(cond)), now, reveal):
            if row.id not in seen:
                seen.add(row.id)
                found.append(CardDetail(row, _batch_info(row.batch_id), card_history(row.id, row.batch_id), how))
    if reveal and found:
        audit_reveal(store, [d.card for d in found])
    return found


def _batch_info(batch_id: int) -> dict:
    batch = Batch.get_by_id(batch_id)
    return {
        "id": batch.id, "created_at": format_time(batch.created_at), "created_by": batch.created_by,
        "series": batch.series, "first_serial": format_serial(batch.series, batch.first_number),
        "last_serial": format_serial(batch.series, batch.first_number + batch.quantity - 1),
        "quantity": batch.quantity, "pin_length": batch.pin_length,
        "amount": format_amount(batch.amount, batch.currency), "expires_at": format_time(batch.expires_at),
        "allow_weak_pins": bool(batch.allow_weak_pins),
    }


def card_history(card_id: int, batch_id: int) -> list[HistoryEntry]:
    """The card's history, oldest first: the events of its batch, the events about the card alone
    (a redemption: target "card N"), and the events linked to it (reveals, mass edits)."""
    linked = CardEvent.select(CardEvent.event_id).where(CardEvent.card_id == card_id)
    query = (
        AuditEvent.select()
        .where(AuditEvent.target.in_([f"batch {batch_id}", f"card {card_id}"]) | AuditEvent.id.in_(linked))
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    out = []
    for ev in query:
        try:
            details = json.loads(ev.details or "{}")
        except ValueError:
            details = {}
        out.append(HistoryEntry(ev.at, ev.actor, ev.action, ev.target, ev.count, details))
    return out


def card_detail(store, card_id: int, *, reveal: bool = False, now: datetime | None = None) -> CardDetail | None:
    """One card by id, with its batch and history (the card screen). A reveal is audited."""
    now = to_utc(now or utcnow())
    rows = _rows(store, list(_select(Card.id == card_id)), now, reveal)
    if not rows:
        return None
    if reveal:
        audit_reveal(store, rows)
    row = rows[0]
    return CardDetail(row, _batch_info(row.batch_id), card_history(row.id, row.batch_id), "id")
