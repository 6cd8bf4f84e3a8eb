"""A frame range cut into packets, then a task that waits for all of them.

frames 1-10 by packets of 3 → commands render_1_3, render_4_6, render_7_9,
render_10_10; each frame writes a file into a temporary directory, then
"check" lists them.

    python examples/frame_range.py --local
"""

from __future__ import annotations

import sys
import tempfile

from _cli import run

from puliclient import Graph

output = tempfile.mkdtemp(prefix="puli_frames_")
graph = Graph("frame_range")
render = graph.addNewTask(
    "render",
    {"cmd": f"echo frame %%MI_FRAME%% of %%MI_START%%-%%MI_END%% > {output}/f_%%MI_FRAME%%.txt",
     "start": 1, "end": 10, "packetSize": 3},
)
check = graph.addNewTask("check", {"cmd": f"ls {output} | wc -l"})
check.dependsOn(render)

if __name__ == "__main__":
    sys.exit(run(graph))
