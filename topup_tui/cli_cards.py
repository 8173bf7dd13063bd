"""CLI commands over the search and edit core: cards, show, mass-edit, delete."""

from __future__ import annotations

import csv
import json
import sys

import click

from topup_tui.core.edit import Scope, delete_cards, mass_edit, preview
from topup_tui.core.errors import InputError
from topup_tui.core.filters import FILTER_FIELDS, CardFilter, build_filter
from topup_tui.core.search import (
    DEFAULT_PAGE_SIZE, SORT_COLUMNS, iter_cards, lookup, parse_sort, search_cards, check_page, check_page_size,
)
from topup_tui.core.times import DATE_FORMATS_HELP, format_time, parse_time

_FILTER_HELP = {
    "serial": "One serial: 101-000000042 or 101-42.",
    "serial_from": "Start of a serial range (same series as --serial-to).",
    "serial_to": "End of a serial range.",
    "series": "Series (the part before the dash).",
    "pin": "Exact PIN (spaces or dashes allowed).",
    "status": "new, activated or expired (at the moment of the query).",
    "reseller": "Company name ('all resellers' = no filter).",
    "currency": "ISO 4217 code; amount bounds use its decimals.",
    "amount_min": "Smallest amount, e.g. 10 or 10.50.",
    "amount_max": "Largest amount.",
    "expires_from": "Expiring at or after (a bare date = 00:00:00 UTC).",
    "expires_to": "Expiring at or before (a bare date = 23:59:59 UTC).",
    "client": "Client who activated the card.",
    "activated_from": "Activated at or after.",
    "activated_to": "Activated at or before.",
    "created_from": "Created at or after.",
    "created_to": "Created at or before.",
    "batch": "Batch number.",
}


def filter_options(func):
    for name in reversed(FILTER_FIELDS):
        func = click.option(f"--{name.replace('_', '-')}", name, default=None, help=_FILTER_HELP[name])(func)
    return func


def _filter(kwargs: dict) -> CardFilter:
    return build_filter(**{k: kwargs.pop(k) for k in FILTER_FIELDS})


def register(cli: click.Group) -> None:
    cli.add_command(cards)
    cli.add_command(show)
    cli.add_command(mass_edit_cmd)
    cli.add_command(delete_cmd)


TABLE_COLUMNS = ("Status", "Serial Number", "Amount", "PIN Code", "Reseller", "Activated", "Created on")


def _table_cells(row) -> list[str]:
    activated = "—" if row.activated_at is None else f"{row.activated_by or '?'} {format_time(row.activated_at)}"
    return [row.status, row.serial, row.amount_text, row.pin, row.reseller or "—", activated, format_time(row.created_at)]


def _print_table(rows) -> None:
    cells = [list(TABLE_COLUMNS)] + [_table_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(TABLE_COLUMNS))]
    for line in cells:
        click.echo("  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip())


@click.command(help=f"List cards matching the filters (all combined with AND). Dates: {DATE_FORMATS_HELP}.")
@filter_options
@click.option("--sort", default=None, help=f"COLUMN or COLUMN:desc; columns: {', '.join(SORT_COLUMNS)}. Default created:desc.")
@click.option("--page", default="1", help="Page number.")
@click.option("--page-size", default=str(DEFAULT_PAGE_SIZE), help="Rows per page (10..500).")
@click.option("--all", "all_rows", is_flag=True, help="Every match, streamed (for exports).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--reveal", is_flag=True, help="Show full PINs (audited).")
@click.pass_context
def cards(ctx, sort, page, page_size, all_rows, fmt, reveal, **kwargs):
    # The help is given to click.command above: an f-string here would not be a docstring.
    from topup_tui.cli import open_store

    flt = _filter(kwargs)
    sort_key = parse_sort(sort)
    page, page_size = check_page(page), check_page_size(page_size)
    store = open_store(ctx)
    if all_rows:
        rows = iter_cards(store, flt, sort=sort_key, reveal=reveal)
        _emit(rows, fmt, streaming=True)
        return
    result = search_cards(store, flt, page=page, page_size=page_size, sort=sort_key, reveal=reveal)
    if fmt == "table":
        if not flt.is_empty:
            click.echo(f"Filter: {flt.describe()}")
        _print_table(result.rows)
        click.echo(result.footer())
    else:
        _emit(result.rows, fmt, streaming=False)


def _emit(rows, fmt: str, *, streaming: bool) -> None:
    out = sys.stdout
    if fmt == "json":
        for row in rows:
            out.write(json.dumps(row.as_dict()) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["status", "serial", "amount", "currency", "pin", "reseller", "activated_by",
                         "activated_at", "created_at", "expires_at", "batch"])
        for row in rows:
            d = row.as_dict()
            writer.writerow([d["status"], d["serial"], d["amount"], d["currency"], d["pin"], d["reseller"] or "",
                             d["activated_by"] or "", d["activated_at"] or "", d["created_at"], d["expires_at"], d["batch"]])
    else:
        _print_table(list(rows))
    out.flush()


@click.command()
@click.argument("serial_or_pin")
@click.option("--json", "as_json", is_flag=True)
@click.option("--reveal", is_flag=True, help="Show the full PIN (audited).")
@click.pass_context
def show(ctx, serial_or_pin, as_json, reveal):
    """Look a card up by serial (101-000000042, 101-42) or PIN (spaces allowed)."""
    from topup_tui.cli import CliFailure, open_store

    found = lookup(open_store(ctx), serial_or_pin, reveal=reveal)
    if not found:
        raise CliFailure("no such card", 1)
    if as_json:
        click.echo(json.dumps([d.as_dict() for d in found] if len(found) > 1 else found[0].as_dict()))
        return
    for detail in found:
        card, batch = detail.card, detail.batch
        click.echo(f"Serial Number  {card.serial}   (matched by {detail.matched_by})")
        click.echo(f"Status         {card.status}")
        click.echo(f"Amount         {card.amount_text}")
        click.echo(f"PIN Code       {card.pin}")
        click.echo(f"Reseller       {card.reseller or '—'}")
        click.echo(f"Expires        {format_time(card.expires_at)}")
        activated = "—" if card.activated_at is None else f"{card.activated_by} {format_time(card.activated_at)}"
        click.echo(f"Activated      {activated}")
        click.echo(f"Created on     {format_time(card.created_at)}")
        click.echo(f"Batch          {batch['id']}: {batch['quantity']:,} cards {batch['first_serial']} .. "
                   f"{batch['last_serial']}, by {batch['created_by']} at {batch['created_at']}")
        click.echo("History")
        for h in detail.history:
            click.echo(f"  {format_time(h.at)}  {h.actor:<12} {h.action:<12} {h.target}")


def _scope(kwargs: dict, ids: str | None) -> Scope:
    flt = _filter(kwargs)
    if ids:
        if not flt.is_empty:
            raise InputError("ids", "give either --ids or filters, not both")
        parts = [p for p in ids.replace(",", " ").split() if p]
        if not all(p.isascii() and p.isdigit() for p in parts):
            raise InputError("ids", f"{ids!r}: card ids are numbers separated by commas")
        return Scope.of_ids(int(p) for p in parts)
    return Scope.matching(flt)


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        from topup_tui.cli import CliFailure

        raise CliFailure("refusing without --yes: no terminal to confirm on (nothing written)", 1)
    return click.confirm(question, default=False, err=True)


@click.command("mass-edit")
@filter_options
@click.option("--ids", default=None, help="Card ids, comma-separated (instead of filters).")
@click.option("--set-expires", default=None, help=f"New expiration: {DATE_FORMATS_HELP}. A past date expires the cards now.")
@click.option("--set-reseller", default=None, help="New owning reseller (must exist).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def mass_edit_cmd(ctx, ids, set_expires, set_reseller, yes, **kwargs):
    """Change the expiration and/or reseller of the matching (or given) cards. Activated cards are kept."""
    from topup_tui.cli import open_store

    scope = _scope(kwargs, ids)
    expires = parse_time(set_expires, "set_expires") if set_expires is not None else None
    if expires is None and set_reseller is None:
        raise InputError("mass-edit", "nothing to change: give --set-expires, --set-reseller or both")
    store = open_store(ctx)
    if set_reseller is not None:
        from topup_tui.core.resellers import find_reseller

        find_reseller(set_reseller)
    plan = preview(store, scope)
    if plan.changeable == 0:
        click.echo(f"0 cards to change ({plan.activated:,} activated kept)" if plan.activated else "0 cards")
        return
    if not _confirm(f"{scope.summary()}: {plan.sentence('change')}. Proceed?", yes):
        click.echo("nothing changed", err=True)
        sys.exit(1)
    result = mass_edit(store, scope, set_expires=expires, set_reseller=set_reseller)
    click.echo(result.sentence("changed"))


@click.command("delete")
@filter_options
@click.option("--ids", default=None, help="Card ids, comma-separated (instead of filters).")
@click.option("--all", "everything", is_flag=True, help="Delete every unredeemed card (the reference's Delete all).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete_cmd(ctx, ids, everything, yes, **kwargs):
    """Delete the matching (or given) unredeemed cards. Activated cards are kept; serials are never reissued."""
    from topup_tui.cli import open_store

    scope = _scope(kwargs, ids)
    if scope.is_everything and not everything:
        raise InputError("delete", "give filters, --ids, or --all to delete every card")
    if everything and not scope.is_everything:
        raise InputError("delete", "--all deletes every card: do not combine it with filters or --ids")
    store = open_store(ctx)
    plan = preview(store, scope)
    if plan.changeable == 0:
        click.echo(f"0 cards to delete ({plan.activated:,} activated kept)" if plan.activated else "0 cards")
        return
    question = f"{scope.summary()}: {plan.sentence('delete')}. Proceed?"
    if everything and not yes:
        if not sys.stdin.isatty():
            _confirm(question, False)
        typed = click.prompt(f"{plan.sentence('delete')}. Type the number of cards to delete ({plan.changeable})",
                             default="", show_default=False, err=True)
        if typed.replace(",", "").strip() != str(plan.changeable):
            click.echo("the number did not match; nothing deleted", err=True)
            sys.exit(1)
    elif not _confirm(question, yes):
        click.echo("nothing deleted", err=True)
        sys.exit(1)
    result = delete_cards(store, scope, confirm_all=everything)
    click.echo(result.sentence("deleted"))
