"""Every use of a library's private or undocumented surface, one module per library.

The gateway leans on a few internals of the libraries it pins (pyproject.toml) where their public
API has no way to do what it needs: its compiled queries build graphql-core's resolve info and
collect fields as graphql-core does, its plans hook graphql-core's executor, its WebSocket handlers
refine Strawberry's. Each such use is named in the module of its library, and nowhere else:

- ``_compat.graphql_core``: ``collect_fields`` and the executor's sub-field methods;
- ``_compat.strawberry``: field and type definitions behind the GraphQL schema, the resolve info
  Strawberry's executor builds, its executor's ``build``, ``Info``'s raw info, how its resolver
  wrapper calls a resolver, the schema's
  ``_execute_operation`` hook, its validation rules and its WebSocket handlers' hooks;
- ``_compat.uvicorn``: the HTTP and WebSocket protocols the server extends (their callbacks and
  state), ``STATUS_LINE``, and ``Server._serve``;
- ``_compat.websockets``: the sans-I/O connection under uvicorn's WebSocket protocol.

``check()`` runs each module's own check at start-up (``build_schema`` calls it): a library
whose internals are not what this code was written for stops the start with one line naming the
library, its version and what changed, instead of wrong answers later. ``tests/test_compat.py``
holds the behaviour each module relies on, so that upgrading a pin fails there first.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from gateway.errors import ConfigurationError


class IncompatibleLibrary(ConfigurationError):
    """An installed library's internals are not what ``gateway/_compat`` was written for."""

    def __init__(self, library: str, what: str, module: str) -> None:
        super().__init__(
            f"{library} {installed(library)}: {what}; the gateway is written for the version "
            f"pyproject.toml pins (see gateway/_compat/{module}.py)"
        )
        self.library = library


def installed(library: str) -> str:
    try:
        return version(library)
    except PackageNotFoundError:
        return "(not installed)"


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def expect_parameters(
    library: str, module: str, owner: object, name: str, expected: Sequence[str]
) -> None:
    """Fails unless ``owner.name`` exists and takes ``expected`` as its first parameters."""
    found = getattr(owner, name, None)
    label = f"{getattr(owner, '__name__', owner)}.{name}"
    if found is None:
        raise IncompatibleLibrary(library, f"{label} is gone", module)
    got = parameters(found)
    if got[: len(expected)] != list(expected):
        raise IncompatibleLibrary(
            library, f"{label} takes ({', '.join(got)}), not ({', '.join(expected)})", module
        )


def check() -> None:
    """Every library's check; raises :class:`IncompatibleLibrary` for the first that fails."""
    from gateway._compat import graphql_core, strawberry, uvicorn, websockets

    for library in (graphql_core, strawberry, uvicorn, websockets):
        library.check()
