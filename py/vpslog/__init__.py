"""vpslog: lossless logging of vehicle edge events, from Pyodide sim workers to analysis.

The public API is the event-source contract (see :mod:`vpslog.source`)::

    import vpslog

    class MyModel(vpslog.Source):
        def run(self, log):
            ...
            log.enter(t_ms, vehicle, edge)
            yield
"""

from .source import EventLog, Param, Part, Source

__version__ = "0.1.0"
__all__ = ["Source", "Part", "Param", "EventLog", "__version__"]
