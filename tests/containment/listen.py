#!/usr/bin/python3
"""listen.py PORTFILE LOGFILE SECONDS - a TCP listener on the host's loopback.

Binds 127.0.0.1 on a free port, writes the port to PORTFILE, and for at
most SECONDS appends one line to LOGFILE for every connection it accepts.
The containment suites start it in the background and read LOGFILE to
tell whether anything inside a sandbox reached the host.
"""
import os
import socket
import sys
import time

portfile, logfile, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.rename(portfile + ".tmp", portfile)
end = time.monotonic() + seconds
while True:
    left = end - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        c, peer = s.accept()
    except socket.timeout:
        break
    with open(logfile, "a") as f:
        f.write("accepted %s:%d\n" % peer)
    c.close()
