"""Live pages: a background loop that asks the database a cheap question once a second and
re-renders the page's data only when the answer changed, so nothing flickers and a forgotten
tab stops costing queries after half an hour."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

WATCH_SECONDS = 1.0
WATCH_MAX_SECONDS = 30 * 60


class WatchingState(Protocol):
    """What `watch_changes` needs of a page's state (Reflex states with these members)."""

    _watch_generation: int
    current_path: str
    is_authenticated: bool

    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, *exc: object) -> Any: ...


async def watch_changes(
    state: WatchingState,
    *,
    route: str,
    probe: Callable[[], Any],
    seen: Callable[[], Any],
    reload: Callable[[], None],
) -> None:
    """Run `probe` (off the event loop) every WATCH_SECONDS; when its answer differs from
    `seen()`, `reload()` under the state's lock. Ends when the user leaves the page, signs
    out, or the page starts a newer watch (`_watch_generation` bumped on load)."""
    async with state:
        generation = state._watch_generation
    for _ in range(int(WATCH_MAX_SECONDS / WATCH_SECONDS)):
        await asyncio.sleep(WATCH_SECONDS)
        latest = await asyncio.to_thread(probe)
        async with state:
            if generation != state._watch_generation or state.current_path != route:
                return
            if not state.is_authenticated:
                return
            if latest != seen():
                reload()
