"""``zorghub console``: the console's accounts. The pages themselves are served by ``zorghub http``."""

from __future__ import annotations

import os

import click

from hub.cli.kit import pass_settings
from hub.console.accounts import ROLES, AccountBook
from hub.settings import Settings


@click.group("console", help="Accounts of the browser console (served at /console by zorghub http).")
def cli() -> None:
    pass


@cli.command("add", help="Add an account, or set its role and password anew.")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="what the account may open")
@click.option("--party", default="", help="for --role party: the party of the registry it acts as")
@click.option("--password-env", default="", metavar="VAR",
              help="read the password from this environment variable instead of asking")
@pass_settings
def add(settings: Settings, name: str, role: str, party: str, password_env: str) -> None:
    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            raise click.BadParameter(f"the environment variable {password_env} is empty or not set",
                                     param_hint="--password-env")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if role == "party":
        from hub.catalogue.parties import PartyRegistry
        from hub.cli.kit import did_you_mean

        registry = PartyRegistry.load(settings.parties_path)
        if party not in registry:
            raise click.BadParameter(f"no party {party!r}{did_you_mean(party, [p.name for p in registry])}",
                                     param_hint="--party")
    settings.ensure_home()
    account = AccountBook.of_home(settings.home).put(name, role, password, party=party)
    click.echo(f"account {account.name}: {account.role}{' of ' + account.party if account.party else ''}")


@cli.command("accounts", help="List the accounts (names and roles; never a password).")
@pass_settings
def accounts(settings: Settings) -> None:
    book = AccountBook.of_home(settings.home)
    listed = list(book)
    for a in listed:
        click.echo(f"{a.name:20s} {a.role:9s} {a.party}")
    if not listed:
        click.echo("no console accounts yet: zorghub console add NAME --role operator")
