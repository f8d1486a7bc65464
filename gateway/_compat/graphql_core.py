"""graphql-core's surface that is not its public API (``graphql.__all__``), used by the gateway.

- ``collect_fields``: the field collection of graphql-core's executor (fragments spread once,
  merging, response-key order, @defer usages), which the compiled queries use so that they collect
  exactly as graphql-core does. Public in graphql-js, not exported by graphql-core 3.3.
- The executor's ``execute_collected_subfields`` (overridden by ``schema/execution.py``'s plans)
  and ``collect_subfields`` (called by them): methods of ``IncrementalExecutor`` (the executor
  Strawberry's extends, in ``graphql.execution.incremental``), not documented.
"""

from __future__ import annotations

from graphql.execution.collect_fields import collect_fields
from graphql.execution.incremental.incremental_executor import IncrementalExecutor

from gateway._compat import expect_parameters

__all__ = ["check", "collect_fields"]

LIBRARY = "graphql-core"
MODULE = "graphql_core"

# What is called or overridden, and the parameters this code passes or receives.
EXPECTED = {
    "collect_fields": ["schema", "fragments", "variable_values", "runtime_type", "operation",
                       "hide_suggestions"],
    "IncrementalExecutor.execute_collected_subfields": ["self", "parent_type", "source_value",
                                                     "path", "grouped_field_set",
                                                     "new_defer_usages", "delivery_group_map"],
    "IncrementalExecutor.collect_subfields": ["self", "return_type", "field_details_list"],
}  # fmt: skip


def check() -> None:
    import graphql.execution.collect_fields as module

    expect_parameters(LIBRARY, MODULE, module, "collect_fields", EXPECTED["collect_fields"])
    for method in ("execute_collected_subfields", "collect_subfields"):
        expected = EXPECTED[f"IncrementalExecutor.{method}"]
        expect_parameters(LIBRARY, MODULE, IncrementalExecutor, method, expected)
