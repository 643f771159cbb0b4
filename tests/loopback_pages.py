"""Web pages on 127.0.0.1 for the browser tests: any path on any hostname (the browsers map
every name to loopback) is a page whose title, path and query must never leave the browser; the
Host of each request is kept, to prove that a tab the test opened really loaded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = b"<title>tt3-page-title</title><p>a page</p>"
Route = Callable[[str], tuple[bytes, str] | None]
"""A path's body and content type; None for the ordinary page."""


@dataclass
class Served:
    port: int
    hosts: list[str] = field(default_factory=list)
    """The Host (without port) of every request, in order."""


@contextmanager
def serve_pages(route: Route = lambda path: None) -> Iterator[Served]:
    served = Served(0)

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.hosts.append(self.headers.get("Host", "").split(":")[0])
            body, kind = route(self.path) or (PAGE, "text/html")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    served.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
