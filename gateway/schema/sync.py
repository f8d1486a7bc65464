"""The change feed in the schema: change sets, live events and their sync tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import strawberry

from gateway.domain import sessions as domain
from gateway.domain.sync import ChangeSet
from gateway.live import Deleted, Event, GroupDeleted, GroupUpserted, Upserted
from gateway.schema.ids import global_id, group_global_id
from gateway.schema.types import Session, SessionGroup


@strawberry.type(description="Everything that changed in the viewer's list after a sync token.")
class SessionChangeSet:
    changed: list[Session] = strawberry.field(description="Changed sessions, as they are now.")
    deleted_ids: list[strawberry.ID] = strawberry.field(description="Global IDs of deletions.")
    deleted_keys: list[str] = strawberry.field(description="NIM keys of the same deletions.")
    sync_token: str = strawberry.field(description="Pass it as `since` to continue.")
    has_more: bool = strawberry.field(description="More changes wait: ask again with the token.")
    changed_groups: list[SessionGroup] = strawberry.field(
        description="Conversation groups created or changed, as they are now."
    )
    deleted_group_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of deleted conversation groups."
    )

    @classmethod
    def of(
        cls, change_set: ChangeSet, messages: Mapping[str, domain.Message] | None = None
    ) -> SessionChangeSet:
        changes, groups = change_set.changes, change_set.groups
        deleted = [c.key for c in changes if c.session is None]
        return cls(
            changed=[Session.of(c.session, messages) for c in changes if c.session is not None],
            deleted_ids=[strawberry.ID(global_id(key)) for key in deleted],
            deleted_keys=[str(key) for key in deleted],
            sync_token=change_set.position.token(),
            has_more=change_set.has_more,
            changed_groups=[SessionGroup.of(c.group) for c in groups if c.group is not None],
            deleted_group_ids=[
                strawberry.ID(group_global_id(c.group_id)) for c in groups if c.group is None
            ],
        )


@strawberry.type(description="A session was created or changed (message, recall, ext).")
class SessionUpserted:
    session: Session
    sync_token: str = strawberry.field(description="The token after this change.")


@strawberry.type(description="Sessions were deleted from the viewer's list.")
class SessionsDeleted:
    ids: list[strawberry.ID]
    keys: list[str]
    sync_token: str = strawberry.field(description="The token after this change.")


@strawberry.type(description="A conversation group was created, renamed or its ext changed.")
class SessionGroupUpserted:
    group: SessionGroup
    sync_token: str = strawberry.field(description="The token after this change.")


@strawberry.type(
    description="A conversation group was deleted (its sessions stay in the list; each comes "
    "as a SessionUpserted with its groups)."
)
class SessionGroupDeleted:
    id: strawberry.ID = strawberry.field(description="The group's global ID.")
    group_id: strawberry.ID
    sync_token: str = strawberry.field(description="The token after this change.")


SessionEvent = Annotated[
    SessionUpserted | SessionsDeleted | SessionGroupUpserted | SessionGroupDeleted,
    strawberry.union(
        "SessionEvent",
        description="A change to the viewer's session list or conversation groups.",
    ),
]


def graphql_event(
    event: Event, messages: Mapping[str, domain.Message] | None = None
) -> SessionUpserted | SessionsDeleted | SessionGroupUpserted | SessionGroupDeleted:
    token = event.position.token()
    if isinstance(event, Upserted):
        return SessionUpserted(session=Session.of(event.session, messages), sync_token=token)
    if isinstance(event, GroupUpserted):
        return SessionGroupUpserted(group=SessionGroup.of(event.group), sync_token=token)
    if isinstance(event, GroupDeleted):
        return SessionGroupDeleted(
            id=strawberry.ID(group_global_id(event.group_id)),
            group_id=strawberry.ID(event.group_id),
            sync_token=token,
        )
    assert isinstance(event, Deleted)
    return SessionsDeleted(
        ids=[strawberry.ID(global_id(key)) for key in event.keys],
        keys=[str(key) for key in event.keys],
        sync_token=token,
    )
