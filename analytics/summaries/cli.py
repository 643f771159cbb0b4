"""`commaudit summaries build|send|status`: each director's weekly email (§2.2, §4.4).

build writes each email as an .eml file and an HTML preview, and sends nothing; send delivers
over SMTP (or, with --dry-run, writes the .eml files to an outbox) and keeps the ledger; status
shows the ledger. The figures come from the collector, scoped per director and audited there;
only an admin may ask for them. Exit status: 0 when every director has their email, 1 when
one was refused or failed (the Monday timer's unit then shows failed), 2 for bad input.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from admin.connection import load_connection
from admin.rpc import CollectorOption, ConnectionOption, PlaintextOption, ask, collector_errors
from agent.layered_settings import ConfigError, Effective
from analytics.summaries.gather import fetch_weeks, week_start_ms
from analytics.summaries.model import Week
from analytics.summaries.outbox import write_eml
from analytics.summaries.smtp_settings import SmtpSettings, load_smtp_settings
from commaudit.v1 import admin_service_pb2

if TYPE_CHECKING:
    from analytics.summaries.send import Outcome

# The charts' library takes ~0.35 s to import: the modules that draw are imported by the
# commands that draw, so every other `commaudit` command starts without it.

summaries_app = typer.Typer(
    help="Each director's weekly summary by email (build, send, status).", no_args_is_help=True
)

DEFAULT_CONFIG = Path("/etc/commaudit/summaries.toml")
PREVIEW_SENDER = "commaudit <commaudit@localhost>"

WeekOption = Annotated[
    str, typer.Option("--week", help="ISO week, e.g. 2026-W47, or 'last' (the week that ended).")
]
DirectorOption = Annotated[
    str | None, typer.Option("--director", help="One director's employee id; default: all.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="COMMAUDIT_SUMMARIES_CONFIG",
        help=f"SMTP settings (TOML); default {DEFAULT_CONFIG} when it exists. "
        "COMMAUDIT_SMTP_* variables override it.",
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"commaudit: {message}", err=True)
    return typer.Exit(2)


def _week(text: str) -> Week:
    try:
        return Week.parse(text, datetime.now(UTC).date())
    except ValueError as exc:
        raise _fail(f"--week: {exc}") from None


def _settings(config: Path | None) -> Effective[SmtpSettings]:
    if config is None and DEFAULT_CONFIG.is_file():
        config = DEFAULT_CONFIG
    try:
        return load_smtp_settings(config, os.environ, {})
    except ConfigError as exc:
        raise _fail(str(exc)) from None


@summaries_app.command("build")
def build(
    week: WeekOption,
    director: DirectorOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the .eml files and HTML previews.")
    ] = Path("commaudit-summaries"),
    config: ConfigOption = None,
    connection_file: ConnectionOption = Path("connection.json"),
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Render each director's email for a week, without sending: DIR/WEEK/ID.eml and
    ID.html (a preview with its charts, as a mail client shows it)."""
    from analytics.summaries.compose import compose, html_preview, subject
    from analytics.summaries.send import message_id

    chosen = _week(week)
    sender = _settings(config).config.sender or PREVIEW_SENDER
    folder = out / chosen.label
    table = Table("director", "name", "workgroups", "subject", title=f"summaries {chosen.label}")
    now = datetime.now(UTC)
    written = 0
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        for director_week in fetch_weeks(connection, chosen, director):
            who = director_week.director
            message = (
                compose(director_week, sender, message_id(chosen, who.employee_id, sender), now)
                if who.email
                else None
            )
            if message is not None:
                write_eml(folder, f"{who.employee_id}.eml", message)
                preview = folder / f"{who.employee_id}.html"
                preview.write_text(html_preview(message), encoding="utf-8")
                preview.chmod(0o600)
                written += 1
            workgroups = ", ".join(w.name for w in who.workgroups)
            headline = subject(director_week) if message else "(no email address in the roster)"
            table.add_row(who.employee_id, who.full_name, workgroups, headline)
    Console(width=160).print(table)
    typer.echo(f"{written} email(s) written to {folder}/", err=True)


@summaries_app.command("send")
def send(
    week: WeekOption,
    director: DirectorOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write .eml files to --outbox; no SMTP, no ledger.")
    ] = False,
    outbox: Annotated[Path, typer.Option("--outbox", help="Where --dry-run writes.")] = Path(
        "commaudit-outbox"
    ),
    config: ConfigOption = None,
    connection_file: ConnectionOption = Path("connection.json"),
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Send a week's summaries; a rerun sends only what was not sent (the ledger)."""
    from analytics.summaries.delivery import SmtpMailer
    from analytics.summaries.send import failures, send_week

    chosen = _week(week)
    settings = _settings(config).config
    if dry_run:
        _dry_run(
            chosen, director, settings, outbox / chosen.label, connection_file, collector, plaintext
        )
        return
    if not settings.host or not settings.sender:
        missing = "host" if not settings.host else "sender"
        raise _fail(
            f"no SMTP {missing} configured: set it in {config or DEFAULT_CONFIG} or"
            f" COMMAUDIT_SMTP_{missing.upper()}, or use --dry-run"
        )
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        with SmtpMailer(settings) as mailer:
            outcomes = send_week(
                connection, chosen, director, mailer, settings.sender, datetime.now(UTC)
            )
    _print_outcomes(chosen, outcomes)
    if failures(outcomes):
        raise typer.Exit(1)


@summaries_app.command("status")
def status(
    week: WeekOption,
    connection_file: ConnectionOption = Path("connection.json"),
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Every attempt of a week's send, from the collector's ledger."""
    chosen = _week(week)
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        answer = ask(
            connection,
            "ListSummaries",
            admin_service_pb2.ListSummariesRequest(week_start_ms=week_start_ms(chosen)),
        )
    table = Table(
        "director",
        "attempt",
        "status",
        "recipient",
        "at (UTC)",
        "detail",
        title=f"summaries {chosen.label}",
    )
    for attempt in answer.attempts:
        at = datetime.fromtimestamp(attempt.at_ms / 1000, UTC)
        table.add_row(
            attempt.director_id,
            str(attempt.attempt),
            attempt.status,
            attempt.recipient,
            f"{at:%Y-%m-%d %H:%M}",
            attempt.detail,
        )
    Console(width=160).print(table)


def _dry_run(
    week: Week,
    director: str | None,
    settings: SmtpSettings,
    folder: Path,
    connection_file: Path,
    collector: str | None,
    plaintext: bool,
) -> None:
    from analytics.summaries.compose import compose
    from analytics.summaries.send import Outcome, message_id

    sender = settings.sender or PREVIEW_SENDER
    outcomes: list[Outcome] = []
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        for director_week in fetch_weeks(connection, week, director):
            who = director_week.director
            if not who.email:
                outcomes.append(
                    Outcome(
                        who.employee_id,
                        who.full_name,
                        "",
                        "no_address",
                        "the roster has no email address for this director",
                    )
                )
                continue
            message = compose(
                director_week, sender, message_id(week, who.employee_id, sender), datetime.now(UTC)
            )
            path = write_eml(folder, f"{who.employee_id}.eml", message)
            outcomes.append(
                Outcome(who.employee_id, who.full_name, str(message["To"]), "written", str(path))
            )
    _print_outcomes(week, outcomes)
    typer.echo("dry run: nothing sent, the ledger unchanged", err=True)


def _print_outcomes(week: Week, outcomes: list[Outcome]) -> None:
    from analytics.summaries.send import failures

    table = Table("director", "recipient", "status", "detail", title=f"summaries {week.label}")
    for outcome in outcomes:
        table.add_row(outcome.director_id, outcome.recipient, outcome.status, outcome.detail)
    Console(width=160).print(table)
    failed = failures(o for o in outcomes if o.status != "written")
    if failed:
        typer.echo(
            f"commaudit: {len(failed)} of {len(outcomes)} not delivered"
            " (a rerun sends only those): "
            + "; ".join(f"{o.director_id}: {o.status}: {o.detail}" for o in failed),
            err=True,
        )
