# Sends N bytes of random data to the echo guest at 10.0.0.2:7 and reads them back, checking
# every byte; prints "ok N SECONDS" (the time from connect to the last byte back). Run inside
# the test's network namespace: `python3 tcp_echo_client.py N`. Used by tests/tests/net_ring.rs
# and by `cargo xtask bench`.
import os, socket, sys, threading, time

n = int(sys.argv[1])
data = os.urandom(n)
s = socket.create_connection(("10.0.0.2", 7), timeout=30)
start = time.monotonic()
threading.Thread(target=lambda: s.sendall(data), daemon=True).start()
got = bytearray()
while len(got) < n:
    chunk = s.recv(1 << 16)
    if not chunk:
        break
    got += chunk
secs = time.monotonic() - start
assert bytes(got) == data, "echo differs: %d of %d bytes back" % (len(got), n)
print("ok", len(got), secs)
