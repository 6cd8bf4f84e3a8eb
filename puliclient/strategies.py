"""The names of Puli's folder strategies: how a task group orders its children.

A strategy decides which child of a group gets the group's next free slot:

* ``FifoStrategy`` (the default): by id, i.e. submission order;
* ``AsIsStrategy``: in the group's own child order (``tasks`` of the representation);
* ``FairStrategy``: the child given the fewest commands so far first (ties by id);
* ``WeighedFairStrategy``: each command given adds the child's ``dispatchKey`` to its
  count (a negative one counts as 0), the lowest count first (ties by id);
* ``PriorityStrategy``: the highest ``priority`` first (ties by id).

Puli stored the dotted class path (``octopus.dispatcher.strategies.FifoStrategy``); that is
the one stored form here too. :func:`strategy_name` also accepts the class name alone and a
short name (``fifo``, ``as_is``, ``weighed-fair``...), in any case.

Not here: applying a strategy (the coordinator's ready index).
"""

from __future__ import annotations

from puliclient.errors import GraphError

STRATEGY_MODULE = "octopus.dispatcher.strategies"
FIFO_STRATEGY = f"{STRATEGY_MODULE}.FifoStrategy"
AS_IS_STRATEGY = f"{STRATEGY_MODULE}.AsIsStrategy"
FAIR_STRATEGY = f"{STRATEGY_MODULE}.FairStrategy"
WEIGHED_FAIR_STRATEGY = f"{STRATEGY_MODULE}.WeighedFairStrategy"
PRIORITY_STRATEGY = f"{STRATEGY_MODULE}.PriorityStrategy"
STRATEGIES = (FIFO_STRATEGY, AS_IS_STRATEGY, FAIR_STRATEGY, WEIGHED_FAIR_STRATEGY, PRIORITY_STRATEGY)
"""Every strategy, in its stored (dotted) form."""

_BY_SHORT_NAME = {
    s.rsplit(".", 1)[1].lower().removesuffix("strategy"): s for s in STRATEGIES
}  # "fifo", "asis", "fair", "weighedfair", "priority"


def strategy_name(value: object) -> str:
    """``value`` as a stored strategy name; ``GraphError`` naming the known ones otherwise."""
    if isinstance(value, str) and len(value) <= 100:
        short = value.rsplit(".", 1)[-1] if value.startswith(STRATEGY_MODULE + ".") else value
        key = short.lower().replace("_", "").replace("-", "").removesuffix("strategy")
        found = _BY_SHORT_NAME.get(key)
        if found is not None:
            return found
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise GraphError(f"unknown strategy {shown}; known: "
                     + ", ".join(s.rsplit(".", 1)[1] for s in STRATEGIES)
                     + f" (or {STRATEGY_MODULE}.<name>, or fifo, asis, fair, weighedfair, priority)")
