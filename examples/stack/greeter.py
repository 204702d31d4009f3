"""A small HTTP service: GET /health answers 200, GET /greet?name=N answers
"Hello, N!". The worker's activity calls it."""

import http.server
import os
import urllib.parse

PORT = int(os.environ.get("GREETER_PORT", "8089"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/health":
            body = b"ok"
        elif url.path == "/greet":
            name = urllib.parse.parse_qs(url.query).get("name", ["world"])[0]
            body = f"Hello, {name}!".encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(f"greeter: {fmt % args}", flush=True)


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print(f"greeter listening on 127.0.0.1:{PORT}", flush=True)
    server.serve_forever()
