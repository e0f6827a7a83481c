#!/usr/bin/env python3
"""Interop check: pyiso8583 (PyPI) talks to our acquirer over TCP.

Starts `tapwallet up` on free loopback ports with a fresh SQLite database, then:
  1. has `tapwallet pos charge --dry-run` tap the demo card and write the framed 0100;
  2. decodes it with pyiso8583, re-encodes it with pyiso8583 (so the bytes on the wire are
     pyiso8583's), sends it to the acquirer and decodes the 0110 with pyiso8583: approved (00),
     with an authorization code and an ARPC (tag 91) in DE 55;
  3. sends it again under new STAN/RRN: the captured cryptogram is declined as a replay (59);
  4. sends a pyiso8583-built 0800 echo (0810, 00) and a 0100 missing its mandatory fields (30).
Prints "N passed, M failed"; exits 1 on any failure.
Usage: acquirer_check.py TAPWALLET_BINARY
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

import iso8583
from iso8583.specs import default_ascii as SPEC


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port: int, doc: dict) -> dict:
    body, _ = iso8583.encode(dict(doc), SPEC)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(len(body).to_bytes(2, "big") + body)
        n = int.from_bytes(recv_exact(s, 2), "big")
        answer, _ = iso8583.decode(recv_exact(s, n), SPEC)
        return answer


def recv_exact(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed")
        out += chunk
    return out


def main() -> int:
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="tw-interop-")
    acq, net, iss = free_port(), free_port(), free_port()
    up = subprocess.Popen(
        [binary, "up", "--database-url", f"sqlite://{work}/tw.db", "--acquirer-listen", f"127.0.0.1:{acq}",
         "--network-listen", f"127.0.0.1:{net}", "--issuer-listen", f"127.0.0.1:{iss}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
    passed = failed = 0

    def check(name: str, ok: bool, detail: str = "") -> None:
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {name} {detail}")

    try:
        deadline = time.time() + 60
        while True:
            line = up.stdout.readline()
            if "Tapwallet is up" in line:
                break
            if not line and up.poll() is not None or time.time() > deadline:
                print("FAIL tapwallet up did not start")
                return 1
        dump = os.path.join(work, "req.bin")
        subprocess.run([binary, "pos", "charge", "--amount", "4.20", "--acquirer", f"127.0.0.1:{acq}",
                        "--card-dir", os.path.join(work, "cards"), "--dump-request", dump, "--dry-run"],
                       check=True, capture_output=True, cwd=work)
        raw = open(dump, "rb").read()
        doc, _ = iso8583.decode(raw[2:], SPEC)
        check("dump length header", int.from_bytes(raw[:2], "big") == len(raw) - 2)
        answer = exchange(acq, doc)
        check("0110", answer.get("t") == "0110", str(answer.get("t")))
        check("approved", answer.get("39") == "00", str(answer.get("39")))
        check("auth code", len(answer.get("38", "")) == 6)
        check("ARPC in DE 55", "91" in answer.get("55", "").upper()[:4], answer.get("55", "")[:8])
        check("echoed STAN", answer.get("11") == doc["11"])
        check("token not funding PAN", answer.get("2") == doc["2"])
        replay = dict(doc)
        replay["11"] = f"{(int(doc['11']) + 1) % 1000000:06d}"
        replay["37"] = "999999999999"
        check("replay declined 59", exchange(acq, replay).get("39") == "59")
        echo = exchange(acq, {"t": "0800", "7": "1123120000", "11": "000777", "70": "301"})
        check("0810 echo", echo.get("t") == "0810" and echo.get("39") == "00", str(echo))
        bare = exchange(acq, {"t": "0100", "11": "000778", "37": "000000000778", "41": "TWPOS001"})
        check("format error 30", bare.get("39") == "30", str(bare.get("39")))
    finally:
        up.terminate()
        try:
            up.wait(timeout=15)
        except subprocess.TimeoutExpired:
            up.kill()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
