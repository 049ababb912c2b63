"""Where the partitions are analysed: in this process, or on ``dask.distributed``.

In-process, each run's blocks are split (into spill files for a large run) and
its partitions analysed a few at a time on a thread per core (bounded memory).
On Dask, a run's partitions are dealt into one group per worker thread, each a
task that reads every block itself (local files, or S3/R2 parts with its own
environment's credentials), keeps its group's edges and analyses them like the
in-process path on one thread: memory per worker is bounded whatever the run's
size, at the price of every group reading the whole run (a local file comes from
the page cache). The client only plans and merges. Every path runs the same
functions on identical partitions and merges in the same order, so their results
are identical.
"""

from __future__ import annotations

import os

from ._run import analyze_group, fit_task, in_order, plan, reduce
from ._scan import group_partitions

def open_client(scheduler: str | None, workers: int | None):
    """A Dask client, or None for the in-process path (the default: on one machine it is both
    faster and leaner than an embedded cluster, see docs/cli.md).

    ``scheduler`` (or DASK_SCHEDULER_ADDRESS) joins an existing cluster; otherwise
    ``workers`` > 1 starts an embedded LocalCluster of that many worker processes."""
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        from distributed import Client

        return Client(address)
    return local_client(workers) if workers is not None and workers > 1 else None


def where(client) -> str:
    """Which path analyses: said on stderr by the CLI."""
    if client is None:
        return "in this process"
    workers = len(client.scheduler_info()["workers"])
    if client.cluster is not None:
        return f"on an embedded Dask LocalCluster of {workers} workers"
    return f"on the Dask scheduler at {client.scheduler.address} ({workers} workers)"


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


def _in_process(plans, opts, client, out_dir_of, progress, outcomes) -> None:
    for i, p in plans.items():
        before = progress.n
        try:
            partials = analyze_group(p.run, p.stream, p.blocks, p.k_total, (0, 1), p.facts, opts, p.spill,
                                     min(4, os.cpu_count() or 1), progress.update)
            outcomes[i] = reduce(p, in_order([partials]), out_dir_of(i, p))
        except Exception as e:  # noqa: BLE001 - any failure of one run is that run's outcome
            outcomes[i] = e
            progress.update(p.k_total - (progress.n - before))


def _on_dask(plans, opts, client, out_dir_of, progress, outcomes) -> None:
    from distributed import as_completed

    # one group of partitions per worker thread: each task reads every block and keeps its own
    # edges, so no piece waits on the cluster; a run of one partition (a sweep) is one task
    threads = max(1, sum(client.nthreads().values()))
    owner, pending, size = {}, {}, {}
    for i, p in plans.items():
        n_groups = min(threads, p.k_total)
        pending[i] = [client.submit(analyze_group, p.run, p.stream, p.blocks, p.k_total, (g, n_groups), p.facts, opts,
                                    p.spill, pure=False) for g in range(n_groups)]
        owner.update({f.key: i for f in pending[i]})
        size.update({f.key: len(group_partitions(p.k_total, (g, n_groups))) for g, f in enumerate(pending[i])})
    # a run's fit follows its last group on the cluster; the client only merges and writes
    done, fits = {i: 0 for i in pending}, set()
    tasks = as_completed([f for fs in pending.values() for f in fs])
    for f in tasks:
        i = owner[f.key]
        progress.update(size.get(f.key, 0))  # a fit is not a partition
        if i in outcomes:
            continue
        if f.status != "finished":
            outcomes[i] = f.exception()
            client.cancel(pending[i])
            continue
        if f.key in fits:
            try:
                partials = in_order(client.gather(pending[i]))
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
