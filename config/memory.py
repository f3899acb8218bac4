"""Process-wide memory helpers for the batch paths (matching, rating a month of usage)."""

import gc
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc():
    """The cyclic garbage collector paused for a batch: a batch allocates some hundred thousand
    containers (events, results, rows, slices) that reference counting frees, and each collection
    the allocations set off would traverse them all (a seventh of the matching worker's CPU,
    about a sixth of rating a million usage records). What a batch leaves in cycles is collected
    after it, once the collector is back on: put the block where the batch's containers are
    already gone when it ends (around the call that holds them, not inside it), or the first
    collection traverses them all."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
