#!/usr/bin/python3
"""Drive an interactive program (ssh, pamtester) through a pseudo-terminal, following a script.

Usage: converse.py SCRIPT_JSON -- COMMAND [ARG...]

SCRIPT_JSON is {"timeout": SECONDS, "steps": [STEP...]} where a STEP is
  ["expect", REGEX]   wait for output matching REGEX (Python re, searched in the output)
  ["send", TEXT]      type TEXT followed by Enter
  ["send_totp", REGEX, DIGITS, PERIOD]
                      type the current TOTP code (RFC 6238, HMAC-SHA1) of a secret shown in the
                      output so far: REGEX has one group capturing the base32 secret (spaces
                      are dropped, case and padding do not matter); its last match is used.
                      DIGITS (default 6) and PERIOD in seconds (default 30) may be left out.
  ["send_wrong_totp", REGEX, DIGITS, PERIOD, WINDOW]
                      type a code of that shape that is the secret's code at none of the
                      WINDOW (default 1) time steps either side of now, nor now: a wrong code
                      that cannot be accepted by chance.
After the last step the program is read to its end. The program's output (the transcript) is
copied to stdout. Exit status: the program's own, or 100 when a step timed out or the program
ended before a step matched (the step and the transcript so far go to stderr), or 101 when a
send_totp step found no secret in the output.

Runs with Debian's /usr/bin/python3, which has python3-pexpect.
"""
import base64
import hashlib
import hmac
import json
import re
import struct
import sys
import time

import pexpect


class NoSecret(Exception):
    pass


class Transcript:
    """pexpect's logfile_read: copies the output to stdout and keeps it for send_totp."""

    def __init__(self, out):
        self.out = out
        self.text = ""

    def write(self, data):
        self.text += data
        self.out.write(data)

    def flush(self):
        self.out.flush()


def totp(key, step, digits):
    """RFC 4226 HOTP of `key` at counter `step` (RFC 6238: step = unix time // period)."""
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    at = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[at:at + 4])[0] & 0x7FFFFFFF
    return str(value % (10 ** digits)).zfill(digits)


def secret_in(transcript, regex):
    found = re.findall(regex, transcript)
    if not found:
        raise NoSecret("no match of %r in the output" % regex)
    b32 = re.sub(r"\s", "", found[-1]).upper().rstrip("=")
    b32 += "=" * (-len(b32) % 8)
    return base64.b32decode(b32)


def code_for(step, transcript):
    """The answer of a send_totp / send_wrong_totp step."""
    regex = step[1]
    digits = int(step[2]) if len(step) > 2 else 6
    period = int(step[3]) if len(step) > 3 else 30
    key = secret_in(transcript, regex)
    now = int(time.time()) // period
    if step[0] == "send_totp":
        return totp(key, now, digits)
    window = int(step[4]) if len(step) > 4 else 1
    near = {totp(key, now + k, digits) for k in range(-window, window + 1)}
    n = 0
    while True:
        candidate = str((n * 7919 + 13) % (10 ** digits)).zfill(digits)
        if candidate not in near:
            return candidate
        n += 1


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write(__doc__)
        return 2
    script = json.loads(sys.argv[1])
    timeout = float(script.get("timeout", 30))
    argv = sys.argv[3:]
    child = pexpect.spawn(argv[0], argv[1:], timeout=timeout, encoding="utf-8",
                          codec_errors="replace", echo=False)
    transcript = Transcript(sys.stdout)
    child.logfile_read = transcript
    i, step = -1, None
    try:
        for i, step in enumerate(script["steps"]):
            kind, arg = step[0], step[1]
            if kind == "expect":
                child.expect(arg)
            elif kind == "send":
                child.sendline(arg)
            elif kind in ("send_totp", "send_wrong_totp"):
                child.sendline(code_for(step, transcript.text))
            else:
                raise ValueError("unknown step kind %r" % kind)
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        sys.stdout.flush()
        sys.stderr.write("\nconverse.py: step %d %r not reached: %s\n"
                         % (i, step, type(e).__name__))
        child.close(force=True)
        return 100
    except NoSecret as e:
        sys.stdout.flush()
        sys.stderr.write("\nconverse.py: step %d %r: %s\n" % (i, step, e))
        child.close(force=True)
        return 101
    child.close()
    sys.stdout.flush()
    if child.exitstatus is not None:
        return child.exitstatus
    return 128 + (child.signalstatus or 0)


if __name__ == "__main__":
    sys.exit(main())
