"""The coordinator: HTTP API, routing, replication and persistence of reckon."""

__version__ = "0.1.0"
