"""``zorghub iwlz``: what a vendor tries before sending: a message checked as the hub will check it."""

from __future__ import annotations

import re
from pathlib import Path

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.group(name="iwlz", help="iWlz 2.2 XML messages: the official XSD and business rules, and the retour")
def cli() -> None:
    """The iWlz flow's commands."""


@cli.command(help="check an iWlz XML file as the hub will (XSD, then the official rules); exit 1 if refused")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--message", "msg_code", help="the message code (IO31, AW33, ...); default: from the XML namespace")
@pass_settings
def check(settings: Settings, file: Path, msg_code: str | None) -> None:
    from hub.errors import Rejected
    from hub.flows.iwlz.validate import check as check_xml
    from hub.flows.iwlz.validate import rules_of

    if not settings.schema_dir:
        raise Rejected("no schema_dir is configured: the iWlz XSDs and rules are needed", rule="CONFIG")
    xml = file.read_bytes()
    code = (msg_code or message_code(xml)).upper()
    findings = check_xml(settings.schema_dir, code, xml)
    if not findings:
        click.echo(f"{code}: accepted (retourcode 0200)")
        return
    for f in findings:
        click.echo(f"{f.rule}: {f.text} (retourcode {f.code})")
    codes = ", ".join(dict.fromkeys(f.code for f in findings))
    raise Rejected(f"{code} refused: {len(findings)} finding(s), retourcode(s) {codes}", rule=rules_of(findings))


def message_code(xml: bytes) -> str:
    """The message code from the root element's namespace (``.../iwlz/2_2/io31/schema`` is IO31)."""
    from hub.errors import Rejected

    found = re.search(rb"/iwlz/2_2/([a-z]{2}[0-9]{2,3})/schema", xml[:4096], re.IGNORECASE)
    if found is None:
        raise Rejected("not an iWlz 2.2 message (no iwlz/2_2 namespace): name it with --message", rule="IWLZ_CODE")
    return found.group(1).decode().upper()
