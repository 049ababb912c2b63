"""vpslog: lossless logging of vehicle edge events, from Pyodide sim workers to analysis.

The public API is the event-source contract (see :mod:`vpslog.source`)::

    import vpslog

    class MyModel(vpslog.Source):
        streams = [vpslog.Stream("fcd", time_ms="uint32", vehicle="uint32", speed="float32")]

        def run(self, log):
            ...
            log.enter(t_ms, vehicle, edge)
            log.fcd(t_ms, vehicle, speed)
            yield

Reading runs (CPython, the ``analysis`` extra): ``vpslog.read(location)`` (:mod:`vpslog.io`).
"""

from .source import EventLog, Param, Part, Source, Stream

__version__ = "0.1.0"
__all__ = ["Source", "Part", "Param", "EventLog", "Stream", "__version__"]


def __getattr__(name: str):
    # vpslog.read needs numpy and polars, which the browser's Pyodide has not: imported on first
    # use, so `import vpslog` stays standard library only (and "read" stays out of __all__, so a
    # star import never pulls them in either).
    if name == "read":
        from .io import read

        return read
    raise AttributeError(f"module 'vpslog' has no attribute {name!r}")
