#!/usr/bin/env python3
"""Interop check: schemathesis (PyPI) fuzzes the wallet backend against its own OpenAPI document.

Starts `tapwallet serve` over HTTPS on a free local port with a fresh database and development
certificate in a temporary directory, creates a user and logs in (so the authenticated routes
are exercised too), then runs `schemathesis run` with the certificate as the trusted CA and the
bearer token as a header. Every generated request must get a documented status, content type and
body schema, and no 5xx.

The token service's webhooks (`/v1/webhooks/...`) are left out: their bodies are JWS compact
serializations (`application/jose`), which schemathesis cannot generate; the api crate's tests
send them real signed, altered and replayed notifications instead.

`positive_data_acceptance` is excluded: it expects every schema-valid request to succeed, but a
random `cursor`, a random `attestation` signature or a reused `Idempotency-Key` is rightly a 422.

Usage: schemathesis_check.py TAPWALLET_BINARY [--max-examples N] [--seed S]
Exits non-zero when schemathesis reports a failure.
"""
import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, ctx, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(req, data=data, context=ctx, timeout=10) as r:
        return json.loads(r.read() or b"null")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--max-examples", type=int, default=40)
    ap.add_argument("--seed", type=int, default=20261123)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="tw-schemathesis-") as tmp:
        port = free_port()
        base = f"https://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                args.binary, "serve",
                "--backend-listen", f"127.0.0.1:{port}",
                "--wallet-database-url", f"sqlite://{tmp}/wallet.db",
                "--data-dir", tmp,
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "serve.log", "w"),
        )
        try:
            cert = Path(tmp) / "tls" / "tapwallet-dev-cert.pem"
            ctx = None
            for _ in range(100):
                if server.poll() is not None:
                    print((Path(tmp) / "serve.log").read_text(), file=sys.stderr)
                    print("schemathesis check: the backend did not start", file=sys.stderr)
                    return 1
                try:
                    if cert.exists():
                        ctx = ssl.create_default_context(cafile=str(cert))
                        call(base, ctx, "GET", "/health")
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            else:
                print("schemathesis check: the backend did not answer /health", file=sys.stderr)
                return 1
            email, password = "schemathesis@example.com", "correct horse battery"
            call(base, ctx, "POST", "/v1/users", {"email": email, "password": password})
            # Logging out revokes the session the other operations run with: it gets a pass of
            # its own, with its own session, after the rest.
            logout = "/v1/sessions/current"
            webhooks = "^/v1/webhooks/"
            for selection in (
                ["--exclude-path", logout, "--exclude-path-regex", webhooks],
                ["--include-path", logout],
            ):
                token = call(
                    base, ctx, "POST", "/v1/sessions", {"email": email, "password": password}
                )["access_token"]
                cmd = [
                    "schemathesis", "run", f"{base}/openapi.json",
                    "--url", base,
                    "--tls-verify", str(cert),
                    "-H", f"Authorization: Bearer {token}",
                    "--exclude-checks", "positive_data_acceptance",
                    "--max-examples", str(args.max_examples),
                    "--seed", str(args.seed),
                    "--request-timeout", "10",
                    *selection,
                ]
                shown = ["Authorization: Bearer ***" if "Bearer" in c else c for c in cmd]
                print("schemathesis check:", " ".join(shown), flush=True)
                env = dict(os.environ, NO_COLOR="1")
                if subprocess.run(cmd, env=env).returncode != 0:
                    print("schemathesis check: FAILED", file=sys.stderr)
                    return 1
            print("schemathesis check: ok")
            return 0
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
