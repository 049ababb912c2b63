"""vpslog: lossless logging of vehicle edge events, from Pyodide sim workers to analysis."""

__version__ = "0.1.0"
