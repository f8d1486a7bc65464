"""A subscription's selection compiled once: the response data for an event, without
graphql-core's general executor.

Every event of a subscription runs the same selection over a new root value (the root field
resolves to the event itself). Compiled for the values of the variables its @skip/@include read,
only for plain data (attributes of objects this schema built, scalars, enums, unions of such
objects); each object function remembers the object it completed last, so a team message that
reaches a thousand members' sessions as one object is completed once.
"""

from __future__ import annotations

from typing import Any

from gateway.fastpath.collect import Collector, NotCompilable
from gateway.fastpath.completion import Complete, Completion


class CompiledSubscription:
    """One subscription operation's selection, compiled: ``render(event)`` is its data."""

    def __init__(self, steps: list[tuple[str, Complete]]) -> None:
        self._steps = steps

    def render(self, event: Any) -> dict[str, Any]:
        """The data of ``event``; raises (``Deopt`` or the error graphql-core would report)
        when the general path must answer."""
        return {key: complete(event, None, None) for key, complete in self._steps}


def compile_subscription(collector: Collector) -> CompiledSubscription | None:
    root = collector.schema.subscription_type
    if root is None:
        return None
    completion = Completion(collector, memo=True)
    steps: list[tuple[str, Complete]] = []
    try:
        for key, details in collector.roots(root):
            field = root.fields.get(details[0].node.name.value)
            if field is None:
                return None
            steps.append((key, completion.completer(field.type, details)))
    except NotCompilable:
        return None
    return CompiledSubscription(steps)
