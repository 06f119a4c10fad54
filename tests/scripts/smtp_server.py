#!/usr/bin/python3
"""A real SMTP server on 127.0.0.1 for Tessera's end-to-end tests (aiosmtpd, Debian's
python3-aiosmtpd). Every accepted message is written to DIR/<n>.eml (recipient in the first
line as `X-RCPT-TO: addr`). Modes:

  --starttls CERT KEY     offer STARTTLS with this certificate (and require it)
  --reject                answer every RCPT with 550 (a server that refuses)

Prints `READY <port>` on stdout once it accepts connections; stops on SIGTERM or stdin EOF.
"""
import argparse
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, directory, reject):
        self.directory = directory
        self.reject = reject
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject:
            return "550 5.7.1 relaying denied (test server in reject mode)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(("X-RCPT-TO: " + ",".join(envelope.rcpt_tos) + "\r\n").encode())
            f.write(envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode())
        os.rename(tmp, os.path.join(self.directory, f"{n}.eml"))
        return "250 Message accepted"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--reject", action="store_true")
    a = p.parse_args()

    kwargs = {}
    if a.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.starttls[0], a.starttls[1])
        kwargs = {"tls_context": ctx, "require_starttls": True}
    controller = Controller(Handler(a.dir, a.reject), hostname="127.0.0.1", port=a.port, **kwargs)
    controller.start()
    print(f"READY {a.port}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
