"""zorghub: a standards-based message hub for Dutch care-data exchange."""

__version__ = "0.1.0"
