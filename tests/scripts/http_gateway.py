#!/usr/bin/python3
"""A real HTTP SMS gateway on 127.0.0.1 for Tessera's tests (python3 standard library only).

  http_gateway.py RECORD [MODE...]

Binds 127.0.0.1 on a free port and prints the port alone on a line on stdout once it accepts
connections. Every request is appended to RECORD as one JSON line, written before it is
answered (so a request to a hanging gateway is recorded too):

  {"method": "POST", "path": "/send?to=%2B44...", "query": {"to": ["+44..."]},
   "headers": {"authorization": "...", ...} (names in lower case), "body": "...",
   "form": {...} (when the body is form-urlencoded), "json": ... (when it is JSON)}

Modes (any combination; the default answers 200 with "OK"):

  ok              answer 200 "OK"
  status=N        answer with status N
  body=TEXT       answer with TEXT as the body
  hang            record the request, then never answer
  redirect=URL    answer 302 with Location: URL
  tls=CERT:KEY    speak HTTPS with this certificate and key (PEM files)

Stops on SIGTERM, SIGINT or when its stdin reaches end of file.
"""
import json
import signal
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_modes(args):
    modes = {"status": 200, "body": "OK", "hang": False, "redirect": None, "tls": None}
    for arg in args:
        name, _, value = arg.partition("=")
        if name == "ok":
            modes["status"], modes["body"] = 200, "OK"
        elif name == "status":
            modes["status"] = int(value)
        elif name == "body":
            modes["body"] = value
        elif name == "hang":
            modes["hang"] = True
        elif name == "redirect":
            modes["redirect"] = value
        elif name == "tls":
            cert, _, key = value.partition(":")
            modes["tls"] = (cert, key)
        else:
            sys.exit(f"http_gateway.py: unknown mode {arg!r}")
    return modes


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    record_path = sys.argv[1]
    modes = parse_modes(sys.argv[2:])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = raw.decode("utf-8", errors="replace")
            query = urllib.parse.urlsplit(self.path).query
            entry = {
                "method": self.command,
                "path": self.path,
                "query": urllib.parse.parse_qs(query, keep_blank_values=True),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
            ctype = self.headers.get("Content-Type") or ""
            if ctype.startswith("application/x-www-form-urlencoded"):
                entry["form"] = urllib.parse.parse_qs(body, keep_blank_values=True)
            elif ctype.startswith("application/json"):
                try:
                    entry["json"] = json.loads(body)
                except ValueError as e:
                    entry["json_error"] = str(e)
            with lock:
                with open(record_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
            if modes["hang"]:
                while True:
                    time.sleep(3600)
            if modes["redirect"]:
                self.send_response(302)
                self.send_header("Location", modes["redirect"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = modes["body"].encode("utf-8")
            self.send_response(modes["status"])
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = handle_any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if modes["tls"]:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*modes["tls"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
