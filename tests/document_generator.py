"""Random valid GraphQL documents over the gateway's schema, for the generated differential test
(tests/test_generated_documents.py).

``generate(schema, seed, samples)`` writes one query (or, with ``subscription=True``, one
subscription) from what the schema declares, the same document for the same seed: fields chosen
at random, the same field twice under different aliases, merged duplicates of one response key
(each with a sub-selection of its own), ``__typename``, inline fragments (with and without a type
condition, on the object, its interfaces and its unions), named fragments spread more than once,
``@include``/``@skip`` with literal and variable conditions, and arguments written as literals
or as variables (whole, or items of lists and fields of input objects).

Argument values come from ``values``: for each argument (and each list item and input field),
values the resolvers take and values at and past every edge: out of range, of the wrong type,
forged cursors and sync tokens, unknown ids and ids of the wrong kind; null wherever the type
allows it. Each document comes with sets of variables: ``usable`` (values the resolvers take),
``edges`` (any value, null or omitted) and ``nulls`` (every optional variable null or omitted,
the conditions of directives too). Every document passes ``graphql.validate``: the generator
asserts it.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLCompositeType,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    Undefined,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_composite_type,
    parse,
    parse_value,
    validate,
    value_from_ast,
)
from graphql.type import GraphQLBoolean

from gateway.domain.sync import SyncPosition
from gateway.schema.ids import group_global_id, parse_group_id
from tests.differential import Samples, global_id
from tests.helpers import T0

Variables = dict[str, Any]

MAX_DEPTH = 5  # selection sets nested below the root one (the gateway refuses past 12)
PAGED = {"sessions", "sessionChanges"}  # at most three of them: each costs up to 100 sessions
_OMITTED = object()


@dataclass(frozen=True)
class Choices:
    usable: tuple[Any, ...]
    edges: tuple[Any, ...]


def values(samples: Samples) -> dict[str, Choices]:
    """Values for each argument (by its field and name where fields differ, else by name), each
    input field (by name) and each item of a list (by the name without its ``s``)."""
    group = samples.group
    sessions = ("p2p|bob", global_id("p2p|carol"), global_id("team|1001"), "super_team|3001",
                "p2p|dave")  # fmt: skip
    groups = (group, parse_group_id(group))
    unknown = ("p2p|nobody", "p2p|peer15", global_id("p2p|nobody"), group_global_id("nobody"))
    malformed = ("team|", "U2Vzc2lvbjo=", "not an id", "", 1001, "p2p|" + "x" * 129)
    session_ids = Choices(sessions, unknown + malformed + groups)
    node_ids = Choices((*sessions, group), unknown + malformed + groups[1:])
    times = (0, -1, -62135596800001, 253402300799999, 253402300800000, 2**53,
             "1969-12-31T23:59:59.999Z", "2026-09-21T14:13:20", "yesterday", True, 1.5)  # fmt: skip
    booleans = Choices((True, False), ("true", 0))
    return {
        "first": Choices((1, 2, 3, 20, 100),
                         (0, -1, 101, 2147483647, 2147483648, -2147483649, "3", 2.5, 3.0)),
        "after": Choices((samples.cursor,), ("djEuZm9yZ2Vk", "", "not a cursor",
                                             samples.token, samples.cursor[:-2], 7)),
        "minTimestamp": Choices((T0, T0 + 150, "2026-09-21T14:13:20.300Z",
                                 "2026-09-21T22:13:20.600+08:00"), times),
        "maxTimestamp": Choices((T0 + 450, T0 + 10_000, "2026-09-21T14:13:20.500Z"), times),
        "types": Choices((["P2P"], ["TEAM", "SUPER_TEAM"], "P2P", ["P2P", "TEAM", "SUPER_TEAM"]),
                         ([], ["P2P", "P2P"], ["NOPE"], [None], "p2p", 1)),
        "type": Choices(("P2P", "TEAM", "SUPER_TEAM"), ("NOPE", "p2p", 0)),
        "onlyUnread": booleans,
        "pinned": booleans,
        "pinnedFirst": booleans,
        "muted": booleans,
        "includeMuted": booleans,
        # A condition's edges are null and omitted (the nulls set); a string only now and then.
        "if": Choices((True, False), (True, False, "true")),
        "groupId": Choices(groups, (group_global_id("nobody"), "no-such-group",
                                    global_id("p2p|bob"), "", "with space", "g" * 129, 5)),
        "session.id": session_ids,
        "sessionsByIds.id": session_ids,
        "node.id": node_ids,
        "nodes.id": node_ids,
        "sessionGroup.id": Choices(groups, (group_global_id("nobody"), "nobody",
                                            global_id("p2p|bob"), "", "with space", 5)),
        "sessionsByIds.ids": Choices(([sessions[0], sessions[1], "p2p|nobody"], ["team|1001"],
                                      "p2p|carol"),
                                     ([], ["p2p|bob"] * 101, [None], ["p2p|bob", "p2p|bob"],
                                      ["not an id"], [group], [1001])),
        "nodes.ids": Choices(([sessions[0], group, "p2p|nobody"], [group], "p2p|carol"),
                             ([], [group] * 101, [None], [group, group], ["not an id"],
                              [groups[1]], [1001])),
        "since": Choices((samples.token,),
                         ("c3YxLmZvcmdlZA", "", _token([1, None]), SyncPosition(2**62).token(),
                          _token([2, -1, None]), samples.cursor, 7)),
        "filter": Choices(({}, {"types": ["P2P"]}, {"groupId": group},
                           {"includeMuted": True, "types": ["TEAM", "SUPER_TEAM"]},
                           {"includeMuted": False}),
                          ({"groupId": global_id("p2p|bob")}, {"noSuchField": 1},
                           {"types": ["NOPE"]}, {"includeMuted": None, "types": None},
                           {"groupId": "no-such-group"}, "P2P", [])),
    }  # fmt: skip


def _token(payload: object) -> str:
    """A sync token of any payload (tokens are base64url JSON without padding)."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Generated:
    text: str
    operation_name: str | None
    variable_sets: list[tuple[str, Variables]]  # each named: usable, edges, nulls, as written
    operations: int  # 2: a second operation is there, and the operation must be named


def generate(
    schema: GraphQLSchema, seed: int, samples: Samples, *, subscription: bool = False
) -> Generated:
    rng = random.Random(seed)
    writer = _Writer(schema, rng, values(samples), directives=rng.random() < 0.5)
    text, name, operations = writer.document(subscription=subscription)
    errors = validate(schema, parse(text))
    assert not errors, f"seed {seed} wrote an invalid document: {errors}\n{text}"
    return Generated(text, name, writer.variable_sets(), operations)


@dataclass(frozen=True)
class _Variable:
    role: str
    type: GraphQLInputType  # as declared
    default: str | None  # its literal


@dataclass(frozen=True)
class _Head:
    """A field as written, but for its directives and sub-selection: what a duplicate repeats."""

    alias: str | None
    name: str
    arguments: str
    field: GraphQLField


class _Writer:
    def __init__(
        self, schema: GraphQLSchema, rng: random.Random, choices: dict[str, Choices],
        *, directives: bool,
    ) -> None:  # fmt: skip
        self.schema = schema
        self.rng = rng
        self.choices = choices
        self.directives = directives
        self.variables: dict[str, _Variable] = {}
        self.fragments: dict[str, tuple[GraphQLCompositeType, str]] = {}
        self.writing: set[str] = set()  # fragments being written (none spreads itself)
        # The arguments a field (by parent type and name) is written with where it has no
        # alias: any other arguments need one, or the fields would not merge.
        self.unaliased: dict[tuple[str, str], str] = {}
        self.numbers = itertools.count(1)
        self.paged = 0
        self.composites = [
            t for name, t in schema.type_map.items()
            if is_composite_type(t) and not name.startswith("__")
        ]  # fmt: skip

    # The document --------------------------------------------------------------------------

    def document(self, *, subscription: bool) -> tuple[str, str | None, int]:
        if subscription:
            root = self.schema.subscription_type
            assert root is not None
            selection = "{ " + self.field(root, 1, [], plain=True) + " }"
        else:
            root = self.schema.query_type
            assert root is not None
            selection = self.selection_set(root, 1)
        kind = "subscription" if subscription else "query"
        other = not subscription and self.rng.random() < 0.1
        name = "Generated" if other or self.rng.random() < 0.3 else None
        definitions = ", ".join(
            f"${n}: {v.type}" + ("" if v.default is None else f" = {v.default}")
            for n, v in self.variables.items()
        )
        head = " ".join(filter(None, (kind, name, definitions and f"({definitions})")))
        parts = [f"{head} {selection}" if head != "query" or self.rng.random() < 0.5 else selection]
        parts += [text for _, text in self.fragments.values()]
        if other:
            parts.append("query Other { totalUnreadCount }")
        self.rng.shuffle(parts)
        return "\n".join(parts), name, 2 if other else 1

    def variable_sets(self) -> list[tuple[str, Variables]]:
        """``usable``: values the resolvers take; ``edges``: mostly those, else any value, null
        or none; ``nulls``: null or none for each variable that may be (those of directives
        too), usable values for the rest."""
        if not self.variables:
            return [("as written", {})]
        sets = []
        for label in ("usable", "edges", "nulls"):
            picked = {name: self.pick(v, label) for name, v in self.variables.items()}
            sets.append((label, {k: v for k, v in picked.items() if v is not _OMITTED}))
        return sets

    def pick(self, variable: _Variable, label: str) -> Any:
        """A value for ``variable`` in the set ``label`` (or ``_OMITTED``)."""
        choices = self.choices[variable.role]
        optional = not isinstance(variable.type, GraphQLNonNull) or variable.default is not None
        if label == "usable" or (label == "nulls" and not optional):
            return self.rng.choice(choices.usable)
        roll = self.rng.random()
        if label == "nulls" or roll > 0.85:
            return self.rng.choice((None, _OMITTED))
        return self.rng.choice(choices.usable if roll < 0.55 else choices.edges)

    # Selections ----------------------------------------------------------------------------

    def selection_set(self, parent: GraphQLCompositeType, depth: int) -> str:
        written: list[_Head] = []
        count = self.rng.choice((1, 2, 2, 3, 3, 4))
        return "{ " + " ".join(self.selection(parent, depth, written) for _ in range(count)) + " }"

    def selection(self, parent: GraphQLCompositeType, depth: int, written: list[_Head]) -> str:
        weights = {
            "again": 12 if written else 0,  # the same response key again: merged
            "__typename": 8,
            "inline fragment": 12,
            "spread": 10,
            "field": 58 if getattr(parent, "fields", None) else 0,  # a union has none
        }
        [kind] = self.rng.choices(list(weights), list(weights.values()))
        if kind == "again":
            return self.write(self.rng.choice(written), depth)
        if kind == "__typename":
            return self.typename()
        if kind == "inline fragment":
            condition = self.rng.choice([None, *self.conditions(parent)])
            on = "" if condition is None else f" on {condition}"
            inner = parent if condition is None else condition
            return f"...{on}{self.directive()} {self.selection_set(inner, depth)}"
        if kind == "spread":
            return f"...{self.fragment(parent, depth)}{self.directive()}"
        return self.field(parent, depth, written)

    def typename(self) -> str:
        alias = f"kind{next(self.numbers)}: " if self.rng.random() < 0.2 else ""
        return f"{alias}__typename{self.directive()}"

    def field(
        self, parent: GraphQLCompositeType, depth: int, written: list[_Head], *, plain: bool = False
    ) -> str:
        fields = getattr(parent, "fields", {})
        names = [
            name for name, f in fields.items()
            if (depth < MAX_DEPTH or not is_composite_type(get_named_type(f.type)))
            and (name not in PAGED or self.paged < 3)
        ]  # fmt: skip
        if not names:
            return self.typename()
        name = self.rng.choice(names)
        self.paged += name in PAGED
        field = fields[name]
        arguments = self.arguments(name, field)
        alias: str | None = f"{name}{next(self.numbers)}"
        if self.rng.random() > 0.25:
            known = self.unaliased.setdefault((parent.name, name), arguments)
            alias = None if known == arguments else alias
        head = _Head(alias, name, arguments, field)
        written.append(head)
        return self.write(head, depth, plain=plain)

    def write(self, head: _Head, depth: int, *, plain: bool = False) -> str:
        alias = "" if head.alias is None else f"{head.alias}: "
        text = f"{alias}{head.name}{head.arguments}{'' if plain else self.directive()}"
        named = get_named_type(head.field.type)
        if is_composite_type(named):
            text += " " + self.selection_set(named, depth + 1)
        return text

    def conditions(self, parent: GraphQLCompositeType) -> list[GraphQLCompositeType]:
        """The types a fragment in ``parent`` can be on: those sharing a possible type."""
        mine = set(self._possible(parent))
        return [t for t in self.composites if mine & set(self._possible(t))]

    def _possible(self, kind: GraphQLCompositeType) -> list[str]:
        if is_abstract_type(kind):
            return [t.name for t in self.schema.get_possible_types(kind)]
        return [kind.name]

    def fragment(self, parent: GraphQLCompositeType, depth: int) -> str:
        """A named fragment that can be spread in ``parent``: one written before, or a new one."""
        fits = set(map(str, self.conditions(parent)))
        known = [n for n, (on, _) in self.fragments.items() if str(on) in fits
                 and n not in self.writing]  # fmt: skip
        if known and self.rng.random() < 0.5:
            return self.rng.choice(known)
        name = f"F{next(self.numbers)}"
        on = self.rng.choice(self.conditions(parent))
        self.writing.add(name)
        self.fragments[name] = (on, "")  # reserved: spread from its own body it is not
        body = self.selection_set(on, depth)
        self.fragments[name] = (on, f"fragment {name} on {on} {body}")
        self.writing.discard(name)
        return name

    def directive(self) -> str:
        if not self.directives or self.rng.random() > 0.25:
            return ""
        written = []
        for name in self.rng.sample(("include", "skip"), self.rng.choice((1, 1, 2))):
            condition = self.rng.choice(("true", "false", "$", "$"))
            if condition == "$":
                condition = self.variable(GraphQLNonNull(GraphQLBoolean), "if")
            written.append(f" @{name}(if: {condition})")
        return "".join(written)

    # Arguments -----------------------------------------------------------------------------

    def arguments(self, field_name: str, field: GraphQLField) -> str:
        written = []
        for name, argument in field.args.items():
            required = isinstance(argument.type, GraphQLNonNull)
            if required or self.rng.random() < 0.5:
                role = f"{field_name}.{name}" if f"{field_name}.{name}" in self.choices else name
                written.append(f"{name}: {self.value(argument.type, role)}")
        self.rng.shuffle(written)
        return f"({', '.join(written)})" if written else ""

    def value(self, kind: GraphQLInputType, role: str) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return self.variable(kind, role)
        nullable = get_nullable_type(kind)
        if isinstance(nullable, GraphQLList) and roll < 0.65:
            item = role.removesuffix("s")
            count = self.rng.choice((0, 1, 2, 3))
            return "[" + ", ".join(self.value(nullable.of_type, item) for _ in range(count)) + "]"
        if isinstance(nullable, GraphQLInputObjectType) and roll < 0.8:
            fields = [f"{name}: {self.value(f.type, name)}" for name, f in nullable.fields.items()
                      if self.rng.random() < 0.6]  # fmt: skip
            return "{" + ", ".join(fields) + "}"
        return self.literal(kind, role)

    def literal(self, kind: GraphQLInputType, role: str, *, usable: bool = False) -> str:
        """A literal of ``kind`` for ``role``: mostly one the resolvers take, else any of its
        edges that is a literal of ``kind`` (null too, where allowed); with ``usable``, always
        one the resolvers take."""
        choices = self.choices[role]
        edgy = not usable and self.rng.random() < 0.3
        candidates = [*choices.edges, None] if edgy else [*choices.usable]
        literals = [t for t in (_literal(v, kind) for v in candidates)
                    if t is not None and _valid(t, kind)]  # fmt: skip
        if not literals:
            assert edgy, f"no usable literal of {kind} for {role}"
            return self.literal(kind, role, usable=True)
        return self.rng.choice(literals)

    def variable(self, kind: GraphQLInputType, role: str) -> str:
        for name, known in self.variables.items():
            if known.role == role and str(known.type) == str(kind) and self.rng.random() < 0.4:
                return f"${name}"
        declared, default = kind, None
        roll = self.rng.random()
        if not isinstance(kind, GraphQLNonNull):
            if roll < 0.25:
                declared = GraphQLNonNull(kind)
            elif roll < 0.5:
                default = self.literal(kind, role)
        elif roll < 0.4:  # nullable, with a default: null is refused where it is used
            declared, default = kind.of_type, self.literal(kind, role, usable=True)
        name = f"{role.rpartition('.')[2]}{next(self.numbers)}"
        self.variables[name] = _Variable(role, declared, default)
        return f"${name}"


def _literal(value: Any, kind: GraphQLInputType) -> str | None:
    """``value`` written as a GraphQL literal for ``kind`` (not necessarily a valid one), or
    None when it cannot be written as one (an input object's unknown field)."""
    if value is None:
        return "null"
    nullable = get_nullable_type(kind)
    if isinstance(nullable, GraphQLList):
        if not isinstance(value, list):
            return _literal(value, nullable.of_type)
        items = [_literal(v, nullable.of_type) for v in value]
        return None if None in items else "[" + ", ".join(map(str, items)) + "]"
    if isinstance(nullable, GraphQLInputObjectType) and isinstance(value, dict):
        if not value.keys() <= nullable.fields.keys():
            return None
        fields = {k: _literal(v, nullable.fields[k].type) for k, v in value.items()}
        if None in fields.values():
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"
    if isinstance(nullable, GraphQLEnumType) and isinstance(value, str):
        return value if value.isidentifier() else json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return None  # value_from_ast takes 3.0 for an Int; validation does not
    return json.dumps(value)


def _valid(text: str, kind: GraphQLInputType) -> bool:
    try:
        node = parse_value(text)
    except Exception:
        return False
    return value_from_ast(node, kind) is not Undefined
