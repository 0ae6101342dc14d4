"""A tiny web server with a health endpoint, for the Control Center demo."""
import http.server
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8642


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "ok"}\n' if self.path == "/health" else b"hello from the demo web server\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if self.path == "/health" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("web: " + (fmt % args) + "\n")
        sys.stderr.flush()


print(f"web: listening on 127.0.0.1:{PORT}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
