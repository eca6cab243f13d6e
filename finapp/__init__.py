"""finapp: self-hosted automation hub for finance teams."""

__version__ = "0.1.0"
