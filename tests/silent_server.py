"""A real TCP server that accepts every connection and never sends a byte: what a hung endpoint
looks like to a client (its connect succeeds, its read times out)."""
from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class SilentServer:
    url: str
    connections: list = field(default_factory=list)  # accepted, held open, never answered


@contextlib.contextmanager
def silent_server() -> Iterator[SilentServer]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    running = SilentServer(f"http://127.0.0.1:{server.getsockname()[1]}")
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                running.connections.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        stop.set()
        thread.join()
        for connection in running.connections:
            connection.close()
        server.close()
