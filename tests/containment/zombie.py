#!/usr/bin/python3
"""zombie.py AM-START-COMMAND... - kill a detached supervisor and keep it
a zombie while `am execution list` looks at it.

Becomes a child subreaper (so the detached supervisor is reparented to
this process), runs the given `am execution start --detach ...`, kills
the supervisor its lease names with SIGKILL and, without reaping it, runs
`am execution list`.  Prints "zombie PID" and then the list's line for the
execution ("list -" if there is none); reaps everything before it exits.
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl: %s" % os.strerror(ctypes.get_errno()))

op = subprocess.run(sys.argv[1:], check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
uuid = op.rsplit(":", 1)[1]
state = os.environ.get("XDG_STATE_HOME", os.path.expanduser("~/.local/state"))
with open(os.path.join(state, "am", "leases", uuid + ".json")) as f:
    pid = json.load(f)["pid"]


def proc_state(p):
    try:
        with open("/proc/%d/stat" % p) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "-"


os.kill(pid, signal.SIGKILL)
for _ in range(100):
    if proc_state(pid) == "Z":
        break
    time.sleep(0.05)
print("zombie %d" % pid if proc_state(pid) == "Z" else "not-a-zombie %d" % pid)
out = subprocess.run(["am", "execution", "list"], stdout=subprocess.PIPE, text=True).stdout
line = [l for l in out.splitlines() if l.startswith(uuid)]
print("list " + (line[0] if line else "-"))
sys.stdout.flush()
# Reap the supervisor and whatever else was reparented here.
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        p, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if p == 0:
        time.sleep(0.05)
