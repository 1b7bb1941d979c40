"""What one wake-up costs on this machine: the floor under any per-frame CPU figure.

A process on CPU 0 blocks in recv() on a socket pair, and on each 13-byte message
relays it to another socket: no event loop, no parsing. The sender, on the other CPU,
spaces the messages 5 ms apart (as in bench/run.py's "5ms" cells) or sends them back
to back. The relay's CPU time per message is what the kernel and the machine charge
for waking a sleeping process and doing one recv and one send.

    python bench/wake_floor.py
"""

from __future__ import annotations

import os
import socket
import threading
import time

MESSAGES = 2000


def relay_cpu_us(gap_s: float) -> float:
    """CPU microseconds per message of a blocking recv/send relay."""
    upstream, relay_in = socket.socketpair()
    relay_out, downstream = socket.socketpair()
    cpus = sorted(os.sched_getaffinity(0))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the relay
        os.sched_setaffinity(0, cpus[:1])
        start = time.process_time()
        relayed = 0
        while relayed < 13 * MESSAGES:  # back to back, one recv may get several
            data = relay_in.recv(65536)
            relay_out.send(data)
            relayed += len(data)
        os.write(write_fd, str(time.process_time() - start).encode())
        os._exit(0)
    os.sched_setaffinity(0, cpus[1:] or cpus)

    def drain() -> None:
        received = 0
        while received < 13 * MESSAGES:
            received += len(downstream.recv(65536))

    reader = threading.Thread(target=drain)
    reader.start()
    for _ in range(MESSAGES):
        upstream.send(b"x" * 13)
        if gap_s:
            time.sleep(gap_s)
    reader.join()
    os.waitpid(pid, 0)
    cpu = float(os.read(read_fd, 64))
    for s in (upstream, relay_in, relay_out, downstream):
        s.close()
    return cpu / MESSAGES * 1e6


if __name__ == "__main__":
    spaced = relay_cpu_us(0.005)
    print(f"blocking recv/send relay, messages 5 ms apart: {spaced:.1f} µs CPU per message")
    print(f"  = {spaced * 100 / 1000:.2f} ms per 100-frame request before any Python runs")
    print(f"same, back to back: {relay_cpu_us(0.0):.1f} µs CPU per message")
