"""The share-tree rule (``coordinator.shares``), pure: definitions, accounts, rank, caps."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.shares import (
    NO_PROJECT,
    ShareSpec,
    ShareTree,
    account_rows,
    check_path,
    check_spec,
    parse_accounts,
    project_of,
    rank,
)


def test_a_jobs_project_is_its_prod_tag_else_its_project_tag_else_a_dash() -> None:
    assert project_of({"prod": "alpha", "project": "beta"}) == "alpha"
    assert project_of({"project": "beta"}) == "beta"
    assert project_of({"prod": ""}) == NO_PROJECT
    assert project_of({"prod": 7}) == NO_PROJECT
    assert project_of({}) == NO_PROJECT


def test_an_undefined_project_or_user_gets_an_implicit_account_under_its_project() -> None:
    tree = ShareTree({("alpha",): ShareSpec(2, 4, 1.0), ("alpha", "bob"): ShareSpec(1, 0, 2.0)})
    bob = tree.account_for("alpha", "bob")
    assert bob.defined and bob.parent is tree.accounts[("alpha",)]
    carol = tree.account_for("beta", "carol")
    assert not carol.defined and carol.spec == ShareSpec() and not carol.parent.defined  # type: ignore[union-attr]


def test_use_is_charged_on_the_user_and_its_project_and_caps_count_both() -> None:
    tree = ShareTree({("alpha",): ShareSpec(0, 2, 1.0), ("beta", "bob"): ShareSpec(0, 1, 1.0)})
    a1, a2 = tree.account_for("alpha", "x"), tree.account_for("alpha", "y")
    a1.charge(1)
    assert not a2.capped()
    a2.charge(1)
    assert a1.capped() and a2.capped() and tree.accounts[("alpha",)].use == 2
    bob = tree.account_for("beta", "bob")
    bob.charge(1)
    assert bob.capped() and not tree.account_for("beta", "carol").capped()


def test_below_guarantee_goes_first_then_use_per_weight() -> None:
    tree = ShareTree({("a",): ShareSpec(2, 0, 1.0), ("b",): ShareSpec(0, 0, 4.0)})
    a, b = tree.account_for("a", "u"), tree.account_for("b", "u")
    b.charge(0)
    a.charge(1)
    assert rank(a) < rank(b)  # a is below its guarantee of 2, b has none
    a.charge(1)
    assert rank(b) < rank(a)  # both at or above: b's use per weight (0) is lower
    b.charge(3)
    assert rank(b) < rank(a)  # 3/4 < 2/1


def test_definitions_are_checked_before_they_are_journalled() -> None:
    assert check_path("alpha/bob") == ("alpha", "bob")
    assert check_spec(1, 0, 2) == ShareSpec(1, 0, 2.0)
    for bad in ("", "a/b/c", "a//b", 7, ["x" * 10_000]):
        with pytest.raises(ValueError, match="share account"):
            check_path(bad)
    for args in ((-1, 0, 1), (1.5, 0, 1), (True, 0, 1), (3, 2, 1), (0, 0, 0), (0, 0, float("inf")),
                 (0, 0, "1"), (0, 2**70, 1)):
        with pytest.raises(ValueError, match="share's"):
            check_spec(*args)
    with pytest.raises(ValueError):
        parse_accounts([["a", 1, 0]])
    with pytest.raises(ValueError):
        parse_accounts({"a": 1})


def test_rows_round_trip() -> None:
    specs = {("a",): ShareSpec(2, 5, 1.5), ("a", "bob"): ShareSpec(1, 0, 1.0)}
    assert parse_accounts(account_rows(specs)) == specs


def test_the_listing_shows_defined_accounts_and_those_in_use() -> None:
    tree = ShareTree({("a",): ShareSpec(2, 5, 1.0)})
    tree.account_for("b", "carol").charge(1)
    tree.account_for("c", "dave")  # implicit, unused: not listed
    rows = {r["account"]: r for r in tree.listing()}
    assert set(rows) == {"a", "b", "b/carol"}
    assert rows["a"]["min"] == 2 and rows["a"]["max"] == 5 and rows["b/carol"]["use"] == 1
