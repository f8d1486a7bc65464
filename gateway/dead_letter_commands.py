"""``gateway dead-letters``: read, replay and purge the signed CC bodies the webhook kept because
it could not apply them (dead_letters.py)."""

from __future__ import annotations

import asyncio
import sys

import click

from gateway._cli import DB_HELP, settings_from_environment, with_store
from gateway.dead_letters import Replayed, replay
from gateway.domain.dead_letters import DeadLetter, readable, summary
from gateway.ingest import Ingestor
from gateway.ingest import wall_clock_ms as now_ms
from gateway.store import SessionStore


@click.group("dead-letters")
def dead_letters() -> None:
    """Signed CC bodies the gateway answered 200 but could not apply, kept for an operator (at
    most GATEWAY_DEAD_LETTER_LIMIT, oldest dropped first)."""


@dead_letters.command("list")
@click.option("--db", help=DB_HELP)
@click.option("--reason", help="Only letters kept for this reason (BAD_JSON, MISSING_FIELD, ...).")
@click.option("--after", type=int, default=0, show_default=True, help="Only ids after this one.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
def list_dead_letters(db: str | None, reason: str | None, after: int, limit: int) -> None:
    """One line a letter, oldest first: id, when, reason, size, what the body says it is."""
    from gateway.schema.scalars import format_timestamp  # the schema: only where it is shown

    settings = settings_from_environment(database_url=db)

    async def work(store: SessionStore) -> list[DeadLetter]:
        return await store.dead_letters(after=after, limit=limit, reason=reason, body_bytes=4096)

    letters = asyncio.run(with_store(settings, work))
    for letter in letters:
        click.echo(f"{letter.id}\t{format_timestamp(letter.received_at)}\t{letter.reason}\t"
                   f"{letter.size} B\t{summary(letter.body)}")  # fmt: skip
    click.echo(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}", err=True)


@dead_letters.command("show")
@click.argument("letter_id", metavar="ID", type=int)
@click.option("--db", help=DB_HELP)
@click.option(
    "--raw", is_flag=True, help="Write the body alone, byte for byte (to replay by hand)."
)
def show_dead_letter(letter_id: int, db: str | None, raw: bool) -> None:
    """A letter: when it came, why it was kept, its headers and its whole body."""
    from gateway.schema.scalars import format_timestamp

    settings = settings_from_environment(database_url=db)

    async def work(store: SessionStore) -> DeadLetter | None:
        return await store.dead_letter(letter_id)

    letter = asyncio.run(with_store(settings, work))
    if letter is None:
        raise click.ClickException(f"no dead letter {letter_id}")
    if raw:
        sys.stdout.buffer.write(letter.body)
        return
    click.echo(f"id: {letter.id}\nreceived: {format_timestamp(letter.received_at)}")
    click.echo(f"reason: {letter.reason}\ndetail: {letter.detail}\nsize: {letter.size} B")
    for name, value in letter.headers.items():
        click.echo(f"header {name}: {readable(value)}")
    click.echo("body:")
    click.echo(readable(letter.body))


@dead_letters.command("replay")
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every letter, oldest first.")
@click.option("--db", help=DB_HELP)
def replay_dead_letters(ids: tuple[int, ...], every: bool, db: str | None) -> None:
    """Apply letters again through the webhook's own ingestion (after an upgrade that can use
    them). A letter applied, or found applied already, is deleted; one still refused stays.
    Replaying twice changes nothing more (a letter gone is "missing"). Exits with status 1 when
    any is still refused."""
    if bool(ids) == every:
        raise click.UsageError("name the letters to replay, or --all")
    settings = settings_from_environment(database_url=db)

    async def work(store: SessionStore) -> list[Replayed]:
        ingestor = Ingestor(store, now_ms)
        return [r async for r in replay(store, ingestor, None if every else ids)]

    results = asyncio.run(with_store(settings, work))
    for result in results:
        said = f"{result.id}\t{result.outcome}"
        click.echo(f"{said}\t{result.detail}" if result.detail else said)
    refused = sum(result.refused for result in results)
    click.echo(f"{len(results) - refused} replayed, {refused} still refused", err=True)
    if refused:
        sys.exit(1)


@dead_letters.command("purge")
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every letter.")
@click.option("--older-than", "days", type=click.FloatRange(0), help="Letters older than DAYS.")
@click.option("--db", help=DB_HELP)
def purge_dead_letters(
    ids: tuple[int, ...], every: bool, days: float | None, db: str | None
) -> None:
    """Delete letters: those named, those older than --older-than days, or --all."""
    if sum((bool(ids), every, days is not None)) != 1:
        raise click.UsageError("name the letters to purge, or give --older-than DAYS, or --all")
    settings = settings_from_environment(database_url=db)

    async def work(store: SessionStore) -> int:
        if ids:
            return await store.forget_dead_letters(list(ids))
        before = None if days is None else now_ms() - int(days * 86_400_000)
        return await store.forget_dead_letters(received_before=before)

    gone = asyncio.run(with_store(settings, work))
    click.echo(f"purged {gone} dead letter{'' if gone == 1 else 's'}")
