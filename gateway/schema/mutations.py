"""Mutation root: the viewer's writes to their own list."""

from __future__ import annotations

import strawberry

from gateway.domain.sessions import MAX_PAGE_SIZE, check_ext
from gateway.errors import BadUserInput
from gateway.schema.context import Context
from gateway.schema.ids import global_id, parse_session_id
from gateway.schema.types import Session

Info = strawberry.Info[Context, None]


@strawberry.input
class UpdateSessionExtInput:
    id: strawberry.ID = strawberry.field(description="Global ID or NIM key ('p2p|bob').")
    ext: str = strawberry.field(description="At most 1024 bytes of UTF-8.")


@strawberry.type
class UpdateSessionExtPayload:
    session: Session


@strawberry.input
class DeleteSessionsInput:
    ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 global IDs or NIM keys; ones the viewer does not have are ignored."
    )


@strawberry.type
class DeleteSessionsPayload:
    deleted_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of the sessions that were deleted."
    )
    deleted_keys: list[str] = strawberry.field(description="NIM keys of the same sessions.")


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Set the viewer's server ext of a session. Creates the session (no last "
        "message) when the viewer has none; never changes an existing session's updateTime."
    )
    async def update_session_ext(
        self, info: Info, input: UpdateSessionExtInput
    ) -> UpdateSessionExtPayload:
        ctx = info.context
        viewer = ctx.viewer()
        key = parse_session_id(input.id)
        session = await ctx.store.update_ext(viewer, key, check_ext(input.ext), ctx.clock())
        return UpdateSessionExtPayload(session=Session.of(session))

    @strawberry.mutation(
        description="Delete sessions from the viewer's list (messages are not touched). A later "
        "message in the conversation brings the session back."
    )
    async def delete_sessions(
        self, info: Info, input: DeleteSessionsInput
    ) -> DeleteSessionsPayload:
        ctx = info.context
        viewer = ctx.viewer()
        if not 1 <= len(input.ids) <= MAX_PAGE_SIZE:
            raise BadUserInput(f"ids must hold 1 to {MAX_PAGE_SIZE} ids; got {len(input.ids)}")
        keys = [parse_session_id(id) for id in input.ids]
        deleted = await ctx.store.delete_sessions(viewer, keys, ctx.clock())
        return DeleteSessionsPayload(
            deleted_ids=[strawberry.ID(global_id(key)) for key in deleted],
            deleted_keys=[str(key) for key in deleted],
        )
