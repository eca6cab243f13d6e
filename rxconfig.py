"""Reflex configuration: derived from finapp.settings, nothing else."""

import reflex as rx

from finapp.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="finapp",
    frontend_port=_settings.port,
    backend_port=_settings.port,
    backend_host=_settings.host,
    # "localhost" makes the browser use the page's own host, so one port serves UI and API;
    # behind a proxy with a public name, FINAPP_PUBLIC_URL says where the websocket lives.
    api_url=str(_settings.public_base_url).rstrip("/")
    if _settings.public_base_url
    else f"http://localhost:{_settings.port}",
    show_built_with_reflex=False,
    telemetry_enabled=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="teal", gray_color="slate", radius="medium")
        )
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
