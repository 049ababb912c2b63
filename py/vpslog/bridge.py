"""The Pyodide bridge: what the JS sim worker calls, and nothing else.

The worker pulls whole buffers with ``produce(max_buffers)``; Python never calls
into JS, so one crossing moves up to ``max_buffers`` x 409 records and the
worker stays free to wait for credits between calls (lossless backpressure).
Arguments cross as JSON text and results as ``bytes``, so no JS proxies leak.
"""

from __future__ import annotations

import json

from .loadgen import LoadConfig, SyntheticLoad
from .packer import BufferBatcher, pack_columns
from .record import RECORDS_PER_BUFFER
from .traffic import TrafficConfig, TrafficSim

SOURCES = {
    "traffic": lambda opts, w, n: TrafficSim(TrafficConfig.from_dict(opts), w, n),
    "load": lambda opts, w, n: SyntheticLoad(LoadConfig.from_dict(opts), w, n),
}


def make_source(config: dict):
    """``{"source": kind, "worker": i, "workers": n, **options}`` -> an event source."""
    opts = dict(config)
    kind = opts.pop("source", "traffic")
    worker, workers = opts.pop("worker", 0), opts.pop("workers", 1)
    if kind not in SOURCES:
        raise ValueError(f"unknown event source {kind!r}; known: {', '.join(SOURCES)}")
    if not (isinstance(worker, int) and isinstance(workers, int) and 0 <= worker < workers):
        raise ValueError(f"worker {worker!r} of {workers!r} is not a valid part")
    return SOURCES[kind](opts, worker, workers)


class Producer:
    def __init__(self, source) -> None:
        self.source = source
        self._batcher = BufferBatcher()
        self.exhausted = False

    @property
    def sim_time_ms(self) -> int:
        return self.source.sim_time_ms

    @property
    def records_out(self) -> int:
        return self._batcher.records_out

    def produce(self, max_buffers: int) -> bytes:
        """Up to ``max_buffers`` whole buffers; ``b""`` once the source is exhausted."""
        b = self._batcher
        while not self.exhausted and b.full_buffers() < max_buffers:
            need = (max_buffers - b.full_buffers()) * RECORDS_PER_BUFFER - b.pending_records
            cols = self.source.next_batch(max(need, 1))
            if cols is None:
                self.exhausted = True
            else:
                b.add(pack_columns(*cols))
        return b.take(max_buffers)

    def flush(self) -> bytes:
        """The final partial buffer (possibly empty); call once, at stop."""
        self.exhausted = True
        return self._batcher.flush()


def make_producer(config_json: str) -> Producer:
    return Producer(make_source(json.loads(config_json)))


def describe(producer: Producer) -> str:
    return json.dumps(producer.source.describe())


def stats(producer: Producer) -> str:
    return json.dumps(producer.source.stats)
