#!/usr/bin/python3
"""Run a daemon (sshd) as a child subreaper: reap every descendant that is orphaned, and on
SIGTERM or SIGINT (or when the parent dies) stop the daemon and everything left under it.

Usage: subreaper.py COMMAND [ARG...]

PID 1 on the test machines does not reap orphans; sshd's per-connection children would
otherwise linger as zombies.
"""
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def children():
    me = str(os.getpid())
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[1] == me:
                out.append(int(pid))
        except OSError:
            pass
    return out


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    main_pid = os.fork()
    if main_pid == 0:
        os.execv(sys.argv[1], sys.argv[1:])

    def stop(signum, frame):
        # Python retries an interrupted waitpid: pass the signal on, the loop ends when the
        # daemon does.
        try:
            os.kill(main_pid, signal.SIGTERM)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    main_alive = True
    while main_alive:
        try:
            pid, st = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        if pid == main_pid:
            main_alive = False
            status = os.waitstatus_to_exitcode(st)
    # Stop whatever is left, then reap it all.
    deadline = time.time() + 5
    sig = signal.SIGTERM
    while True:
        left = children()
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        time.sleep(0.05)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if time.time() > deadline:
            sig = signal.SIGKILL
    return status if status >= 0 else 0


if __name__ == "__main__":
    sys.exit(main())
