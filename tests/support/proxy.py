"""A scriptable loopback TCP fault proxy for MQTT (reliability campaign, issue 13).

Put it between a client (the door, or the collector) and mosquitto; the client connects to ``proxy.url``.
Faults, switchable at any time from the test:

* ``drop()``: every open connection is reset at once (RST on both sides); ``refuse(True)``: new connections
  are accepted and closed straight away, as a broker that is down.
* ``blackhole()``: open connections stop carrying data silently (no FIN, no RST: a half-open link);
  ``blackhole_new(True)``: new connections are accepted and never forwarded (nothing is sent upstream).
* ``delay(s)``: every packet is held ``s`` seconds (order kept); ``throttle(bytes_per_s)``: bandwidth cap.
* ``swallow_pubacks(True)``: PUBACK packets from the broker to the client are dropped, nothing else.
* ``cut_next(packet_type)``: the next such packet from the client is forwarded only in part, then the
  connection is closed: the broker sees a packet cut in the middle.

The client-to-broker stream is framed into MQTT packets (fixed header: type nibble, variable-length
remaining length), so faults act on whole packets; bytes that do not frame are forwarded as they are.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

PUBLISH, PUBACK = 3, 4
UP, DOWN = "up", "down"  # client -> broker, broker -> client
MAX_PACKET = 16 * 1024 * 1024  # a larger remaining length is not MQTT: forward raw


def split_packets(buffer: bytearray) -> list[bytes]:
    """Remove and return every complete MQTT packet at the front of ``buffer`` (partial ones stay)."""
    packets: list[bytes] = []
    while len(buffer) >= 2:
        length, multiplier, pos = 0, 1, 1
        while True:
            if pos >= len(buffer):
                return packets  # the length itself is incomplete
            byte = buffer[pos]
            length += (byte & 0x7F) * multiplier
            pos += 1
            if not byte & 0x80:
                break
            multiplier *= 128
            if pos > 4:  # more than 4 length bytes: not MQTT, pass everything through
                packets.append(bytes(buffer))
                buffer.clear()
                return packets
        if length > MAX_PACKET:
            packets.append(bytes(buffer))
            buffer.clear()
            return packets
        if len(buffer) < pos + length:
            return packets
        packets.append(bytes(buffer[:pos + length]))
        del buffer[:pos + length]
    return packets


def packet_type(packet: bytes) -> int:
    return packet[0] >> 4


@dataclass
class _Connection:
    client: socket.socket
    upstream: socket.socket | None
    holed: bool = False
    inflight: int = 0  # client QoS>0 PUBLISHes the broker has not PUBACKed yet (as the client sees it)
    closed: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Close both sides with RST (SO_LINGER 0), as a link that died."""
        self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.close()

    def finish(self) -> None:
        """Close both sides normally (FIN), unless the connection is a black hole, which never tells."""
        if self.holed:
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FaultProxy:
    """One listening port forwarding to ``127.0.0.1:upstream_port`` with switchable faults."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._open: list[_Connection] = []
        self._closed = threading.Event()
        self._refuse = False
        self._blackhole_new = False
        self._delay = 0.0
        self._rate = 0.0
        self._swallow = False
        self._cut: int | None = None
        self.connections = 0  # accepted so far
        self.faults = 0  # faults injected so far (for the soak table)
        self.swallowed = 0  # PUBACKs dropped
        self.max_inflight = 0  # the most unacknowledged client PUBLISHes seen on one connection
        self.publishes = 0  # client PUBLISH packets forwarded
        self.client_closes: list[float] = []  # monotonic times clients closed their side (black holes included)
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    # -- switches -------------------------------------------------------------------------------

    def drop(self) -> int:
        """Reset every open connection now; returns how many."""
        with self._lock:
            victims, self._open = self._open, []
            self.faults += 1
        for conn in victims:
            conn.reset()
        return len(victims)

    def refuse(self, on: bool) -> None:
        with self._lock:
            self._refuse = on
            self.faults += on

    def blackhole(self) -> None:
        """Every connection open now stops carrying data, silently; new ones work."""
        with self._lock:
            for conn in self._open:
                conn.holed = True
            self.faults += 1

    def blackhole_new(self, on: bool) -> None:
        with self._lock:
            self._blackhole_new = on
            self.faults += on

    def delay(self, seconds: float) -> None:
        with self._lock:
            self._delay = seconds
            self.faults += seconds > 0

    def throttle(self, bytes_per_s: float) -> None:
        """0 lifts the cap."""
        with self._lock:
            self._rate = bytes_per_s
            self.faults += bytes_per_s > 0

    def swallow_pubacks(self, on: bool) -> None:
        with self._lock:
            self._swallow = on
            self.faults += on

    def cut_next(self, ptype: int = PUBLISH) -> None:
        """The next client packet of this type goes out in part, then the connection is closed."""
        with self._lock:
            self._cut = ptype
            self.faults += 1

    def heal(self) -> None:
        """Every switch off (open black holes stay dead, as they would on a real network)."""
        with self._lock:
            self._refuse = self._blackhole_new = self._swallow = False
            self._delay = self._rate = 0.0
            self._cut = None

    def open_connections(self) -> int:
        """Connections carrying data now (black holes not counted)."""
        with self._lock:
            return sum(1 for c in self._open if not c.closed.is_set() and not c.holed)

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        self.drop()

    # -- plumbing -------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                refuse, hole = self._refuse, self._blackhole_new
                self.connections += 1
                self._open = [c for c in self._open if not c.closed.is_set()]
            if refuse:
                _Connection(client, None).reset()
                continue
            if hole:
                conn = _Connection(client, None, holed=True)
                with self._lock:
                    self._open.append(conn)
                threading.Thread(target=self._sink, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _Connection(client, None).reset()  # the broker is down: the client sees a refused link
                continue
            conn = _Connection(client, upstream)
            with self._lock:
                self._open.append(conn)
            for src, dst, direction in ((client, upstream, UP), (upstream, client, DOWN)):
                outbox: queue.Queue[tuple[float, bytes, bool] | None] = queue.Queue()
                threading.Thread(target=self._read, args=(conn, src, direction, outbox), daemon=True).start()
                threading.Thread(target=self._write, args=(conn, dst, outbox), daemon=True).start()

    def _sink(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass
        with self._lock:
            self.client_closes.append(time.monotonic())

    def _read(self, conn: _Connection, src: socket.socket, direction: str,
              outbox: queue.Queue[tuple[float, bytes, bool] | None]) -> None:
        buffer = bytearray()
        try:
            while data := src.recv(65536):
                buffer += data
                for packet in split_packets(buffer):
                    if not self._route(conn, direction, packet, outbox):
                        return
        except OSError:
            pass
        finally:
            if direction == UP and not conn.closed.is_set():
                with self._lock:
                    self.client_closes.append(time.monotonic())
            outbox.put(None)

    def _route(self, conn: _Connection, direction: str, packet: bytes,
               outbox: queue.Queue[tuple[float, bytes, bool] | None]) -> bool:
        """Queue one packet (or drop / cut it); False once the connection is to be closed."""
        with self._lock:
            if conn.holed:
                return True  # read and dropped: a black hole
            kind = packet_type(packet)
            if direction == DOWN and kind == PUBACK:
                if self._swallow:
                    self.swallowed += 1
                    return True
                conn.inflight = max(0, conn.inflight - 1)
            if direction == UP and kind == PUBLISH and packet[0] & 0x06:
                conn.inflight += 1
                self.publishes += 1
                self.max_inflight = max(self.max_inflight, conn.inflight)
            cut = direction == UP and self._cut is not None and kind == self._cut and len(packet) > 2
            if cut:
                self._cut = None
            due = time.monotonic() + self._delay
        if cut:
            outbox.put((due, packet[:len(packet) // 2], True))
            return False
        outbox.put((due, packet, False))
        return True

    def _write(self, conn: _Connection, dst: socket.socket,
               outbox: queue.Queue[tuple[float, bytes, bool] | None]) -> None:
        try:
            while (item := outbox.get()) is not None:
                due, packet, last = item
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                if conn.holed:
                    continue
                dst.sendall(packet)
                with self._lock:
                    rate = self._rate
                if rate > 0:
                    time.sleep(len(packet) / rate)
                if last:
                    conn.reset()
                    return
        except OSError:
            pass
        conn.finish()


# The name the half-open tests have used since scenario 12 of the first delivery issue.
BlackholeProxy = FaultProxy
