"""DataLoaders: one batched store read per field per request."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from gateway.domain.sessions import Message
from gateway.store.base import SessionStore


def message_loader(store: SessionStore) -> DataLoader[str, Message | None]:
    async def load(server_ids: Sequence[str]) -> list[Message | None]:
        found = await store.get_messages(server_ids)
        return [found.get(server_id) for server_id in server_ids]

    return DataLoader(load_fn=load)
