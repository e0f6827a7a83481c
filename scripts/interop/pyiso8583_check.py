#!/usr/bin/env python3
"""Interop check: pyiso8583 (a third-party ISO 8583 implementation, PyPI `pyiso8583`) and our
`iso8583` crate must agree on the bytes of every message the platform sends.

Builds random 0100/0110/0400/0800 messages over the fields the platform uses (DE 2, 3, 4, 7, 11,
12, 13, 14, 18, 22, 23, 35, 37, 38, 39, 41, 42, 43, 49, 55, 70, 90) and encodes them with
pyiso8583, in two dialects:

* ascii87: pyiso8583's `default_ascii`, which our ASCII87 spec mirrors;
* binary87: `default_ascii` with binary bitmaps and binary DE 52/55/64/96/128 (DE 55 LLLVAR up to
  255 bytes), which our BINARY87 spec mirrors.

Then, through `cargo run -q -p iso8583 --example iso8583_json`:

1. unpack: our decoded JSON must equal pyiso8583's decoded dict (MTI, bitmaps, every field);
2. pack: our JSON packed again must be byte-identical to pyiso8583's encoding, and must decode
   with pyiso8583 to the original fields;
3. reject: truncated messages and messages with a trailing byte must be refused by both.

Usage: pyiso8583_check.py [--cases N] [--seed S] [--tool PATH]
  --tool: a prebuilt example binary (target/debug/examples/iso8583_json) instead of cargo run.
Prints one line per failure and ends with "N passed, M failed"; exits 1 on any failure.
"""
import argparse
import copy
import json
import os
import random
import subprocess
import sys

import iso8583
from iso8583.specs import default_ascii

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

DIGITS = "0123456789"
AN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "
ANS = "".join(chr(c) for c in range(0x20, 0x7F))  # printable ASCII, quotes and backslash included


def binary87_spec():
    """default_ascii with binary bitmaps and raw binary fields: our BINARY87."""
    spec = copy.deepcopy(default_ascii)
    for key in ("p", "1", "65"):
        spec[key]["data_enc"] = "b"
    spec["65"]["max_len"] = 8
    for key in ("52", "55", "64", "96", "128"):
        spec[key]["data_enc"] = "b"
        spec[key]["max_len"] //= 2
    return spec


DIALECTS = [("ascii87", default_ascii, []), ("binary87", binary87_spec(), ["--binary"])]


def digits(rng, n):
    return "".join(rng.choice(DIGITS) for _ in range(n))


def text(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def mmdd(rng):
    return f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def hhmmss(rng):
    return f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"


def pan(rng):
    # Sometimes empty: LLVAR "00" must travel too.
    return "" if rng.random() < 0.02 else digits(rng, rng.randint(12, 19))


def track2(rng):
    account = digits(rng, rng.randint(12, 19))
    sep = rng.choice("=D")
    body = f"{account}{sep}{rng.randint(25, 35):02d}{rng.randint(1, 12):02d}{rng.choice(['201', '101', '221'])}"
    return body + digits(rng, rng.randint(0, 37 - len(body)))


def icc(rng):
    """Hex text (upper case) of 0 to 255 bytes: mostly EMV-like TLV, sometimes random bytes."""
    if rng.random() < 0.5:
        tlv = ""
        for tag, size in [("9F02", 6), ("9F26", 8), ("82", 2), ("9F36", 2), ("9F37", 4), ("95", 5), ("9A", 3), ("9C", 1), ("5F2A", 2), ("9F10", rng.randint(7, 32))]:
            if rng.random() < 0.8:
                tlv += tag + f"{size:02X}" + "".join(f"{rng.randrange(256):02X}" for _ in range(size))
        return tlv
    return "".join(f"{rng.randrange(256):02X}" for _ in range(rng.choice([0, 1, 2, 127, 128, 254, 255, rng.randint(0, 255)])))


GENERATORS = {
    "2": pan,
    "3": lambda r: r.choice(["000000", "200000", "010000", "003000", "300000"]) if r.random() < 0.7 else digits(r, 6),
    "4": lambda r: digits(r, 12),
    "7": lambda r: mmdd(r) + hhmmss(r),
    "11": lambda r: digits(r, 6),
    "12": hhmmss,
    "13": mmdd,
    "14": lambda r: f"{r.randint(25, 35):02d}{r.randint(1, 12):02d}",
    "18": lambda r: r.choice(["5411", "5812", "5999", "4111", "6011"]),
    "22": lambda r: r.choice(["071", "051", "072", "010", "901"]),
    "23": lambda r: digits(r, 3),
    "35": track2,
    "37": lambda r: text(r, AN, 12),
    "38": lambda r: text(r, AN, 6),
    "39": lambda r: r.choice(["00", "05", "12", "13", "14", "30", "51", "54", "55", "57", "59", "61", "62", "65", "78", "91", "94", "96", "Z3"]),
    "41": lambda r: text(r, ANS, 8),
    "42": lambda r: text(r, ANS, 15),
    "43": lambda r: text(r, ANS, 40),
    "49": lambda r: r.choice(["978", "840", "826", "392", "756", "752", "414", "986"]),
    "55": icc,
    "70": lambda r: r.choice(["001", "002", "301", "161", "201"]),
    "90": lambda r: r.choice(["0100", "0200"]) + digits(r, 6) + mmdd(r) + hhmmss(r) + digits(r, 22),
}


# MTI -> (always present, sometimes present)
SHAPES = {
    "0100": (["3", "4", "7", "11"], ["2", "12", "13", "14", "18", "22", "23", "35", "37", "41", "42", "43", "49", "55"]),
    "0110": (["3", "4", "7", "11", "39"], ["2", "37", "38", "41", "42", "49", "55"]),
    "0400": (["3", "4", "7", "11", "90"], ["2", "12", "13", "37", "41", "42", "49", "55"]),
    "0800": (["7", "11", "70"], []),
}


def random_doc(rng):
    mti = rng.choice(list(SHAPES))
    always, sometimes = SHAPES[mti]
    keys = always + [k for k in sometimes if rng.random() < 0.6]
    doc = {"t": mti}
    for k in keys:
        doc[k] = GENERATORS[k](rng)
    return doc


def run_tool(tool, args, lines):
    """Feeds lines to the example and returns its output lines (one per input line)."""
    if tool:
        cmd = [tool] + args
    else:
        cmd = ["cargo", "run", "-q", "-p", "iso8583", "--example", "iso8583_json", "--"] + args
    proc = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=ROOT)
    out = proc.stdout.splitlines()
    if len(out) != len(lines):
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{' '.join(cmd)}: {len(out)} output lines for {len(lines)} inputs (exit {proc.returncode})")
    return out


def check_dialect(name, spec, args, docs, tool, rng):
    passed = failed = 0

    def fail(i, what):
        nonlocal failed
        failed += 1
        print(f"FAIL {name} case {i}: {what}")

    encoded = []
    for doc in docs:
        raw, _ = iso8583.encode(copy.deepcopy(doc), spec)
        encoded.append(bytes(raw))

    # 1. unpack: our JSON equals pyiso8583's decoded dict.
    ours = run_tool(tool, args, [e.hex().upper() for e in encoded])
    decoded_ours = []
    for i, (raw, line) in enumerate(zip(encoded, ours)):
        theirs, _ = iso8583.decode(raw, spec)
        if line.startswith("error:"):
            fail(i, f"unpack refused a pyiso8583 message: {line}")
            decoded_ours.append(None)
            continue
        got = json.loads(line)
        decoded_ours.append(got)
        if got != theirs:
            diff = {k: (got.get(k), theirs.get(k)) for k in set(got) | set(theirs) if got.get(k) != theirs.get(k)}
            fail(i, f"unpack differs (ours, pyiso8583): {diff}")
        else:
            passed += 1

    # 2. pack: our encoding of our JSON is pyiso8583's bytes, and decodes back with pyiso8583.
    todo = [(i, d) for i, d in enumerate(decoded_ours) if d is not None]
    packed = run_tool(tool, ["--pack"] + args, [json.dumps(d) for _, d in todo])
    for (i, _), line in zip(todo, packed):
        if line.startswith("error:"):
            fail(i, f"pack refused: {line}")
            continue
        raw = bytes.fromhex(line)
        if raw != encoded[i]:
            fail(i, f"pack differs: ours {raw!r}, pyiso8583 {encoded[i]!r}")
            continue
        back, _ = iso8583.decode(raw, spec)
        fields = {k: v for k, v in back.items() if k not in ("p", "1")}
        if fields != docs[i]:
            fail(i, f"pyiso8583 decodes our packing differently: {fields} vs {docs[i]}")
        else:
            passed += 1

    # 3. reject: truncated or extended messages are refused by both.
    broken = []
    for raw in encoded[: max(1, len(encoded) // 4)]:
        broken.append(raw[: rng.randrange(1, len(raw))])
        broken.append(raw + bytes([rng.choice(b"0A ")]))
    verdicts = run_tool(tool, args, [b.hex().upper() for b in broken])
    for i, (raw, line) in enumerate(zip(broken, verdicts)):
        try:
            iso8583.decode(raw, spec)
            theirs_ok = True
        except iso8583.DecodeError:
            theirs_ok = False
        ours_ok = not line.startswith("error:")
        if ours_ok or theirs_ok:
            fail(i, f"broken message accepted (ours {ours_ok}, pyiso8583 {theirs_ok}): {raw!r}")
        else:
            passed += 1
    return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400, help="messages per dialect")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--tool", default=None, help="prebuilt iso8583_json example binary")
    opts = parser.parse_args()
    seed = opts.seed if opts.seed is not None else random.randrange(2**32)
    print(f"pyiso8583 {iso8583.__version__}, seed {seed}, {opts.cases} messages per dialect")
    rng = random.Random(seed)
    passed = failed = 0
    for name, spec, args in DIALECTS:
        docs = [random_doc(rng) for _ in range(opts.cases)]
        p, f = check_dialect(name, spec, args, docs, opts.tool, rng)
        print(f"{name}: {p} passed, {f} failed")
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
