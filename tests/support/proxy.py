"""A loopback TCP proxy that can turn its open connections into black holes (no FIN, no RST).

This is the half-open link of reliability scenario 12: bytes are read and dropped,
so neither side learns that the path died except through its own timeouts.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class BlackholeProxy:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._holed: set[int] = set()
        self._generation = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def blackhole(self) -> None:
        """Every connection open now stops carrying data, silently; new ones work."""
        with self._lock:
            self._holed.update(range(self._generation + 1))

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self._generation += 1
                gen = self._generation
                self.connections += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, gen), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, gen: int) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    holed = gen in self._holed
                if not holed:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                holed = gen in self._holed
            if not holed:  # a black hole never tells the other side
                for sock in (src, dst):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._server.close()
