#!/usr/bin/python3
"""Drive an interactive program (ssh, pamtester) through a pseudo-terminal, following a script.

Usage: converse.py SCRIPT_JSON -- COMMAND [ARG...]

SCRIPT_JSON is {"timeout": SECONDS, "steps": [STEP...]} where a STEP is
  ["expect", REGEX]   wait for output matching REGEX (Python re, searched in the output)
  ["send", TEXT]      type TEXT followed by Enter
After the last step the program is read to its end. The program's output (the transcript) is
copied to stdout. Exit status: the program's own, or 100 when a step timed out or the program
ended before a step matched (the step and the transcript so far go to stderr).

Runs with Debian's /usr/bin/python3, which has python3-pexpect.
"""
import json
import sys

import pexpect


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write(__doc__)
        return 2
    script = json.loads(sys.argv[1])
    timeout = float(script.get("timeout", 30))
    argv = sys.argv[3:]
    child = pexpect.spawn(argv[0], argv[1:], timeout=timeout, encoding="utf-8",
                          codec_errors="replace", echo=False)
    child.logfile_read = sys.stdout
    i, step = -1, None
    try:
        for i, step in enumerate(script["steps"]):
            kind, arg = step[0], step[1]
            if kind == "expect":
                child.expect(arg)
            elif kind == "send":
                child.sendline(arg)
            else:
                raise ValueError("unknown step kind %r" % kind)
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        sys.stdout.flush()
        sys.stderr.write("\nconverse.py: step %d %r not reached: %s\n"
                         % (i, step, type(e).__name__))
        child.close(force=True)
        return 100
    child.close()
    sys.stdout.flush()
    if child.exitstatus is not None:
        return child.exitstatus
    return 128 + (child.signalstatus or 0)


if __name__ == "__main__":
    sys.exit(main())
