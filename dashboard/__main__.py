"""``python -m dashboard``: serve on 127.0.0.1:$DASHBOARD_PORT (default 8080)."""
from __future__ import annotations

import logging
import os

from aiohttp import web

from .app import create_app
from .config import Settings


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiohttp's access log would record URLs (pseudonyms are fine) but never bodies; keep it short.
    settings = Settings.from_env()
    web.run_app(create_app(settings), host=settings.host, port=settings.port,
                access_log_format='%a "%r" %s %Tfs', print=lambda *_: None)


if __name__ == "__main__":
    main()
