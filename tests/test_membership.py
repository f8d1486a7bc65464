"""domain/membership.py: who is a member of a team and who receives its messages, from the changes
its events make, without a store."""

from __future__ import annotations

from gateway.domain.membership import (
    NOBODY,
    Fact,
    MemberList,
    Roster,
    Snapshot,
    TeamChange,
    message_change,
    newest_list,
    registry_change,
    with_changes,
)
from gateway.domain.order import event_key

K1, K2, K3 = event_key(100, "1"), event_key(200, "2"), event_key(300, "3")


def test_a_message_reaches_the_members_before_it_and_those_it_invites() -> None:
    change = message_change(K1, "ann", joins=["cat"])

    assert change.receivers({"ann", "ben"}) == {"ann", "ben", "cat"}
    assert change.members_after({"ann", "ben"}) == {"ann", "ben", "cat"}


def test_a_kicked_member_receives_the_kick_and_is_a_member_no_more() -> None:
    change = message_change(K1, "ann", leaves=["ben"])

    assert change.receivers({"ann", "ben"}) == {"ann", "ben"}
    assert change.members_after({"ann", "ben"}) == {"ann"}


def test_the_members_a_message_lists_receive_it_whoever_the_members_were() -> None:
    change = message_change(K1, "ann", listed=["ann", "cat"])

    assert change.receivers({"ann", "ben"}) == {"ann", "cat"}
    assert change.members_after({"ann", "ben"}) == {"ann", "cat"}


def test_a_dismiss_reaches_the_members_before_it_and_leaves_nobody() -> None:
    change = message_change(K1, "ann", dismiss=True)

    assert change.receivers({"ann", "ben"}) == {"ann", "ben"}
    assert change.members_after({"ann", "ben"}) == set()


def test_a_registry_write_changes_the_members_and_names_no_receiver() -> None:
    replace = registry_change(K1, replace=["cat"])
    add = registry_change(K1, add=["cat"], remove=["ann"])

    assert replace.members_after({"ann"}) == {"cat"}
    assert add.members_after({"ann", "ben"}) == {"ben", "cat"}
    assert replace.receivers({"ann"}) == set()
    assert add.named_receivers(set()) == set()


def test_a_change_has_the_key_of_its_event_and_none_when_it_says_nothing() -> None:
    assert message_change(K2, "ann").key == K2
    assert registry_change(K2, replace=[]).key == K2
    assert registry_change(K2).key is None


def test_the_named_receivers_are_those_an_event_names_beyond_the_members() -> None:
    change = message_change(K1, "ann", joins=["cat", "dan"])

    assert change.named_receivers({"ann", "cat"}) == {"dan"}


def test_an_event_flips_the_accounts_whose_membership_it_changes() -> None:
    change = message_change(K1, "ann", joins=["cat"], leaves=["ben"])

    assert change.flipped({"ann", "ben"}) == {"ben", "cat"}


def test_a_late_event_reaches_as_on_time_only_the_receivers_it_does_not_flip() -> None:
    change = message_change(K1, "ann", joins=["cat"], leaves=["ben"])

    assert change.late_receivers({"ann", "ben", "dan"}) == {"ann", "dan"}


def test_membership_at_a_key_is_the_newest_change_at_or_before_it() -> None:
    roster = Roster.of(
        [Fact("ben", K1, member=True, receives=True), Fact("ben", K3, member=False, receives=True)],
        [Snapshot(K2, frozenset({"ann"}), None)],
    )

    assert [roster.member_after("ben", key) for key in (K1, K2, K3)] == [True, False, False]
    assert roster.member_before("ben", K2) is True
    assert roster.members() == ["ann"]


def test_a_fact_wins_over_a_snapshot_of_the_same_event() -> None:
    roster = Roster.of([Fact("ben", K1, member=True, receives=False)],
                       [Snapshot(K1, frozenset({"ann"}), frozenset({"ann", "ben"}))])  # fmt: skip

    assert roster.member_after("ben", K1) is True
    assert roster.receives("ben", K1) is False
    assert roster.receives("ann", K1) is True


def test_an_account_with_no_change_at_a_message_receives_it_when_a_member_before_it() -> None:
    roster = Roster.of([Fact("ben", K1, member=True, receives=False)], [])

    assert roster.receives("ben", K2) is True
    assert roster.receives("ben", K1) is False


def test_amending_sets_only_the_given_accounts_as_the_roster_has_them() -> None:
    roster = Roster.of([Fact("ben", K2, member=False, receives=False),
                        Fact("cat", K2, member=True, receives=False)], [])  # fmt: skip

    assert roster.amend({"ann", "ben"}, {"ben", "cat"}) == {"ann", "cat"}
    assert roster.amend({"ann", "ben"}, {"cat"}, K1) == {"ann", "ben"}


def test_the_newest_list_is_a_checkpoint_over_a_snapshot_of_the_same_key() -> None:
    snapshot = Snapshot(K1, frozenset({"ann"}), None)
    same = MemberList(K1, frozenset({"ann", "ben"}))
    older = MemberList(event_key(50, "0"), frozenset({"cat"}))

    assert newest_list([snapshot], [same]) == same
    assert newest_list([snapshot], [older]) == MemberList(K1, frozenset({"ann"}))
    assert newest_list([], []) == NOBODY


def test_changes_apply_in_turn() -> None:
    assert with_changes({"ann", "ben"}, [("ben", False), ("cat", True), ("cat", False)]) == {"ann"}


def test_a_change_that_says_nothing_changes_nothing() -> None:
    nothing = TeamChange()

    assert nothing.receivers({"ann"}) == nothing.members_after({"ann"}) == {"ann"}
    assert nothing.flipped({"ann"}) == set()
