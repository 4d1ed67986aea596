#!/usr/bin/env python3
"""A stand-in for an agency's case system receiving a node's webhook calls (docs/webhooks.md).

Serves HTTPS with the given certificate, checks each call's Passage-Signature the way
docs/webhooks.md tells receivers to (HMAC-SHA256 over "t.body", timestamp at most 5 minutes
away), and appends one JSON line per call to --record before answering:
  {"path": ..., "valid": true|false, "why": ..., "body": <the body as sent>}
Valid calls are answered 200 (after --delay-s seconds), invalid ones 401.

Python 3 standard library only. Used by tests/e2e/e2e_webhook_test.cc.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time

TOLERANCE_S = 300  # a timestamp further away than this is a replay (or a wrong clock)


def verify(secret: bytes, header: str, body: bytes, now: float) -> str:
    """'' when `header` signs `body` with `secret` within the tolerance, else why not."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, sig = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit():
        return "no timestamp"
    if abs(now - int(t)) > TOLERANCE_S:
        return "timestamp more than 5 minutes away"
    expected = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sig):
        return "signature does not match"
    return ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--delay-s", type=float, default=0.0)
    args = ap.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().strip()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            why = verify(secret, self.headers.get("Passage-Signature", ""), body, time.time())
            if args.delay_s > 0:
                time.sleep(args.delay_s)
            line = json.dumps({"path": self.path, "valid": why == "", "why": why,
                               "body": body.decode("utf-8", "replace")})
            with lock, open(args.record, "a") as out:
                out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
            self.send_response(200 if why == "" else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.server_address[1]) + "\n")
        os.rename(tmp, args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
