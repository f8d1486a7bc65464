"""The one completer builder: how a field's value becomes its part of the response, written as
Python source once per selection and compiled.

For each selection set it writes one function ``(v, p, st)``: read each field of the object
``v`` (an attribute, for a field Strawberry resolves by reading one; a call of the field's
resolver otherwise, where the caller allows them), check nulls where the type is non-null,
serialize leaves (a ``str`` for a String is itself; anything else goes through the type's own
coercion) and build the response dict in the document's order. ``p`` is the field's path (only
built where a resolver below needs one), ``st`` the request's pending resolver results.

Compiled code produces only clean results: whatever it does not expect (a null in a non-null
field, a value a scalar does not coerce, an object of another class) raises ``Deopt``, and
graphql-core's general executor answers instead, as it always did, errors and all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from inspect import isawaitable
from typing import Any, Protocol

from graphql import (
    GraphQLAbstractType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)
from graphql.pyutils import Path
from graphql.type.scalars import GraphQLBoolean, GraphQLID, GraphQLInt, GraphQLString

from gateway._compat import strawberry as sb
from gateway.fastpath.collect import Collected, Collector, NotCompilable

Complete = Callable[[Any, Any, Any], Any]


class Deopt(Exception):
    """Compiled code met something only graphql-core's general executor answers exactly."""


class ResolverCalls(Protocol):
    """How compiled code calls a field's resolver: ``(source, path, pending) -> value``."""

    def __call__(
        self, parent: GraphQLObjectType, field: GraphQLField, details: Sequence[Any]
    ) -> Callable[[Any, Path, Any], Any]: ...


def _deopt(*_: Any) -> Any:
    raise Deopt


class Completion:
    """Writes the completion functions of one operation. Without ``calls``, only fields that
    read an attribute compile (subscription events, plans inside graphql-core's executor);
    with ``memo``, an object function returns the data of the object it completed last when
    given it again (a team message fans out as one object to a thousand members' events)."""

    def __init__(
        self, collector: Collector, *, calls: ResolverCalls | None = None, memo: bool = False
    ) -> None:
        self._collector = collector
        self._schema = collector.schema
        self._calls = calls
        self._memo = memo
        self._namespace: dict[str, Any] = {
            "Deopt": Deopt, "Path": Path, "isawaitable": isawaitable, "deopt": _deopt,
        }  # fmt: skip
        self._count = 0

    def completer(self, return_type: GraphQLOutputType, details: Sequence[Any]) -> Complete:
        """A function (value, path, pending) -> the completed value of a field of this type."""
        name = self._fresh("c")
        lines = [f"def {name}(x, p, st):"]
        lines += self._complete(return_type, details, "x", "return {}", "p", "    ")
        completer: Complete = self._define(name, lines)
        return completer

    def _define(self, name: str, lines: list[str]) -> Any:
        source = "\n".join(lines)
        exec(compile(source, f"<compiled query {name}>", "exec"), self._namespace)  # noqa: S102
        return self._namespace[name]

    def _fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def _const(self, value: Any, prefix: str) -> str:
        name = self._fresh(prefix)
        self._namespace[name] = value
        return name

    def _complete(
        self,
        return_type: GraphQLOutputType,
        details: Sequence[Any],
        var: str,
        into: str,
        path: str,
        indent: str,
    ) -> list[str]:
        """Statements completing ``var`` (of ``return_type``) and storing it by ``into``, a
        format string (``"r['key'] = {}"``, ``"return {}"``)."""
        if isinstance(return_type, GraphQLNonNull):
            lines = [f"{indent}if {var} is None: raise Deopt"]
            return lines + self._non_null(return_type.of_type, details, var, into, path, indent)
        lines = [f"{indent}if {var} is None:", f"{indent}    {into.format('None')}",
                 f"{indent}else:"]  # fmt: skip
        return lines + self._non_null(return_type, details, var, into, path, indent + "    ")

    def _non_null(
        self,
        return_type: GraphQLOutputType,
        details: Sequence[Any],
        var: str,
        into: str,
        path: str,
        indent: str,
    ) -> list[str]:
        if is_leaf_type(return_type):
            assert isinstance(return_type, GraphQLLeafType)
            return [f"{indent}{into.format(self._leaf(return_type, var))}"]
        if isinstance(return_type, GraphQLList):
            item = self._const(self.completer(return_type.of_type, details), "li")
            # graphql-core completes any iterable; ours are lists (anything else: Deopt).
            check = f"{indent}if type({var}) is not list: raise Deopt"
            if path == "None":
                value = f"[{item}(i, None, st) for i in {var}]"
            else:
                value = f"[{item}(i, Path({path}, n, None), st) for n, i in enumerate({var})]"
            return [check, f"{indent}{into.format(value)}"]
        if isinstance(return_type, GraphQLObjectType):
            collected = self._collector.subfields(return_type, details)
            name = self._const(self.object_fields(return_type, collected), "o")
            return [f"{indent}{into.format(f'{name}({var}, {path}, st)')}"]
        if is_abstract_type(return_type):
            assert isinstance(return_type, GraphQLAbstractType)
            # Each possible type's objects are of its Strawberry class, which is how Strawberry
            # resolves the type of such an object; an object of any other class: Deopt.
            by_class = {}
            for possible in self._schema.get_possible_types(return_type):
                origin = sb.object_origin(possible)
                if origin is None:
                    raise NotCompilable
                collected = self._collector.subfields(possible, details)
                function = self.object_fields(possible, collected)
                by_class.update(dict.fromkeys(_classes(origin), function))
            table = self._const(by_class, "by_class")
            value = f"{table}.get(type({var}), deopt)({var}, {path}, st)"
            return [f"{indent}{into.format(value)}"]
        raise NotCompilable

    def _leaf(self, leaf: GraphQLLeafType, var: str) -> str:
        coerce = self._const(_checked(leaf), "s")
        if leaf is GraphQLString or leaf is GraphQLID:
            return f"({var} if type({var}) is str else {coerce}({var}))"
        if leaf is GraphQLBoolean:
            return f"({var} if type({var}) is bool else {coerce}({var}))"
        if leaf is GraphQLInt:
            fits = f"type({var}) is int and -2147483648 <= {var} <= 2147483647"
            return f"({var} if {fits} else {coerce}({var}))"
        return f"{coerce}({var})"

    def object_fields(self, object_type: GraphQLObjectType, collected: Collected) -> Complete:
        """A function (object, path, pending) -> the data of ``collected`` (fields already
        collected on ``object_type``)."""
        name = self._fresh("o")
        lines = [f"def {name}(v, p, st):"]
        memo = self._const([None, None], "m") if self._memo else None
        if memo is not None:
            lines.append(f"    if v is {memo}[0]: return {memo}[1]")
        if object_type.is_type_of is not None:
            # Strawberry checks the object's class (types that implement an interface): an
            # object of the type's class (or a subclass: schema/types.py's views) passes;
            # graphql-core decides any other.
            origin = sb.object_origin(object_type)
            if origin is None:
                raise NotCompilable
            classes = self._const(_classes(origin), "cls")
            lines.append(f"    if type(v) not in {classes}: raise Deopt")
        lines.append("    r = {}")
        for key, field_details in collected:
            lines += self._field(object_type, key, field_details)
        if memo is not None:
            lines.append(f"    {memo}[0] = v; {memo}[1] = r")
        lines.append("    return r")
        function: Complete = self._define(name, lines)
        return function

    def _field(self, object_type: GraphQLObjectType, key: str, details: Sequence[Any]) -> list[str]:
        node = details[0].node
        target = f"r[{key!r}]"
        if node.name.value == "__typename":
            return [f"    {target} = {object_type.name!r}"]
        field = object_type.fields.get(node.name.value)
        if field is None or field.args or node.arguments:
            raise NotCompilable
        field_path = f"Path(p, {key!r}, {object_type.name!r})"
        attribute = sb.attribute_name(field)
        if attribute is not None:
            child_path = field_path if self._needs_path(field.type, details) else "None"
            return [f"    x = v.{attribute}",
                    *self._complete(field.type, details, "x", target + " = {}", child_path,
                                    "    ")]  # fmt: skip
        if self._calls is None:
            raise NotCompilable  # a resolver: only where the caller can call them
        # A field with a resolver of its own: called as graphql-core would, awaited later.
        call = self._const(self._calls(object_type, field, details), "rc")
        complete = self._const(self.completer(field.type, details), "fc")
        return [
            f"    fp = {field_path}",
            f"    x = {call}(v, fp, st)",
            "    if isawaitable(x):",
            f"        {target} = None",
            f"        st.entries.append((r, {key!r}, x, {complete}, fp))",
            "    else:",
            f"        {target} = {complete}(x, fp, st)",
        ]

    def _needs_path(self, return_type: GraphQLOutputType, details: Sequence[Any]) -> bool:
        """Whether a field with a resolver is selected below: its resolve info has a path, so
        the objects above it make theirs."""
        if self._calls is None:
            return False
        named = get_named_type(return_type)
        if isinstance(named, GraphQLObjectType):
            types = [named]
        elif isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            types = list(self._schema.get_possible_types(named))
        else:
            return False
        for object_type in types:
            for _, field_details in self._collector.subfields(object_type, details):
                name = field_details[0].node.name.value
                field = object_type.fields.get(name)
                if name == "__typename" or field is None:
                    continue
                if sb.attribute_name(field) is None or self._needs_path(field.type, field_details):
                    return True
        return False


def _classes(origin: type) -> frozenset[type]:
    """``origin`` and its subclasses (as ``isinstance`` accepts them, Strawberry's check)."""
    found = {origin}
    subclass: type
    for subclass in origin.__subclasses__():
        found |= _classes(subclass)
    return frozenset(found)


def _checked(leaf: GraphQLLeafType) -> Callable[[Any], Any]:
    coerce = leaf.coerce_output_value if hasattr(leaf, "coerce_output_value") else leaf.serialize

    def complete(value: Any) -> Any:
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise Deopt
        return coerced

    return complete
