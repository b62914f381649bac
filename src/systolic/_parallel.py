"""Local process pools for the work that fans out: design-space sweeps and fault campaigns."""

from __future__ import annotations

__all__ = ["as_finished", "process_pool"]


def process_pool(workers: int, preload: str):
    """A pool of ``workers`` local processes that have imported the module ``preload``.

    Start it before any thread (a progress bar's monitor) starts: forking is only safe while
    this process runs a single thread.
    """
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    # A forked worker starts at once with the model imported; otherwise workers fork from a
    # fresh server process that has imported it (or, where there is none, start a new
    # interpreter each).
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        context = multiprocessing.get_context("fork")
    elif "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([preload])
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context)


def as_finished(pool, futures):
    """Yield the results of ``futures`` as they finish; shut ``pool`` down at the end, and
    cancel what has not started if the consumer stops early or a task fails."""
    from concurrent.futures import as_completed

    with pool:
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()
