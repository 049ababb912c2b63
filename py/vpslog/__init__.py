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
"""

from .source import EventLog, Param, Part, Source, Stream

__version__ = "0.1.0"
__all__ = ["Source", "Part", "Param", "EventLog", "Stream", "__version__"]
