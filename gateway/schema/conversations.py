"""NIM V2's conversation features in the schema: conversation groups, do-not-disturb, unread
counts by filter, batch reads and a session opened without a message. The root types
(queries.py, mutations.py, subscriptions.py) take these resolvers as fields."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from gateway.domain.groups import check_group_ext, check_name
from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.pages import Filters
from gateway.domain.sessions import MAX_PAGE_SIZE
from gateway.errors import BadUserInput, NotFound
from gateway.schema.context import Context
from gateway.schema.ids import (
    global_id,
    group_global_id,
    is_group_id,
    parse_group_id,
    parse_session_id,
)
from gateway.schema.prefetch import last_messages
from gateway.schema.types import Node, Session, SessionGroup

Info = strawberry.Info[Context, None]
T = TypeVar("T")


@strawberry.input(description="Which sessions an unread count adds up (NIM V2's filter).")
class UnreadFilter:
    types: list[SessionType] | None = strawberry.field(
        default=strawberry.UNSET, description="Only these session types."
    )
    group_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Only the sessions of this group."
    )
    include_muted: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Count muted sessions too (default false)."
    )

    def filters(self) -> Filters:
        types = _given(self.types)
        group = _given(self.group_id)
        return Filters(
            types=None if types is None else frozenset(types),
            group_id=None if group is None else parse_group_id(group),
            muted=None if _given(self.include_muted) else False,
        )


# Queries ----------------------------------------------------------------------------------------


async def session_groups(info: Info) -> list[SessionGroup]:
    ctx = info.context
    return [SessionGroup.of(group) for group in await ctx.store.list_groups(ctx.viewer())]


async def session_group(info: Info, id: strawberry.ID) -> SessionGroup | None:
    ctx = info.context
    found = await ctx.store.get_groups(ctx.viewer(), [parse_group_id(id)])
    return SessionGroup.of(found[0]) if found else None


async def unread_count(info: Info, filter: UnreadFilter | None = strawberry.UNSET) -> int:
    ctx = info.context
    given = _given(filter) or UnreadFilter()
    return await ctx.store.unread_count(ctx.viewer(), given.filters())


async def sessions_by_ids(info: Info, ids: list[strawberry.ID]) -> list[Session | None]:
    return await _sessions_in_order(
        info, [parse_session_id(id) for id in _bounded(ids, empty=True)]
    )


async def nodes(info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
    """Sessions and groups by global ID (sessions also by NIM key), in the order asked."""
    ctx = info.context
    viewer = ctx.viewer()
    asked = _bounded(ids, empty=True)
    group_ids = [parse_group_id(id) for id in asked if is_group_id(id)]
    keys = [parse_session_id(id) for id in asked if not is_group_id(id)]
    sessions = iter(await _sessions_in_order(info, keys))
    groups = {g.id: SessionGroup.of(g) for g in await ctx.store.get_groups(viewer, group_ids)}
    found: list[Node | None] = []
    for id in asked:
        found.append(groups.get(parse_group_id(id)) if is_group_id(id) else next(sessions))
    return found


async def find_node(info: Info, id: str) -> Node | None:
    [found] = await nodes(info, [strawberry.ID(id)])
    return found


async def _sessions_in_order(info: Info, keys: list[SessionKey]) -> list[Session | None]:
    if not keys:
        return []
    ctx = info.context
    found = await ctx.store.get_sessions(ctx.viewer(), list(dict.fromkeys(keys)))
    messages = await last_messages(info, found)
    by_key = {s.key: Session.of(s, messages) for s in found}
    return [by_key.get(key) for key in keys]


# Mutations -------------------------------------------------------------------------------------


@strawberry.input
class CreateSessionGroupInput:
    name: str = strawberry.field(description="1 to 64 characters.")
    server_ext: str | None = strawberry.field(
        default=strawberry.UNSET, description="At most 1024 bytes of UTF-8."
    )
    session_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Up to 100 sessions to put in it; ones the viewer does not have are ignored.",
    )


@strawberry.type
class SessionGroupPayload:
    group: SessionGroup


@strawberry.input
class UpdateSessionGroupInput:
    id: strawberry.ID = strawberry.field(description="The group's global ID or its own id.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    server_ext: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new extension."
    )


@strawberry.input
class DeleteSessionGroupInput:
    id: strawberry.ID


@strawberry.type
class DeleteSessionGroupPayload:
    deleted_id: strawberry.ID = strawberry.field(description="The deleted group's global ID.")


@strawberry.input
class GroupSessionsInput:
    group_id: strawberry.ID = strawberry.field(description="The group's global ID or its own id.")
    session_ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 global IDs or NIM keys; ones the viewer does not have are ignored."
    )


@strawberry.type
class AddSessionsToGroupPayload:
    group: SessionGroup
    sessions: list[Session] = strawberry.field(
        description="The sessions that were added (not already in the group)."
    )


@strawberry.type
class RemoveSessionsFromGroupPayload:
    group: SessionGroup
    removed_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of the sessions that were in the group."
    )
    removed_keys: list[str]


@strawberry.input
class MuteSessionsInput:
    ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 global IDs or NIM keys; ones the viewer does not have are ignored."
    )
    muted: bool


@strawberry.type
class MuteSessionsPayload:
    sessions: list[Session] = strawberry.field(description="The sessions, as they are now.")


@strawberry.input
class CreateSessionInput:
    id: strawberry.ID = strawberry.field(description="Global ID or NIM key ('p2p|bob').")


@strawberry.type
class CreateSessionPayload:
    session: Session


async def create_session_group(info: Info, input: CreateSessionGroupInput) -> SessionGroupPayload:
    ctx = info.context
    keys = [parse_session_id(id) for id in _bounded(_given(input.session_ids) or [], empty=True)]
    group = await ctx.store.create_group(
        ctx.viewer(),
        None,
        check_name(input.name),
        check_group_ext(_given(input.server_ext) or ""),
        keys,
        ctx.clock(),
        ctx.group_limits,
    )
    return SessionGroupPayload(group=SessionGroup.of(group))


async def update_session_group(info: Info, input: UpdateSessionGroupInput) -> SessionGroupPayload:
    ctx = info.context
    name, ext = _given(input.name), _given(input.server_ext)
    group = await ctx.store.update_group(
        ctx.viewer(),
        parse_group_id(input.id),
        None if name is None else check_name(name),
        None if ext is None else check_group_ext(ext),
        ctx.clock(),
    )
    return SessionGroupPayload(group=SessionGroup.of(group))


async def delete_session_group(
    info: Info, input: DeleteSessionGroupInput
) -> DeleteSessionGroupPayload:
    ctx = info.context
    group_id = parse_group_id(input.id)
    await ctx.store.delete_group(ctx.viewer(), group_id, ctx.clock())
    return DeleteSessionGroupPayload(deleted_id=strawberry.ID(group_global_id(group_id)))


async def add_sessions_to_group(info: Info, input: GroupSessionsInput) -> AddSessionsToGroupPayload:
    ctx = info.context
    viewer, group_id = ctx.viewer(), parse_group_id(input.group_id)
    keys = [parse_session_id(id) for id in _bounded(input.session_ids)]
    added = await ctx.store.add_to_group(viewer, group_id, keys, ctx.clock(), ctx.group_limits)
    messages = await last_messages(info, added)
    return AddSessionsToGroupPayload(
        group=await _group(info, group_id), sessions=[Session.of(s, messages) for s in added]
    )


async def remove_sessions_from_group(
    info: Info, input: GroupSessionsInput
) -> RemoveSessionsFromGroupPayload:
    ctx = info.context
    viewer, group_id = ctx.viewer(), parse_group_id(input.group_id)
    keys = [parse_session_id(id) for id in _bounded(input.session_ids)]
    removed = await ctx.store.remove_from_group(viewer, group_id, keys, ctx.clock())
    return RemoveSessionsFromGroupPayload(
        group=await _group(info, group_id),
        removed_ids=[strawberry.ID(global_id(key)) for key in removed],
        removed_keys=[str(key) for key in removed],
    )


async def mute_sessions(info: Info, input: MuteSessionsInput) -> MuteSessionsPayload:
    ctx = info.context
    keys = [parse_session_id(id) for id in _bounded(input.ids)]
    await ctx.store.set_muted(ctx.viewer(), keys, input.muted)
    sessions = await _sessions_in_order(info, list(dict.fromkeys(keys)))
    return MuteSessionsPayload(sessions=[s for s in sessions if s is not None])


async def create_session(info: Info, input: CreateSessionInput) -> CreateSessionPayload:
    ctx = info.context
    session = await ctx.store.open_session(ctx.viewer(), parse_session_id(input.id), ctx.clock())
    return CreateSessionPayload(session=Session.of(session, await last_messages(info, [session])))


async def _group(info: Info, group_id: str) -> SessionGroup:
    ctx = info.context
    found = await ctx.store.get_groups(ctx.viewer(), [group_id])
    if not found:
        raise NotFound(f"you have no group {group_id!r}")
    return SessionGroup.of(found[0])


def _bounded(ids: list[strawberry.ID], *, empty: bool = False) -> list[strawberry.ID]:
    if not (0 if empty else 1) <= len(ids) <= MAX_PAGE_SIZE:
        low = 0 if empty else 1
        raise BadUserInput(f"ids must hold {low} to {MAX_PAGE_SIZE} ids; got {len(ids)}")
    return ids


def _given(value: T | None) -> T | None:
    return None if value is strawberry.UNSET else value
