"""``gateway serve --workers N``: uvicorn's supervisor, each worker building its own app."""

from __future__ import annotations

import os

from pydantic import SecretStr
from uvicorn.supervisors import Multiprocess

from gateway.server.config import server_config
from gateway.settings import Settings


def serve_workers(settings: Settings, workers: int) -> None:
    """Serves with ``workers`` processes, each with its own store (PostgreSQL: its NOTIFY wakes
    every worker's subscribers)."""
    # Each worker builds its app from the environment, so pass on what was set here.
    for name, value in settings.model_dump().items():
        if value is not None:
            secret = value.get_secret_value() if isinstance(value, SecretStr) else value
            text = str(secret).lower() if isinstance(secret, bool) else str(secret)
            os.environ[f"GATEWAY_{name.upper()}"] = text
    config = server_config(
        settings,
        "gateway.web.app:app_from_environment",
        factory=True,
        workers=workers,
        log_config=None,  # each worker configures ours (JSON, request ids) as it builds its app
    )
    # What uvicorn.run does for workers, with our configuration (it is passed to each worker).
    Multiprocess(config, sockets=[config.bind_socket()]).run()
