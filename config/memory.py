"""Process-wide memory helpers: for the batch paths (matching, rating a month of usage) and for
the web server's processes."""

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


def startup_frozen() -> None:
    """A web server process, once its application is made: load the URLconf (views, serializers,
    the API schema's; else the first request loads it) and put everything loaded so far out of
    the cyclic collector's sight (``gc.freeze``), so that a full collection traverses what was
    made since, a few thousand objects, instead of some 170,000. On the benchmark machine each
    full collection of a web worker took 60–190 ms, in which the worker answered nothing, every
    few thousand requests — most of single orders' p99 at 200 a second (37–344 ms against 16–26
    ms frozen, in interleaved runs). Collected first, so that what the start left for the
    collector is not kept for good."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (a cached property: loads the URLconf)
    gc.collect()
    gc.freeze()
