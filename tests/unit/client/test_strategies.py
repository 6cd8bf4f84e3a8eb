"""Strategy names: every spelling a Puli script or a wrangler uses, one stored form."""

from __future__ import annotations

import copy

import pytest

from puliclient import Graph, TaskGroup
from puliclient.errors import GraphError
from puliclient.representation import validateRepresentation
from puliclient.strategies import (
    AS_IS_STRATEGY,
    FAIR_STRATEGY,
    FIFO_STRATEGY,
    PRIORITY_STRATEGY,
    STRATEGIES,
    WEIGHED_FAIR_STRATEGY,
    strategy_name,
)


@pytest.mark.parametrize(("given", "stored"), [
    ("octopus.dispatcher.strategies.FifoStrategy", FIFO_STRATEGY),
    ("FifoStrategy", FIFO_STRATEGY),
    ("fifo", FIFO_STRATEGY),
    ("AsIsStrategy", AS_IS_STRATEGY),
    ("as_is", AS_IS_STRATEGY),
    ("FAIR", FAIR_STRATEGY),
    ("octopus.dispatcher.strategies.WeighedFairStrategy", WEIGHED_FAIR_STRATEGY),
    ("weighed-fair", WEIGHED_FAIR_STRATEGY),
    ("PriorityStrategy", PRIORITY_STRATEGY),
])
def test_every_spelling_gives_the_dotted_name(given: str, stored: str) -> None:
    assert strategy_name(given) == stored


@pytest.mark.parametrize("given", ["", "Lottery", "octopus.dispatcher.strategies.Lottery", "my.module.FifoStrategy",
                                   "x" * 10_000, None, 3, ["fifo"]])
def test_anything_else_is_refused_naming_the_known_ones(given: object) -> None:
    with pytest.raises(GraphError, match="unknown strategy .*FifoStrategy, AsIsStrategy"):
        strategy_name(given)


def test_stored_names_are_their_own_form() -> None:
    assert [strategy_name(s) for s in STRATEGIES] == list(STRATEGIES)


def test_a_group_with_an_unknown_strategy_is_refused_before_it_is_sent() -> None:
    root = TaskGroup("root")
    root.addNewTask("t", arguments={"cmd": "true"})
    data = Graph("g", root=root).prepareGraphRepresentation()
    validateRepresentation(data)
    bad = copy.deepcopy(data)
    bad["tasks"][0]["strategy"] = "LotteryStrategy"
    with pytest.raises(GraphError, match=r"group node 0 \('root'\): unknown strategy 'LotteryStrategy'"):
        validateRepresentation(bad)
