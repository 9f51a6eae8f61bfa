"""meterline backend: litestar + msgspec + SQLAlchemy 2 (async), organised by capability."""

__version__ = "0.1.0"
