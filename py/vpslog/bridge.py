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

SOURCES = {"load": lambda opts: SyntheticLoad(LoadConfig.from_dict(opts))}


def make_source(config: dict):
    opts = dict(config)
    kind = opts.pop("source", "load")
    if kind not in SOURCES:
        raise ValueError(f"unknown event source {kind!r}; known: {', '.join(SOURCES)}")
    return SOURCES[kind](opts)


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
