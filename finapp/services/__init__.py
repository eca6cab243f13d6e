"""Business logic. Plain Python: never imports reflex; takes a `Session` as keyword argument."""
