"""The RPC process's garbage collector, tuned for ack latency (issue 3).

What it collects: grpc.aio's server builds a reference cycle for every call (its method lookup
keeps a closure that refers to itself, with the call's details and metadata: 6 objects per RPC,
counted with gc.DEBUG_SAVEALL under a fleet's load). Nothing else on the Report path needs the
collector, but at 2,000 Reports/s those cycles fill the young generation ~12,000 objects a second,
so it must run, and how long it stops the event loop depends on how much it finds each time.

Measured, 20,000 agents, 60 s, one run each:

- default thresholds (700, 10, 10): a young collection every few ms promoted the objects of the
  calls in flight, and a full collection (~55 ms) followed about once a second;
- (50,000, 20, 100): a young collection every ~4 s freed ~8,000 calls' cycles at once, 30 ms on
  average and up to 98 ms (154 ms when the machine was busy): the tail of every good run;
- (5,000, 20, 100) with the start-up heap frozen: ~4 young collections a second, the longest
  4.7 ms, the event loop's longest stall 16 ms; the same CPU in total (0.75% of a core).

Freezing matters for the full collections: the heap at start (20,000 devices' credentials,
every imported module) moves to the permanent generation, so a full collection walks only what
was made since, and the young ones promote nothing that lives long.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (5_000, 20, 100)


def tune_for_serving() -> None:
    """Set the thresholds; before start-up, so that loading the devices is collected normally."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_startup_heap() -> None:
    """Once serving: collect what start-up left, then keep the rest out of every collection."""
    gc.collect()
    gc.freeze()
