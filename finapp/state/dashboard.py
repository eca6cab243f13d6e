"""Dashboard: live system status (refreshed on a timer, no manual reload)."""

from __future__ import annotations

import reflex as rx

from finapp import __version__
from finapp.services.system import system_status
from finapp.state.auth import AuthState


class DashboardState(AuthState):
    database_status: str = "checking"
    database_backend: str = ""
    version: str = __version__
    checked_at: str = ""

    @rx.event
    def refresh_status(self, _tick: str = "") -> None:
        status = system_status()
        self.database_status = status.database
        self.database_backend = status.backend
        self.checked_at = status.checked_at.isoformat()
