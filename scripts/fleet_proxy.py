"""SSH ProxyCommand for the fleet scenario: relay stdin/stdout to HOST:PORT.

Run inside the fleet's switch namespace (`ip netns exec NS python3 fleet_proxy.py %h %p`), so that the
controller reaches the containers' addresses without any address on this machine's own network.
"""
from __future__ import annotations

import os
import selectors
import socket
import sys


def relay(host: str, port: int) -> None:
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    sel = selectors.DefaultSelector()
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    sel.register(stdin, selectors.EVENT_READ)
    sel.register(sock, selectors.EVENT_READ)
    open_ends = 2
    while open_ends:
        for key, _ in sel.select():
            if key.fileobj == stdin:
                data = os.read(stdin, 65536)
                if data:
                    sock.sendall(data)
                else:
                    sel.unregister(stdin)
                    sock.shutdown(socket.SHUT_WR)
                    open_ends -= 1
            else:
                data = sock.recv(65536)
                if not data:
                    return
                while data:
                    data = data[os.write(stdout, data):]


if __name__ == "__main__":
    relay(sys.argv[1], int(sys.argv[2]))
