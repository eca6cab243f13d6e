"""Reflex state classes: each handler maps UI input to one service call."""
