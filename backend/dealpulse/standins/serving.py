"""Serving a WSGI app on a loopback port from a daemon thread (every stand-in and test receiver uses it)."""

from __future__ import annotations

import ssl
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    """Request handler that does not log each request (tests and the demo read request logs instead)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence werkzeug's per-request log line."""


class ServerThread:
    """A threaded werkzeug server bound at construction (port 0 = a free one), served by `start()`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, name: str = "standin",
                 ssl_context: ssl.SSLContext | None = None):
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, ssl_context=ssl_context,
                                                   request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.server_port

    def start(self) -> "ServerThread":
        """Serve in the background; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
