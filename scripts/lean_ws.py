"""A lean websocket client for load tests: it reads a frame's JSON head only as far as the epoch
and skips binary messages without copying them.

A load client shares the machine with the server it measures, so every CPU second it spends is
taken from the sessions. The ``websockets`` client parses every message into objects, copies each
~22 kB binary frame, decodes every text message as UTF-8 and queues it; 40 sessions receive ~2,000
messages a second. This one (RFC 6455, client side, no extensions) receives into one buffer of its
own (``asyncio.BufferedProtocol``), counts a binary message's bytes as they pass, reads a text
frame head's epoch from its first bytes, and decodes only the other text messages (replies) as
JSON. It answers pings and sends masked text.

    ws = await LeanSocket.connect("ws://127.0.0.1:8000/ws", on_frame, on_message)
    ws.send_text('{"type":"play","id":1}')
    ws.close()
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

FRAME_HEAD = b'{"type":"frame"'
EPOCH = b'"epoch":'
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10
BUFFER = 1 << 18  # a message's bytes past this are never held: binaries are counted, not kept


def frame_epoch(head: bytes | str) -> int | None:
    """The epoch of a frame's JSON head, read from its first bytes (the server writes ``type``,
    ``seq`` and ``epoch`` first, without spaces), or None if ``head`` is not a frame. A client
    counting frames for hundreds of sessions cannot afford to parse each."""
    if isinstance(head, str):
        head = head[:120].encode()
    if not head.startswith(FRAME_HEAD):
        return None
    i = head.index(EPOCH, 0, 120) + len(EPOCH)
    return int(head[i : head.index(b",", i)])


def mask(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR the 4-byte ``key`` repeated (RFC 6455 5.3), as one big-integer XOR."""
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


class LeanSocket(asyncio.BufferedProtocol):
    """One client connection. ``on_frame(epoch)`` for each frame head, ``on_message(dict)`` for
    every other text message; ``closed`` is set when the connection ends."""

    def __init__(self, on_frame: Callable[[int], None], on_message: Callable[[dict], None]):
        self.on_frame, self.on_message = on_frame, on_message
        self.buf = bytearray(BUFFER)
        self.view = memoryview(self.buf)
        self.start = self.end = 0  # unparsed bytes are buf[start:end]
        self.skip = 0  # bytes of a binary message still to pass over
        self.text: list[bytes] = []  # fragments of a text message (the server sends one each)
        self.handshake: asyncio.Future | None = None  # set once the server has answered 101
        self.upgraded = False
        self.closed = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def connect(cls, url: str, on_frame, on_message) -> LeanSocket:
        u = urlsplit(url)
        loop = asyncio.get_running_loop()
        _, ws = await loop.create_connection(lambda: cls(on_frame, on_message), u.hostname, u.port)
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + (f"?{u.query}" if u.query else "")
        ws.handshake = loop.create_future()
        ws.transport.write((f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await asyncio.wait_for(ws.handshake, 30)
        return ws

    # -- asyncio.BufferedProtocol --------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self.handshake is not None and not self.handshake.done():
            self.handshake.set_exception(ConnectionError("closed during the handshake"))
        self.closed.set()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end > BUFFER // 2:  # keep room: move the unparsed tail to the front
            n = self.end - self.start
            self.buf[:n] = self.buf[self.start : self.end]
            self.start, self.end = 0, n
        return self.view[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        self.end += nbytes
        if not self.upgraded:
            head = bytes(self.buf[self.start : self.end])
            i = head.find(b"\r\n\r\n")
            if i < 0:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.handshake.set_exception(ConnectionError(head[: head.find(b"\r\n")].decode()))
                self.transport.close()
                return
            self.start += i + 4
            self.upgraded = True
            self.handshake.set_result(None)
        self._parse()

    # -- frames --------------------------------------------------------------------------------

    def _parse(self) -> None:
        buf = self.buf
        while True:
            if self.skip:
                n = min(self.skip, self.end - self.start)
                self.skip -= n
                self.start += n
                if self.skip:
                    return
            avail = self.end - self.start
            if avail < 2:
                return
            b0, b1 = buf[self.start], buf[self.start + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if avail < 4:
                    return
                n, head = struct.unpack_from(">H", buf, self.start + 2)[0], 4
            elif n == 127:
                if avail < 10:
                    return
                n, head = struct.unpack_from(">Q", buf, self.start + 2)[0], 10
            op = b0 & 0x0F
            if op == BINARY or (op == 0 and not self.text):
                self.start += head
                self.skip = n  # passed over as it arrives, never held
                continue
            if avail < head + n:
                if head + n > BUFFER:
                    raise ValueError(f"a text message of {n} bytes: more than this client holds")
                return
            payload = bytes(buf[self.start + head : self.start + head + n])
            self.start += head + n
            if op in (TEXT, 0):
                self.text.append(payload)
                if b0 & 0x80:  # FIN: the message is complete
                    self._text(b"".join(self.text))
                    self.text = []
            elif op == PING:
                self._send(PONG, payload)
            elif op == CLOSE:
                self.transport.close()
                return

    def _text(self, msg: bytes) -> None:
        epoch = frame_epoch(msg)
        if epoch is not None:
            self.on_frame(epoch)
        else:
            self.on_message(json.loads(msg))

    def _send(self, op: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", 0x80 | op, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack(">BBH", 0x80 | op, 0x80 | 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | op, 0x80 | 127, n)
        key = os.urandom(4)
        self.transport.write(head + key + mask(payload, key))

    def send_text(self, text: str) -> None:
        if self.transport.is_closing():
            raise ConnectionError("the connection is closed")
        self._send(TEXT, text.encode())

    def close(self, code: int = 1000) -> None:
        """Send a close frame and drop the connection (no wait for the server's close frame)."""
        if not self.transport.is_closing():
            self._send(CLOSE, struct.pack(">H", code))
            self.transport.close()
