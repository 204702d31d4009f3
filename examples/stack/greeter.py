"""A small HTTP service: GET /health answers 200, GET /greet?name=N answers
"Hello, N!". The worker's activity calls it."""

import http.server
import os
import urllib.parse
from datetime import datetime, timezone

PORT = int(os.environ.get("GREETER_PORT", "8089"))
# From greeter.env (env_file in stigmer.toml).
GREETING = os.environ.get("GREETING", "Hello")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/health":
            body = b"ok"
        elif url.path == "/greet":
            name = urllib.parse.parse_qs(url.query).get("name", ["world"])[0]
            body = f"{GREETING}, {name}!".encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        # Health checks come every 2 s (stigmer's liveness check): not logged.
        if self.path != "/health":
            log(fmt % args)


def log(message: str) -> None:
    """One line, stamped (so `stigmer local logs` merges it in time order)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    print(f"{now}Z greeter: {message}", flush=True)


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    log(f"listening on 127.0.0.1:{PORT}")
    server.serve_forever()
