"""The fast path: operations compiled to straight-line Python, and where they are not,
graphql-core as always.

One entry, ``compile_operation``: an operation of a document (a query or a subscription) compiled
into what answers it (``CompiledQuery.run``: a request's data) or renders its events
(``CompiledSubscription.render``: an event's data). Inside:

- ``collect.py``: which fields are selected, graphql-core's own field collection (the one
  collector), evaluated once per compilation;
- ``completion.py``: the one completer builder (a field's value to its response value, as
  generated source) and the one bail-out, ``Deopt``: compiled code produces only clean results,
  and hands graphql-core whatever it does not expect, which answers as it always did;
- ``query.py``: queries (root resolvers, resolvers below them awaited together);
- ``events.py``: subscription events (plain data, each object completed once per fan-out);
- ``planner.py``: plain sub-selections of what graphql-core still executes (mutations, a query's
  first execution), completed by the same builder from inside graphql-core's executor.

What is not compiled (mutations, documents with directives, @defer, resolvers with arguments
below the root, fragment arguments) runs on graphql-core. ``tests/test_differential.py`` runs
every operation of ``clients/``, ``docs/`` and the suite through both and requires identical
responses; ``tests/test_generated_documents.py`` does the same for random valid documents.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)

from gateway.fastpath.collect import Collector, directive_free, directive_variables
from gateway.fastpath.completion import Deopt
from gateway.fastpath.events import CompiledSubscription, compile_subscription
from gateway.fastpath.planner import PlanningExecutionContext
from gateway.fastpath.query import CompiledQuery, compile_query

__all__ = [
    "CompiledQuery",
    "CompiledSubscription",
    "Deopt",
    "PlanningExecutionContext",
    "QueryCache",
    "compile_operation",
    "directive_variables",
]

logger = logging.getLogger(__name__)


def compile_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    *,
    hide_suggestions: bool = False,
) -> CompiledQuery | CompiledSubscription | None:
    """``operation`` compiled, or None when it needs graphql-core's general executor.
    ``variables`` are the coerced values (as resolvers see them); only the directives of a
    subscription read them (a query with directives is not compiled)."""
    collector = Collector(schema, operation, fragments, variables,
                          hide_suggestions=hide_suggestions)  # fmt: skip
    if operation.operation is OperationType.SUBSCRIPTION:
        return compile_subscription(collector)
    if operation.operation is OperationType.QUERY and directive_free(operation, fragments.values()):
        return compile_query(collector)
    return None


class QueryCache:
    """Compiles query documents once, after graphql-core has executed them once: ``learn`` is
    called with a document that parsed and validated; ``get`` returns its compiled query."""

    def __init__(self, *, hide_suggestions: bool, maxsize: int = 256) -> None:
        self._hide_suggestions = hide_suggestions
        # By the document's text and the operation asked for; None: not compilable.
        self._compiled: LRUCache[tuple[str, str | None], CompiledQuery | None] = LRUCache(maxsize)

    def get(self, query: str, operation_name: str | None) -> CompiledQuery | None:
        return self._compiled.get((query, operation_name))

    def learn(
        self,
        schema: GraphQLSchema,
        query: str | None,
        document: DocumentNode,
        operation_name: str | None,
    ) -> None:
        """``operation_name``: the operation executed (its name, or None when it has none).
        A document of one operation is also what a request without a name asks for."""
        if query is None or (query, operation_name) in self._compiled:
            return
        compiled = None
        operation = get_operation_ast(document, operation_name)
        if operation is not None and operation.operation is OperationType.QUERY:
            definitions = document.definitions
            fragments = {
                d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)
            }
            try:
                found = compile_operation(schema, operation, fragments, {},
                                          hide_suggestions=self._hide_suggestions)  # fmt: skip
            except Exception:
                # Compiling leans on graphql-core's and Strawberry's internals (both pinned); if
                # one changed under it, the document runs through graphql-core as it always could.
                logger.warning("could not compile a query; it runs uncompiled", exc_info=True)
            else:
                compiled = found if isinstance(found, CompiledQuery) else None
        self._compiled[(query, operation_name)] = compiled
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) == 1:
            self._compiled[(query, None)] = compiled
