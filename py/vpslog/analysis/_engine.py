"""Where the partitions are analysed: in this process, or on ``dask.distributed``.

In-process, each run's blocks are split (into spill files for a large run) and
its partitions analysed a few at a time on a thread per core (bounded memory).
On Dask, every run's blocks become split tasks and every (run, partition) an
analysis task on the workers, which read the blocks themselves (local files, or
S3/R2 parts with their own environment's credentials); a run of one partition is
a single task; the client only plans and merges. Both paths run the same
functions on identical partitions and merge in the same order, so their results
are identical.
"""

from __future__ import annotations

import os

from ._run import analyze_partition, fit_task, partition_task, piece_task, plan, reduce, run_task, split_block
from . import _scan

IN_PROCESS_RECORDS = 8 << 20  # below this a cluster's start-up (~1.2 s) costs more than it saves


def open_client(scheduler: str | None, workers: int | None, records):
    """A Dask client, or None for the in-process path.

    ``scheduler`` (or DASK_SCHEDULER_ADDRESS) joins an existing cluster; otherwise
    ``workers`` > 1 (default: the machine's cores, if the input is large enough)
    starts an embedded LocalCluster of worker processes. ``records()``: the input's size, asked only if needed."""
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        from distributed import Client

        return Client(address)
    if workers is None:
        workers = (os.cpu_count() or 1) if records() >= IN_PROCESS_RECORDS else 1
    return local_client(workers) if workers > 1 else None


def local_client(workers: int):
    """A client of a new LocalCluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    # one thread per worker process, and polars single-threaded inside it: the workers are the parallelism
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           env={"POLARS_MAX_THREADS": "1"})
    client = Client(cluster)
    client.run(_warm)  # the analysis modules load with the cluster (~0.5 s a worker), not in the first tasks
    return client


def _warm() -> None:
    from . import _run  # noqa: F401  (numpy, polars and the analysis itself)


def close_client(client) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def run(runs, opts, client, out_dir_of, progress) -> list:
    """[(result, groups) or the exception that stopped that run], in the order of ``runs``.

    A run that cannot be planned or read is reported, never fatal to the others."""
    plans, outcomes = {}, {}
    for i, r in enumerate(runs):
        try:
            plans[i] = plan(r)
        except Exception as e:  # noqa: BLE001 - any failure of one run is that run's outcome
            outcomes[i] = e
    progress.reset(total=sum(p.k_total for p in plans.values()))
    (_on_dask if client is not None else _in_process)(plans, opts, client, out_dir_of, progress, outcomes)
    return [outcomes[i] for i in range(len(runs))]


def _ordered(pool, fn, items, window: int):
    """``map(fn, items)`` on the pool, in order, with at most ``window`` calls in flight
    (memory stays at a few blocks or partitions)."""
    from collections import deque

    pending = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _in_process(plans, opts, client, out_dir_of, progress, outcomes) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # numpy's sorts and gathers and polars release the GIL: one thread per core overlaps them
    threads = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool:
        for i, p in plans.items():
            partials = []
            try:
                blocks = _ordered(pool, lambda b: split_block(p.run, b, p.k_total), p.blocks, threads)
                parts = _scan.spilled(blocks, p.k_total, p.manifest["records"] <= _scan.SPILL_ABOVE_RECORDS)
                for partial in _ordered(pool, lambda part: analyze_partition(part, p.facts, opts), parts, threads):
                    partials.append(partial)
                    progress.update()
                outcomes[i] = reduce(p, partials, out_dir_of(i, p))
            except Exception as e:  # noqa: BLE001
                outcomes[i] = e
                progress.update(p.k_total - len(partials))


def _on_dask(plans, opts, client, out_dir_of, progress, outcomes) -> None:
    from distributed import as_completed

    owner, pending = {}, {}
    for i, p in plans.items():
        if p.k_total == 1:
            pending[i] = [client.submit(run_task, p.run, p.blocks, p.facts, opts, pure=False)]
        else:
            splits = [client.submit(split_block, p.run, b, p.k_total, pure=False) for b in p.blocks]
            pieces = [[client.submit(piece_task, s, k, pure=False) for s in splits] for k in range(p.k_total)]
            pending[i] = [client.submit(partition_task, p.facts, opts, *pieces[k], pure=False)
                          for k in range(p.k_total)]
            del splits, pieces  # the partition tasks hold what they need
        owner.update({f.key: i for f in pending[i]})
    # a run's fit follows its last partition on the cluster; the client only merges and writes
    done, fits = {i: 0 for i in pending}, set()
    tasks = as_completed([f for fs in pending.values() for f in fs])
    for f in tasks:
        i = owner[f.key]
        if f.key not in fits:
            progress.update()
        if i in outcomes:
            continue
        if f.status != "finished":
            outcomes[i] = f.exception()
            client.cancel(pending[i])
            continue
        if f.key in fits:
            try:
                partials = [q for qs in client.gather(pending[i]) for q in qs]
                outcomes[i] = reduce(plans[i], partials, out_dir_of(i, plans[i]), known_fit=f.result())
            except Exception as e:  # noqa: BLE001
                outcomes[i] = e
            del pending[i][:]  # release the partials on the cluster
            continue
        done[i] += 1
        if done[i] == len(pending[i]):
            fit = client.submit(fit_task, *pending[i], pure=False)
            owner[fit.key] = i
            fits.add(fit.key)
            tasks.add(fit)
