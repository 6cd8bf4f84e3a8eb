"""What every example does at the end: run the graph here (--local) or submit it."""

from __future__ import annotations

import argparse
import logging
import sys

from puliclient import DONE, Graph, GraphSubmissionError
from puliclient.farm import Farm


def run(graph: Graph) -> int:
    parser = argparse.ArgumentParser(description=f"example graph {graph.name!r}")
    parser.add_argument("--local", action="store_true",
                        help="execute the graph on this machine instead of submitting it")
    parser.add_argument("--wait", action="store_true",
                        help="after submitting, wait until the graph ends; exit 0 only if it is DONE")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if options.local:
        status = graph.execute()
        print(f"graph {graph.name!r} ended with status {status.name}")
        return 0 if status == DONE else 1
    try:
        location, message = graph.submit()  # host/port from PULIHOST / PULIPORT
    except GraphSubmissionError as exc:
        print(f"submission failed: {exc}", file=sys.stderr)
        return 1
    print(location, message)
    if not options.wait:
        return 0
    final = Farm().wait(Farm.graph_id(location))
    print(f"graph {graph.name!r} ended with status {final['status_name']}")
    return 0 if final["status"] == DONE else 1
