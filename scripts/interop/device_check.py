#!/usr/bin/env python3
"""End-to-end check of the device wallet through the real binary and, when pcscd runs with
vsmartcard's vpcd, through PC/SC.

Runs the platform (`tapwallet up`, in a temporary directory, on its default ports) and walks a
device through it with `tapwallet device` and `tapwallet pos charge`:

* a new device's secure element, registration, a low-risk card (active at once);
* taps in process: inside the payment window (verified on the phone), locked (no payment),
  after the window (small amounts pay, large ones get "see phone");
* a copy of the device directory cannot pay without the passcode, and guessing is counted;
* suspend and resume reach the network; a lost device's tokens are declined until recovered
  (reported from a second device of the same user); a deleted token is declined at the
  network even for a copy that still holds its keys;
* the PC/SC path: `tapwallet device nfc` serves the card to vpcd, `pos charge --reader pcsc`
  reads it through pcscd (required when TAPWALLET_TEST_PCSC is set, skipped otherwise);
* `tapwallet demo --json` against the running platform.

Usage: device_check.py TAPWALLET_BINARY
Exits non-zero on any failure.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PASSCODE = "246810"
checks: dict[str, bool] = {}


def check(name: str, ok: bool, detail: object = "") -> None:
    checks[name] = bool(ok)
    status = "ok" if ok else "FAILED"
    print(f"device check: {status}: {name}" + (f" ({detail})" if not ok and detail else ""))


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    binary = os.path.abspath(sys.argv[1])
    want_pcsc = bool(os.environ.get("TAPWALLET_TEST_PCSC"))
    with tempfile.TemporaryDirectory(prefix="tw-device-") as tmp:
        root = Path(tmp)
        up = subprocess.Popen(
            [binary, "up"], cwd=tmp, stdout=subprocess.DEVNULL,
            stderr=open(root / "up.log", "w"),
        )
        children = [up]
        try:
            for _ in range(300):
                if up.poll() is not None:
                    print((root / "up.log").read_text(), file=sys.stderr)
                    print("device check: tapwallet up did not start", file=sys.stderr)
                    return 1
                if all(port_open(p) for p in (8443, 8583, 8586)):
                    break
                time.sleep(0.1)
            base_env = dict(os.environ, TAPWALLET_PASSWORD="correct horse battery",
                            TAPWALLET_RUNTIME_DIR=str(root / "run"))
            base_env.pop("TAPWALLET_PASSCODE", None)

            def run(*args, device="a", stdin=None, ok=True):
                env = dict(base_env, TAPWALLET_DEVICE_DIR=str(root / device))
                out = subprocess.run([binary, *args, "--json"], cwd=tmp, env=env,
                                     input=stdin, capture_output=True, text=True, timeout=60)
                if ok and out.returncode != 0 and '"outcome"' not in out.stdout:
                    raise RuntimeError(f"tapwallet {' '.join(args)}: {out.stderr.strip()}")
                try:
                    value = json.loads(out.stdout) if out.stdout.strip() else {}
                except json.JSONDecodeError:
                    value = {}
                return out.returncode, value, out.stderr.strip()

            def charge(amount, device="a", extra=()):
                code, value, err = run("pos", "charge", "--amount", amount,
                                       "--device-dir", str(root / device), *extra, ok=False)
                return code, value, err

            # A device, an account, a card.
            run("device", "init", "--passcode-stdin", stdin=PASSCODE + "\n")
            run("device", "register", "--email", "device-check@example.com")
            _, card, _ = run("device", "add-card", "--pan", "4111111111111111",
                             "--expiry", "12/30", "--cvv", "123")
            card_id = card.get("id")
            check("the card is active at once", card.get("status") == "active", card)
            _, status, _ = run("device", "status")
            tokens = status.get("tokens", [])
            check("its token is installed in the secure element, masked",
                  len(tokens) == 1 and "*" in tokens[0]["token"]
                  and tokens[0]["token"].startswith("476173"), status)
            sealed = (root / "a" / "secure-element" / "sealed.json").read_text()
            check("the device directory holds no card or token number in clear",
                  "4111111111111111" not in sealed and "476173" not in sealed)

            # Inside the payment window opened by init.
            code, paid, err = charge("80.00")
            check("inside the payment window a large tap is approved, verified on the phone",
                  code == 0 and paid.get("outcome") == "approved"
                  and paid.get("arpc") == "accepted", (paid, err))
            # Locked: nothing pays.
            run("device", "lock")
            code, paid, err = charge("5.00")
            check("a locked device does not pay", code != 0 and "locked" in err, err)
            # After the window: small pays, large says see phone.
            run("device", "unlock", "--passcode-stdin", "--window-secs", "1",
                stdin=PASSCODE + "\n")
            time.sleep(1.5)
            code, paid, err = charge("80.00")
            check("after the window a large tap gets 'see phone'",
                  paid.get("outcome") == "see_phone", (paid, err))
            code, paid, err = charge("12.00")
            check("after the window a small tap pays without verification",
                  code == 0 and paid.get("outcome") == "approved", (paid, err))
            # ATCs only grow.
            _, status, _ = run("device", "status")
            atc_before = status["tokens"][0]["atc"]

            # A copy of the device directory.
            shutil.copytree(root / "a", root / "copy")
            code, paid, err = charge("5.00", device="copy")
            check("a copied device directory cannot pay without the passcode",
                  code != 0 and "locked" in err, err)
            code, _, err = run("device", "unlock", "--passcode-stdin", device="copy",
                               stdin="000000\n", ok=False)
            check("guessing the copy's passcode is counted",
                  code != 0 and "9 tries left" in err, err)
            # With the passcode the copy opens (it stands for a stolen phone whose passcode is
            # known); it is used below to show that a deleted token is refused at the network.
            run("device", "unlock", "--passcode-stdin", device="copy", stdin=PASSCODE + "\n")

            # Suspend and resume reach the network.
            run("device", "unlock", "--passcode-stdin", stdin=PASSCODE + "\n")
            run("device", "suspend", card_id)
            code, paid, _ = charge("10.00")
            check("a suspended token's tap is declined at the network",
                  code != 0 and paid.get("outcome") == "declined", paid)
            run("device", "resume", card_id)
            code, paid, _ = charge("10.00")
            check("after resume it pays again", code == 0, paid)

            # Lost and recovered, reported from a second device of the same user.
            run("device", "init", "--passcode-stdin", device="b", stdin=PASSCODE + "\n")
            run("device", "login", "--email", "device-check@example.com", "--name", "tablet",
                device="b")
            session_a = json.loads((root / "a" / "session.json").read_text())
            run("device", "lost", session_a["device_id"], device="b")
            code, paid, _ = charge("10.00")
            check("a lost device's tap is declined at the network",
                  code != 0 and paid.get("outcome") == "declined", paid)
            run("device", "recovered", session_a["device_id"], device="b")
            code, paid, _ = charge("10.00")
            check("a recovered device pays again", code == 0, paid)

            # HCE: a phone without a secure element pays with batches of limited-use keys.
            run("device", "init", "--passcode-stdin", device="h", stdin=PASSCODE + "\n")
            run("device", "login", "--email", "device-check@example.com", "--name", "hce phone",
                device="h")
            _, hce, _ = run("device", "add-card", "--hce", "--pan", "4111111111111111",
                            "--expiry", "12/30", "--cvv", "123", device="h")
            # A smaller batch than the default keeps the test under the issuer's velocity
            # limit (20 approvals a day per card); it supersedes the first one.
            run("device", "replenish", hce.get("id", "?"), "--count", "2", device="h")
            _, status, _ = run("device", "status", device="h")
            batch = status["tokens"][0].get("payments_left") if status.get("tokens") else None
            check("an HCE card arrives with a batch of limited-use keys",
                  hce.get("credential") == "hce" and status["tokens"][0]["credential"] == "hce"
                  and batch == 10, (hce, status))
            # A copy of the phone, made now and opened with the passcode (the worst case).
            shutil.copytree(root / "h", root / "h-copy")
            run("device", "unlock", "--passcode-stdin", device="h-copy", stdin=PASSCODE + "\n")
            approved = {"h": 0, "h-copy": 0}
            declined = {"h": [], "h-copy": []}
            exhausted = set()
            for _ in range(3 * (batch or 1) + 10):
                for who in ("h-copy", "h", "h"):
                    if who in exhausted:
                        continue
                    code, paid, err = charge("12.00", device=who)
                    if code == 0:
                        approved[who] += 1
                    elif "no payment keys left" in err:
                        exhausted.add(who)
                    else:
                        declined[who].append(paid.get("response_code"))
                if len(exhausted) == 2:
                    break
            check("the phone and its copy together pay exactly what the batch holds",
                  approved["h"] + approved["h-copy"] == batch and approved["h-copy"] > 0,
                  (approved, batch))
            check("the copy's reused counters are declined as replays (59)",
                  declined["h-copy"] and set(declined["h-copy"]) <= {"59"}, declined)
            check("with the batch used up neither pays", exhausted == {"h", "h-copy"}, exhausted)
            _, replenished, _ = run("device", "replenish", hce["id"], "--count", "2", device="h")
            check("replenishing brings a new batch", replenished.get("payments_left") == batch,
                  replenished)
            code, paid, _ = charge("12.00", device="h")
            check("the new batch pays", code == 0 and paid.get("arpc") == "accepted", paid)
            run("device", "unlock", "--passcode-stdin", stdin=PASSCODE + "\n")

            # The PC/SC path.
            pcsc_ready = Path("/run/pcscd/pcscd.comm").exists()
            if want_pcsc or pcsc_ready:
                env = dict(base_env, TAPWALLET_DEVICE_DIR=str(root / "a"))
                nfc = subprocess.Popen([binary, "device", "nfc", "--json", "--vpcd",
                                        "127.0.0.1:35963"],
                                       cwd=tmp, env=env, stdout=subprocess.PIPE, text=True,
                                       stderr=open(root / "nfc.log", "w"))
                children.append(nfc)
                # Wait until pcscd has read this phone's ATR (before that the reader may still
                # show a card that left).
                ready = False
                deadline = time.time() + 20
                while time.time() < deadline:
                    line = nfc.stdout.readline()
                    if not line:
                        break
                    if '"ready"' in line:
                        ready = True
                        break
                check("the virtual reader sees the phone (tapwallet device nfc)", ready,
                      (root / "nfc.log").read_text())
                # pyscard, a third-party PC/SC client, selects the phone's PPSE.
                here = Path(__file__).resolve().parent
                out = subprocess.run([sys.executable, str(here / "pcsc_check.py"), "--reader",
                                      "Virtual PCD 00 00", "--wait", "10"],
                                     capture_output=True, text=True, timeout=60)
                check("pyscard selects the phone's PPSE through pcscd", out.returncode == 0,
                      out.stdout + out.stderr)
                out = subprocess.run(
                    [binary, "pos", "charge", "--amount", "80.00", "--reader",
                     "pcsc:Virtual PCD 00 00", "--present-secs", "15", "--json"],
                    cwd=tmp, env=base_env, capture_output=True, text=True, timeout=60)
                try:
                    paid = json.loads(out.stdout)
                except json.JSONDecodeError:
                    paid = {}
                check("through PC/SC (pcscd + vpcd) the phone pays, verified on the phone",
                      out.returncode == 0 and paid.get("outcome") == "approved"
                      and paid.get("arpc") == "accepted",
                      (paid, out.stderr.strip(), (root / "nfc.log").read_text()))
                nfc.terminate()
                nfc.wait(timeout=10)
            else:
                print("device check: skipped the PC/SC path (no vpcd on 127.0.0.1:35963; "
                      "set TAPWALLET_TEST_PCSC=1 to require it)")

            _, status, _ = run("device", "status")
            check("the ATC only grew", status["tokens"][0]["atc"] > atc_before, status)

            # Remove: the token is deleted at the network; the copy that still holds its keys
            # is declined there.
            run("device", "remove", card_id)
            _, status, _ = run("device", "status")
            check("removing a card takes its keys out of the secure element",
                  status.get("tokens") == [], status)
            code, paid, err = charge("10.00", device="copy")
            check("a deleted token's tap is declined at the network",
                  code != 0 and paid.get("outcome") == "declined", (paid, err))

            # The one-command demo, against the running platform.
            out = subprocess.run([binary, "demo", "--json"], cwd=tmp, env=base_env,
                                 capture_output=True, text=True, timeout=180)
            try:
                demo = json.loads(out.stdout.strip().splitlines()[-1])
            except (json.JSONDecodeError, IndexError):
                demo = {}
            check("`tapwallet demo` pays and shows the enriched history entry",
                  out.returncode == 0 and demo.get("approved") is True
                  and demo.get("history_entry", {}).get("merchant", {}).get("name"),
                  (demo, out.stderr.strip()))
            if want_pcsc:
                check("`tapwallet demo` took the PC/SC path", demo.get("path") == "pcsc", demo)
        finally:
            for child in reversed(children):
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
    failed = [name for name, ok in checks.items() if not ok]
    print(f"device check: {len(checks) - len(failed)}/{len(checks)} ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
