#!/usr/bin/env python3
"""Interop check: pyscard (PyPI) selects the PPSE of the card that an external program serves
through vpcd, in the PC/SC reader "Virtual PCD 00 00".

Run it while pcscd (with vsmartcard-vpcd) runs and something serves the card, e.g.
`cargo run -p nfc --example vpcd_demo_card` or the wallet's card application:
  1. waits for a card in the reader (up to --wait seconds);
  2. connects (T=0 or T=1) and sends SELECT PPSE, 00 A4 04 00 0E "2PAY.SYS.DDF01" 00;
  3. checks that the answer ends with 90 00 and that its FCI holds tag 4F (an AID).
Exits 0 when every check passes, 1 when one fails, 2 when the environment is not ready
(no pyscard, no pcscd, no reader, no card).
Usage: pcsc_check.py [--reader NAME] [--wait SECONDS]
Setup: apt-get install swig libpcsclite-dev pcscd vsmartcard-vpcd; pip install pyscard
"""
import argparse
import sys

SELECT_PPSE = [0x00, 0xA4, 0x04, 0x00, 0x0E] + list(b"2PAY.SYS.DDF01") + [0x00]


def fail_env(message: str) -> int:
    print(f"pcsc_check: {message}", file=sys.stderr)
    return 2


def tlv_tags(data: bytes) -> list:
    """Every BER-TLV tag in data, descending into constructed ones. Raises ValueError on
    malformed input."""
    tags, i = [], 0
    while i < len(data):
        if data[i] in (0x00, 0xFF):  # padding between TLVs (EMV Book 3, Annex B)
            i += 1
            continue
        start = i
        i += 1
        if data[start] & 0x1F == 0x1F:  # multi-byte tag
            while i < len(data) and data[i] & 0x80:
                i += 1
            i += 1
        if i > len(data):
            raise ValueError(f"tag cut off at offset {start}")
        tag = int.from_bytes(data[start:i], "big")
        if i >= len(data):
            raise ValueError(f"length of tag {tag:X} missing at offset {i}")
        length = data[i]
        i += 1
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 3 or i + count > len(data):
                raise ValueError(f"bad length of tag {tag:X} at offset {i - 1}")
            length = int.from_bytes(data[i:i + count], "big")
            i += count
        if i + length > len(data):
            raise ValueError(f"value of tag {tag:X} overruns the data ({length} bytes at offset {i})")
        tags.append(tag)
        if data[start] & 0x20:  # constructed
            tags.extend(tlv_tags(data[i:i + length]))
        i += length
    return tags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", default="Virtual PCD 00 00",
                        help="the reader's name, or a part of it (default: %(default)s)")
    parser.add_argument("--wait", type=float, default=10.0,
                        help="seconds to wait for a card (default: %(default)s)")
    args = parser.parse_args()

    try:
        from smartcard.CardRequest import CardRequest
        from smartcard.Exceptions import CardRequestTimeoutException, NoCardException
        from smartcard.System import readers as list_readers
        from smartcard.scard import SCARD_PROTOCOL_T0, SCARD_PROTOCOL_T1
    except ImportError as e:
        return fail_env(f"pyscard is missing ({e}): apt-get install swig libpcsclite-dev; "
                        "pip install pyscard")

    try:
        names = [str(r) for r in list_readers()]
    except Exception as e:  # pyscard raises its own classes, or a bare one when pcscd is down
        return fail_env(f"cannot list PC/SC readers ({e}): is pcscd running? Start it with `pcscd`")
    matching = [n for n in names if args.reader in n]
    if not matching:
        return fail_env(f"no reader name contains {args.reader!r}; readers: {names or 'none'} "
                        "(apt-get install vsmartcard-vpcd, then restart pcscd)")
    reader = matching[0]

    request = CardRequest(readers=[reader], timeout=args.wait)
    try:
        service = request.waitforcard()
        service.connection.connect(SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1)
    except CardRequestTimeoutException:
        return fail_env(f"no card in {reader!r} after {args.wait:g} s: is the card program "
                        "connected to vpcd (127.0.0.1:35963)?")
    except NoCardException as e:
        return fail_env(f"the card in {reader!r} did not answer: {e}")

    passed = failed = 0

    def check(name: str, ok: bool, detail: str = "") -> None:
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok    {name}")
        else:
            failed += 1
            print(f"FAIL  {name}{': ' + detail if detail else ''}")

    connection = service.connection
    try:
        print(f"reader {reader!r}, ATR {bytes(connection.getATR()).hex().upper()}")
        data, sw1, sw2 = connection.transmit(SELECT_PPSE)
    except Exception as e:
        print(f"FAIL  SELECT PPSE: transmit failed: {e}")
        return 1
    response = bytes(data)
    print(f"SELECT PPSE -> {response.hex().upper()} {sw1:02X}{sw2:02X}")
    check("SELECT PPSE ends with 90 00", (sw1, sw2) == (0x90, 0x00), f"got {sw1:02X}{sw2:02X}")
    try:
        tags = tlv_tags(response)
        check("the FCI is well-formed BER-TLV", True)
        check("the FCI starts with tag 6F", bool(tags) and tags[0] == 0x6F,
              f"tags {[f'{t:X}' for t in tags]}")
        check("the FCI holds tag 4F (an application's AID)", 0x4F in tags,
              f"tags {[f'{t:X}' for t in tags]}")
    except ValueError as e:
        check("the FCI is well-formed BER-TLV", False, str(e))
    try:
        connection.disconnect()
    except Exception:
        pass

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
