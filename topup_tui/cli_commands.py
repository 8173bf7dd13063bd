"""The CLI's commands. Each parses its options through the core and prints the result."""

from __future__ import annotations

import json

import click

from topup_tui.core.errors import InputError
from topup_tui.core.export import export_batch
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.pins import DEFAULT_PIN_LENGTH
from topup_tui.core.resellers import add_reseller, list_resellers
from topup_tui.core.times import DATE_FORMATS_HELP, format_time


def register(cli: click.Group) -> None:
    cli.add_command(generate)
    cli.add_command(export)
    cli.add_command(resellers)
    cli.add_command(demo)


@click.command()
@click.pass_context
def demo(ctx):
    """Fill an empty database with demo data (resellers, clients, batches, used and expired cards)."""
    from topup_tui.cli import open_store
    from topup_tui.demo import fill_demo

    made = fill_demo(open_store(ctx, create=True))
    click.echo(f"demo data: {made['cards']:,} cards in {made['batches']} batches, "
               f"{made['resellers']} resellers, {made['clients']} clients")


@click.command()
@click.option("--amount", required=True, help="Value of each card, e.g. 15 or 15.50 (at most 1,000,000).")
@click.option("--currency", required=True, help="ISO 4217 code, e.g. USD.")
@click.option("--quantity", required=True, help="How many cards: 1..1,000,000.")
@click.option("--series", required=True, help="Serial prefix: 1-12 letters or digits (e.g. 101 -> 101-000000001).")
@click.option("--pin-length", default=str(DEFAULT_PIN_LENGTH), show_default=True, help="PIN digits, 5..32.")
@click.option("--reseller", default=None, help="Owning reseller (must exist: topup-tui resellers add NAME).")
@click.option("--expires", required=True, help=f"Expiration: {DATE_FORMATS_HELP}. A bare date means through 23:59:59 UTC of that day.")
@click.option("--allow-weak-pins", is_flag=True, help="Allow PINs shorter than the guessing limit (recorded in the audit).")
@click.option("--export", "export_path", default=None, metavar="FILE", help="Write the batch to a new CSV (0600) for the printer.")
@click.option("--json", "as_json", is_flag=True, help="Print the batch summary as JSON on stdout.")
@click.pass_context
def generate(ctx, amount, currency, quantity, series, pin_length, reseller, expires, allow_weak_pins, export_path, as_json):
    """Generate a batch of top-up cards (all of it, or nothing)."""
    from topup_tui.cli import open_store, stderr_progress

    request = build_request(
        amount=amount, currency=currency, quantity=quantity, series=series, pin_length=pin_length,
        reseller=reseller, expires=expires, allow_weak_pins=allow_weak_pins,
    )
    if export_path:
        _check_export_path(export_path)
    store = open_store(ctx, create=True)
    progress, finish = stderr_progress("generating")
    try:
        result = generate_cards(store, request, progress=progress)
    finally:
        finish()
    summary = result.as_dict()
    if export_path:
        try:
            summary["exported"] = export_batch(store, result.batch_id, export_path)
            summary["export_path"] = export_path
        except InputError as exc:
            raise InputError(
                "export", f"{exc.message} (batch {result.batch_id} was generated; export it with "
                f"topup-tui export {result.batch_id} --to FILE)",
            ) from None
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(
        f"batch {result.batch_id}: {result.count:,} cards {result.first_serial} .. {result.last_serial}, "
        f"{summary['amount']} {result.currency} each, {result.pin_length}-digit PINs, "
        f"reseller {result.reseller or '—'}, expires {format_time(result.expires_at)}"
    )
    if result.weak_pins_override:
        click.echo("warning: weak PINs allowed by --allow-weak-pins (recorded in the audit)", err=True)
    if export_path:
        click.echo(f"exported {summary['exported']:,} cards to {export_path} (0600)")


def _check_export_path(path: str) -> None:
    """Fail before generating when the export could not be written afterwards."""
    from pathlib import Path

    dest = Path(path).expanduser()
    if dest.exists():
        raise InputError("export", f"{dest} already exists; choose a new file name")
    if not dest.parent.is_dir():
        raise InputError("export", f"directory {dest.parent} does not exist")


@click.command()
@click.argument("batch_id", type=int)
@click.option("--to", "path", required=True, metavar="FILE", help="A new CSV file (created 0600).")
@click.pass_context
def export(ctx, batch_id, path):
    """Export a batch's cards with full PINs to a new CSV for the card printer (audited)."""
    from topup_tui.cli import open_store

    count = export_batch(open_store(ctx), batch_id, path)
    click.echo(f"exported {count:,} cards of batch {batch_id} to {path} (0600)")


@click.group()
def resellers():
    """List and add resellers (companies that own cards)."""


@resellers.command("add")
@click.argument("name")
@click.pass_context
def resellers_add(ctx, name):
    """Add a reseller named NAME."""
    from topup_tui.cli import open_store

    reseller = add_reseller(open_store(ctx, create=True), name)
    click.echo(f"added reseller {reseller.name!r} (id {reseller.id})")


@resellers.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def resellers_list(ctx, as_json):
    """List resellers."""
    from topup_tui.cli import open_store

    rows = list_resellers(open_store(ctx))
    if as_json:
        click.echo(json.dumps([{"id": r.id, "name": r.name, "created": format_time(r.created_at)} for r in rows]))
        return
    if not rows:
        click.echo("no resellers yet; add one with: topup-tui resellers add NAME")
    for r in rows:
        click.echo(f"{r.id:>5}  {r.name}")
