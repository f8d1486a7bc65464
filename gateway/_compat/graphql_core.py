"""graphql-core's surface that is not its public API (``graphql.__all__``), used by the gateway.

- ``collect_fields`` and ``collect_subfields`` (with ``FragmentDetails``, the fragments they
  take): the field collection of graphql-core's executor (fragments spread once, merging,
  response-key order, @skip/@include, @defer usages), which compiled code uses (``fastpath/
  collect.py``) so that it collects exactly as graphql-core does. Public in graphql-js, not
  exported by graphql-core 3.3.
- The executor's ``execute_collected_subfields``, overridden by ``fastpath/planner.py``'s
  plans: a method of ``IncrementalExecutor`` (the executor Strawberry's extends, in
  ``graphql.execution.incremental``), not documented.
"""

from __future__ import annotations

from graphql.execution.collect_fields import FragmentDetails, collect_fields, collect_subfields
from graphql.execution.incremental.incremental_executor import IncrementalExecutor

from gateway._compat import IncompatibleLibrary, expect_parameters

__all__ = ["FragmentDetails", "check", "collect_fields", "collect_subfields"]

LIBRARY = "graphql-core"
MODULE = "graphql_core"

# What is called or overridden, and the parameters this code passes or receives.
EXPECTED = {
    "collect_fields": ["schema", "fragments", "variable_values", "runtime_type", "operation",
                       "hide_suggestions"],
    "collect_subfields": ["schema", "fragments", "variable_values", "operation", "return_type",
                          "field_details_list", "hide_suggestions"],
    "IncrementalExecutor.execute_collected_subfields": ["self", "parent_type", "source_value",
                                                     "path", "grouped_field_set",
                                                     "new_defer_usages", "delivery_group_map"],
}  # fmt: skip


def check() -> None:
    import graphql.execution.collect_fields as module

    for function in ("collect_fields", "collect_subfields"):
        expect_parameters(LIBRARY, MODULE, module, function, EXPECTED[function])
    method = "execute_collected_subfields"
    expected = EXPECTED[f"IncrementalExecutor.{method}"]
    expect_parameters(LIBRARY, MODULE, IncrementalExecutor, method, expected)
    if FragmentDetails._fields[:1] != ("definition",):
        what = "FragmentDetails no longer starts with the fragment's definition"
        raise IncompatibleLibrary(LIBRARY, what, MODULE)
