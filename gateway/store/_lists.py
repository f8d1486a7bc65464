"""SQL for reading a viewer's list: pages, counts and "anything before?" for any filters, in
the SQL that SQLite and PostgreSQL share ("?" placeholders; PostgreSQL numbers them).

Every statement is assembled from constant fragments and placeholders. Each filter has a
partial index that serves it (see migration 0004; muted sessions', 0014: a page of the unmuted
reads the live index past the few muted); a subset of types reads each type's index in
order and merges at most a page from each. A page of one conversation group walks the group's
own index (``session_group_members``, whose ``update_time`` follows its sessions', migration
0011) and joins each row to its session, so it costs what a page of the whole list costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gateway.domain.keys import SessionType
from gateway.domain.pages import Filters, PageQuery, Position, TimeWindow

SESSION_COLUMNS = (
    "key, update_time, server_ext, last_kind, last_msg_id, "
    "revoke_operator, revoke_time, revoke_postscript, unread, last_read_time, pinned_at, muted"
)

KINDS = {SessionType.P2P: 0, SessionType.TEAM: 1, SessionType.SUPER_TEAM: 2}

MESSAGE_COLUMNS = (
    "server_id, client_id, from_account, type, time, text, attachment, ext, conversation"
)

Statement = tuple[str, tuple[object, ...]]


class Section(Enum):
    ALL = "all"  # every matching session, by update time
    PINNED = "pinned"  # with pinned first: the pinned part, by pin time
    REST = "rest"  # with pinned first: the unpinned part, by update time


@dataclass(frozen=True, slots=True)
class _Order:
    column: str

    @property
    def descending(self) -> str:
        return f"{self.column} DESC, key DESC"


@dataclass(frozen=True, slots=True)
class _Source:
    """Where a list's rows come from: the owner's sessions, or one group's rows joined to them
    (walked in the group's order: its columns lead, the sessions' are qualified)."""

    tables: str
    lead: tuple[str, ...]  # the owner's (and group's) clauses, in the index's order
    own: frozenset[str]  # columns read from the group's rows

    def column(self, name: str) -> str:
        if not self.own:
            return name
        return f"g.{name}" if name in self.own else f"s.{name}"

    def descending(self, order: _Order) -> str:
        return f"{self.column(order.column)} DESC, {self.column('key')} DESC"


_SESSIONS = _Source("sessions", ("owner = ?",), frozenset())
# CROSS JOIN: SQLite walks the group's rows first, in its index's order (PostgreSQL plans it as
# any inner join).
_GROUP = _Source(
    "session_group_members AS g CROSS JOIN sessions AS s",
    ("g.owner = ?", "g.group_id = ?", "s.owner = g.owner", "s.key = g.key"),
    frozenset({"owner", "key", "update_time"}),
)


def _source(owner: str, filters: Filters) -> tuple[_Source, list[object]]:
    if filters.group_id is None:
        return _SESSIONS, [owner]
    return _GROUP, [owner, filters.group_id]


_BY_TIME = _Order("update_time")
_BY_PIN = _Order("pinned_at")


def sections(query: PageQuery) -> list[Section]:
    """The parts a page reads, in list order, starting from where its cursor stands."""
    pinned = query.filters.pinned
    if not query.pinned_first or pinned is False:
        return [Section.ALL]
    if pinned is True:
        return [Section.PINNED]
    after = query.after
    if after is not None and after.pinned_at is None:
        return [Section.REST]
    return [Section.PINNED, Section.REST]


def by_index(query: PageQuery) -> bool:
    """Whether each statement of the query's page (and its "anything before?") walks an index
    whose every row it reads is a row of the page: at most one filter (or pinned first) beside
    the time window. Two combined filters may read past rows the second one drops."""
    filters = query.filters
    if filters.muted is False:  # the live index, read past the (few) muted sessions it drops
        return False
    used = (
        (filters.types is not None and len(filters.types) < len(KINDS))
        + filters.only_unread
        + (filters.pinned is not None or query.pinned_first)
        + (filters.muted is True)  # muted sessions' own index (migration 0014)
    )
    if filters.group_id is not None:  # the group's index serves its order, no filter beside
        return used == 0
    return used <= 1


def page_statement(
    owner: str, query: PageQuery, section: Section, limit: int, *, continued: bool = False
) -> Statement:
    """Up to ``limit`` sessions of ``section`` after the query's cursor. ``continued`` means the
    page already went through an earlier section, so this one starts from its top."""
    order = _BY_PIN if section is Section.PINNED else _BY_TIME
    return _page(owner, query, section, order, limit, continued)


def _page(
    owner: str, query: PageQuery, section: Section, order: _Order, limit: int, continued: bool
) -> Statement:
    after = None if continued else query.after
    if after is not None and order is _BY_PIN and after.pinned_at is None:
        after = None
    source, _ = _source(owner, query.filters)
    clauses, params = _matching(owner, query.window, query.filters, section, after, order)
    if after is not None:
        clauses.append(f"({source.column(order.column)}, {source.column('key')}) < (?, ?)")
        params += [after.pinned_at if order is _BY_PIN else after.update_time, str(after.key)]
    types = query.filters.types
    by_kind = f"{source.column('kind')} = ?"
    if types is None or len(types) == len(KINDS):
        return _select(source, clauses, order), (*params, limit)
    if len(types) == 1:
        [only] = types
        return _select(source, [*clauses, by_kind], order), (*params, KINDS[only], limit)
    # One index walk per type, each at most a page, merged: never a sort of the whole list.
    one_type = _select(source, [*clauses, by_kind], order)
    parts = [f"SELECT * FROM ({one_type}) AS t{n}" for n in range(len(types))]
    sql = " UNION ALL ".join(parts) + f" ORDER BY {order.descending} LIMIT ?"
    merged: list[object] = []
    for kind in sorted(KINDS[t] for t in types):
        merged += [*params, kind, limit]
    return sql, (*merged, limit)


def count_statement(owner: str, window: TimeWindow, filters: Filters) -> Statement:
    clauses, params = _matching(owner, window, filters, Section.ALL, None, _BY_TIME)
    parts = _per_type(owner, clauses, params, filters)
    tables = _source(owner, filters)[0].tables
    counts = " + ".join(f"(SELECT count(*) FROM {tables} WHERE {where})" for where, _ in parts)
    return f"SELECT {counts}", tuple(p for _, part in parts for p in part)


def unread_statement(owner: str, filters: Filters) -> Statement:
    """The sum of the unread counts of the sessions ``filters`` lists."""
    clauses, params = _matching(owner, TimeWindow(), filters, Section.ALL, None, _BY_TIME)
    source = _source(owner, filters)[0]
    clauses.append(f"{source.column('unread')} > 0")
    parts = _per_type(owner, clauses, params, filters)
    unread = source.column("unread")
    sums = " + ".join(
        f"(SELECT coalesce(sum({unread}), 0) FROM {source.tables} WHERE {where})"
        for where, _ in parts
    )
    return f"SELECT {sums}", tuple(p for _, part in parts for p in part)


def before_statements(owner: str, query: PageQuery, position: Position) -> list[Statement]:
    """Statements that each find a matching session at or before ``position``, if any: the
    cursor's own session precedes the page that follows it."""
    if sections(query) == [Section.ALL]:
        return [_exists_before(owner, query, Section.ALL, _BY_TIME, position)]
    if position.pinned_at is not None:
        return [_exists_before(owner, query, Section.PINNED, _BY_PIN, position)]
    # A cursor in the unpinned part: every pinned session stands before it.
    return [
        _exists_before(owner, query, Section.PINNED, _BY_PIN, None),
        _exists_before(owner, query, Section.REST, _BY_TIME, position),
    ]


def _matching(
    owner: str,
    window: TimeWindow,
    filters: Filters,
    section: Section,
    after: Position | None,
    order: _Order,
) -> tuple[list[str], list[object]]:
    source, lead = _source(owner, filters)
    c = source.column
    clauses = [*source.lead, f"{c('deleted_at')} IS NULL", f"{c('update_time')} BETWEEN ? AND ?"]
    high = window.max_time
    if after is not None and order is _BY_TIME:
        high = min(high, after.update_time)  # a seek to the cursor, not a scan down to it
    params: list[object] = [*lead, window.min_time, high]
    if section is Section.PINNED or filters.pinned is True:
        clauses.append(f"{c('pinned_at')} IS NOT NULL")
    elif section is Section.REST or filters.pinned is False:
        clauses.append(f"{c('pinned_at')} IS NULL")
    if filters.only_unread:
        clauses.append(f"{c('unread')} > 0")
    if filters.muted is not None:
        clauses.append(f"{c('muted')} = {int(filters.muted)}")
    return clauses, params


def _select(source: _Source, clauses: list[str], order: _Order) -> str:
    columns = SESSION_COLUMNS
    if source.own:
        columns = ", ".join(source.column(c.strip()) for c in SESSION_COLUMNS.split(","))
    return (
        f"SELECT {columns} FROM {source.tables} WHERE {' AND '.join(clauses)} "
        f"ORDER BY {source.descending(order)} LIMIT ?"
    )


def _exists_before(
    owner: str, query: PageQuery, section: Section, order: _Order, position: Position | None
) -> Statement:
    source = _source(owner, query.filters)[0]
    clauses, params = _matching(owner, query.window, query.filters, section, None, order)
    if position is not None:
        clauses.append(f"({source.column(order.column)}, {source.column('key')}) >= (?, ?)")
        value = position.pinned_at if order is _BY_PIN else position.update_time
        params += [value, str(position.key)]
    parts = _per_type(owner, clauses, params, query.filters)
    found = " OR ".join(
        f"EXISTS (SELECT 1 FROM {source.tables} WHERE {where})" for where, _ in parts
    )
    return f"SELECT 1 WHERE {found}", tuple(p for _, part in parts for p in part)


def _per_type(
    owner: str, clauses: list[str], params: list[object], filters: Filters
) -> list[tuple[str, list[object]]]:
    """The conditions once per filtered type, each served by the (owner, kind, ...) index."""
    if filters.types is None or len(filters.types) == len(KINDS):
        return [(" AND ".join(clauses), params)]
    kind = _source(owner, filters)[0].column("kind")
    where = " AND ".join([*clauses, f"{kind} = ?"])
    return [(where, [*params, kind]) for kind in sorted(KINDS[t] for t in filters.types)]
