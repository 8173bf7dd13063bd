"""CLI commands for clients, reseller renames and redemption."""

from __future__ import annotations

import json

import click

from topup_tui.core.clients import add_client, client_ledger, list_clients, rename_client, rename_reseller
from topup_tui.core.money import format_amount
from topup_tui.core.redeem import RedeemRefused, lockout_settings, redeem, set_lockout
from topup_tui.core.times import format_time


def register(cli: click.Group) -> None:
    from topup_tui.cli_commands import resellers

    resellers.add_command(resellers_rename)
    cli.add_command(clients)
    cli.add_command(redeem_cmd)
    cli.add_command(lockout)


@click.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_context
def resellers_rename(ctx, old, new):
    """Rename reseller OLD to NEW."""
    from topup_tui.cli import open_store

    reseller = rename_reseller(open_store(ctx), old, new)
    click.echo(f"renamed reseller {old!r} to {reseller.name!r}")


@click.group()
def clients():
    """List, add, rename and show clients (customer accounts with a balance)."""


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def clients_list(ctx, as_json):
    """List clients with their balances."""
    from topup_tui.cli import open_store

    rows = list_clients(open_store(ctx))
    if as_json:
        click.echo(json.dumps([
            {"id": c.id, "name": c.name, "currency": c.currency, "reseller": c.reseller,
             "balance": format_amount(c.balance, c.currency, with_code=False),
             "locked_until": format_time(c.locked_until, empty="") or None}
            for c in rows
        ]))
        return
    if not rows:
        click.echo("no clients yet; add one with: topup-tui clients add NAME --currency USD")
    for c in rows:
        click.echo(f"{c.id:>5}  {c.name:<30} {c.balance_text:>16}  {c.reseller or '—'}")


@clients.command("add")
@click.argument("name")
@click.option("--currency", required=True, help="ISO 4217 code of the balance, e.g. USD.")
@click.option("--reseller", default=None, help="The reseller the client belongs to (optional).")
@click.pass_context
def clients_add(ctx, name, currency, reseller):
    """Add a client named NAME."""
    from topup_tui.cli import open_store

    client = add_client(open_store(ctx, create=True), name, currency, reseller)
    click.echo(f"added client {client.name!r} ({client.currency}, id {client.id})")


@clients.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_context
def clients_rename(ctx, old, new):
    """Rename client OLD to NEW."""
    from topup_tui.cli import open_store

    client = rename_client(open_store(ctx), old, new)
    click.echo(f"renamed client {old!r} to {client.name!r}")


@clients.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def clients_show(ctx, name, as_json):
    """A client's balance and ledger: every credit with its time and card serial."""
    from topup_tui.cli import open_store

    summary, lines = client_ledger(open_store(ctx), name)
    if as_json:
        click.echo(json.dumps({
            "name": summary.name, "currency": summary.currency, "reseller": summary.reseller,
            "balance": format_amount(summary.balance, summary.currency, with_code=False),
            "locked_until": format_time(summary.locked_until, empty="") or None,
            "ledger": [{"at": format_time(l.at), "serial": l.serial,
                        "amount": format_amount(l.amount, l.currency, with_code=False)} for l in lines],
        }))
        return
    click.echo(f"{summary.name}  balance {summary.balance_text}  reseller {summary.reseller or '—'}")
    if summary.locked_until:
        click.echo(f"locked until {format_time(summary.locked_until)}")
    for line in lines:
        click.echo(f"  {format_time(line.at)}  {line.serial:<22} +{line.amount_text}")
    if not lines:
        click.echo("  no credits yet")


@click.command("redeem")
@click.option("--client", "client", required=True, help="The client whose balance is credited.")
@click.argument("pin", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the refusal and its reason code) as JSON.")
@click.pass_context
def redeem_cmd(ctx, client, pin, as_json):
    """Redeem a card's PIN (spaces or dashes allowed) onto a client's balance."""
    from topup_tui.cli import CliFailure, open_store

    store = open_store(ctx)
    try:
        result = redeem(store, client, " ".join(pin))
    except RedeemRefused as refusal:
        if as_json:
            click.echo(json.dumps({"ok": False, "code": refusal.code, "message": str(refusal)}))
        raise CliFailure(f"refused ({refusal.code}): {refusal}", 1) from None
    click.echo(json.dumps(result.as_dict()) if as_json else result.sentence())


@click.command()
@click.option("--failures", default=None, help="Wrong PINs that lock a client (default 5).")
@click.option("--minutes", default=None, help="Window in which they count, and how long the lock lasts (default 15).")
@click.pass_context
def lockout(ctx, failures, minutes):
    """Show or set the guessing lockout of redemption."""
    from topup_tui.cli import open_store
    from topup_tui.core.errors import InputError

    store = open_store(ctx)
    values = {}
    for name, raw in (("failures", failures), ("minutes", minutes)):
        if raw is None:
            continue
        if not (raw.isascii() and raw.strip().isdigit()):
            raise InputError(name, f"{raw!r} is not a whole number (1..10000)")
        values[name] = int(raw)
    count, window = set_lockout(store, **values) if values else lockout_settings()
    click.echo(f"a client is locked for {window} minutes after {count} wrong PINs within {window} minutes")
