"""pycontainers: one device description, one on-disk contract, three renderings."""

__version__ = "0.1.0"
