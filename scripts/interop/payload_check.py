#!/usr/bin/env python3
"""Interop check: jwcrypto (PyPI) opens a real token payload with the device's private key.

Runs the platform (`tapwallet up`, in a temporary directory, on its default ports), registers
a user and a device with `tapwallet device`, adds the demo Visa card 4111 1111 1111 1111 (low
risk: active at once), fetches the card's payload from the wallet backend over HTTPS with the
device's session, and decrypts it with jwcrypto using the secure element's private key
(exported as a P-256 JWK by the interop-only `device init --danger-export-key`; the product
never lets it out). The payload must be a JWE with alg ECDH-ES+A256KW and enc
A256GCM whose plaintext names a Luhn-valid DPAN in the network's token range, different from
the card number, with the token's expiry, TUR and key.

Usage: payload_check.py TAPWALLET_BINARY
Exits non-zero on any failure.
"""
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

from jwcrypto import jwe, jwk
from jwcrypto.common import json_decode

FPAN = "4111111111111111"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="tw-payload-") as tmp:
        up = subprocess.Popen(
            [binary, "up"], cwd=tmp, stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "up.log", "w"),
        )
        try:
            for _ in range(200):
                if up.poll() is not None:
                    print((Path(tmp) / "up.log").read_text(), file=sys.stderr)
                    print("payload check: tapwallet up did not start", file=sys.stderr)
                    return 1
                if port_open(8443) and port_open(8586):
                    break
                time.sleep(0.1)
            device = ["--device-dir", str(Path(tmp) / "device")]
            env = dict(os.environ, TAPWALLET_PASSWORD="correct horse battery",
                       TAPWALLET_PASSCODE="246810",
                       TAPWALLET_RUNTIME_DIR=str(Path(tmp) / "run"))
            key_file = Path(tmp) / "se-private-key.json"

            def cli(*args):
                out = subprocess.run(
                    [binary, "device", *device, "--json", *args],
                    cwd=tmp, env=env, capture_output=True, text=True,
                )
                if out.returncode != 0:
                    raise RuntimeError(f"tapwallet device {args[0]}: {out.stderr.strip()}")
                return json.loads(out.stdout)

            # The secure element keeps its key; the interop-only flag exports it for jwcrypto.
            cli("init", "--danger-export-key", str(key_file))
            cli("register", "--email", "payload-check@example.com")
            card = cli("add-card", "--pan", FPAN, "--expiry", "12/30", "--cvv", "123")
            if card.get("status") != "active":
                print(f"payload check: card not active: {card}", file=sys.stderr)
                return 1
            session = json.loads((Path(tmp) / "device" / "session.json").read_text())
            cert = Path(tmp) / "tapwallet-data" / "tls" / "tapwallet-dev-cert.pem"
            ctx = ssl.create_default_context(cafile=str(cert))
            req = urllib.request.Request(
                f"https://127.0.0.1:8443/v1/cards/{card['id']}/payload",
                headers={"authorization": f"Bearer {session['access_token']}"},
            )
            compact = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))[
                "encrypted_payload"
            ]
            key = jwk.JWK.from_json(key_file.read_text())
            token = jwe.JWE()
            token.deserialize(compact, key=key)
            header = json_decode(token.objects["protected"])
            payload = json.loads(token.payload)
            dpan = payload["dpan"]
            checks = {
                "alg is ECDH-ES+A256KW": header.get("alg") == "ECDH-ES+A256KW",
                "enc is A256GCM": header.get("enc") == "A256GCM",
                "DPAN is Luhn-valid": dpan.isdigit() and luhn_ok(dpan),
                "DPAN is in the Visa token range": dpan.startswith("476173"),
                "DPAN is not the card number": dpan != FPAN,
                "expiry is MMYY": len(payload.get("expiry", "")) == 4,
                "TUR present": str(payload.get("tur", "")).startswith("DNITHE"),
            }
            # Another key must not open it.
            try:
                jwe.JWE().deserialize(compact, key=jwk.JWK.generate(kty="EC", crv="P-256"))
                checks["another key cannot open it"] = False
            except Exception:
                checks["another key cannot open it"] = True
            failed = [name for name, ok in checks.items() if not ok]
            for name in failed:
                print(f"payload check: FAILED: {name}", file=sys.stderr)
            print(f"payload check: {len(checks) - len(failed)}/{len(checks)} ok "
                  f"(jwcrypto opened the token payload with the device key)")
            return 1 if failed else 0
        finally:
            up.terminate()
            try:
                up.wait(timeout=15)
            except subprocess.TimeoutExpired:
                up.kill()


if __name__ == "__main__":
    sys.exit(main())
