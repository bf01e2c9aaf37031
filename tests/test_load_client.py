"""scripts/lean_ws.py, the load client's websocket (issue 9 #18): it must count every frame and read
its epoch right while skipping binary messages, whatever pieces the bytes arrive in, answer pings,
and work against the real server."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import struct
import sys
from pathlib import Path

import pytest
from test_server_live import start, stop

from ganlab.server.frames import dumps

pytestmark = pytest.mark.timeout(60)

SCRIPTS = Path(__file__).parent.parent / "scripts"
spec = importlib.util.spec_from_file_location("lean_ws", SCRIPTS / "lean_ws.py")
lean_ws = importlib.util.module_from_spec(spec)
sys.modules["lean_ws"] = lean_ws
spec.loader.exec_module(lean_ws)


def server_frame(op: int, payload: bytes, fin: bool = True) -> bytes:
    """A frame as a server sends it (unmasked)."""
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        return struct.pack(">BB", b0, n) + payload
    if n < 1 << 16:
        return struct.pack(">BBH", b0, 126, n) + payload
    return struct.pack(">BBQ", b0, 127, n) + payload


def unmask(frame: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of a client's masked frame."""
    assert frame[1] & 0x80, "a client frame must be masked"
    n, i = frame[1] & 0x7F, 2
    if n == 126:
        n, i = struct.unpack_from(">H", frame, 2)[0], 4
    key, body = frame[i : i + 4], frame[i + 4 :]
    assert len(body) == n
    return frame[0] & 0x0F, bytes(b ^ key[j % 4] for j, b in enumerate(body))


class Transport:
    def __init__(self):
        self.sent: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


def head(seq: int, epoch: int) -> bytes:
    """A frame's JSON head as the server writes it (session.py: type, seq, epoch first)."""
    return dumps({"type": "frame", "seq": seq, "epoch": epoch, "d_steps": 2 * epoch, "g_steps": epoch,
                  "running": True, "losses": {"d": 1.38, "g": 0.69}, "layers": ["real"]}).encode()


@pytest.mark.parametrize("seed", range(5))
def test_frames_are_counted_and_binaries_skipped_whatever_pieces_the_bytes_come_in(seed):
    rng = random.Random(seed)
    stream, epochs, replies = b"", [], []
    for i in range(40):
        epochs.append(rng.randrange(10**7))
        stream += server_frame(1, head(i, epochs[-1]))
        stream += server_frame(2, rng.randbytes(rng.choice([20, 200, 22_000, 70_000, 300_000])))
        if i % 7 == 0:  # a reply, then a ping, then a reply in two fragments
            reply = {"type": "ack", "id": i, "epoch": epochs[-1]}
            replies += [reply, reply]
            stream += server_frame(1, json.dumps(reply).encode())
            stream += server_frame(9, b"hi%d" % i)
            text = json.dumps(reply).encode()
            stream += server_frame(1, text[:5], fin=False) + server_frame(0, text[5:])
        if i % 11 == 0:  # a binary message in two fragments
            stream += server_frame(2, rng.randbytes(3000), fin=False) + server_frame(0, rng.randbytes(90))
    got_epochs, got_replies = [], []
    ws = lean_ws.LeanSocket(got_epochs.append, got_replies.append)
    ws.connection_made(Transport())
    ws.upgraded = True
    pos = 0
    while pos < len(stream):
        buf = ws.get_buffer(-1)
        n = min(len(buf), rng.choice([1, 2, 7, 100, 1500, 65536, 10**6]), len(stream) - pos)
        buf[:n] = stream[pos : pos + n]
        ws.buffer_updated(n)
        pos += n
    assert got_epochs == epochs
    assert got_replies == replies
    pongs = [unmask(f) for f in ws.transport.sent]
    assert pongs == [(10, b"hi%d" % i) for i in range(0, 40, 7)]


def test_client_text_is_masked_and_reads_back():
    ws = lean_ws.LeanSocket(None, None)
    ws.connection_made(Transport())
    msg = json.dumps({"type": "play", "id": 7, "pad": "x" * 300})  # past the 126-byte length form
    ws.send_text(msg)
    assert unmask(ws.transport.sent[0]) == (1, msg.encode())


def test_against_the_real_server_frames_epochs_and_replies_match():
    """Play, then pause: the pause's ack names the epoch training stopped at, and the frame sent
    for the paused state carries that epoch (read from the head's first bytes)."""
    proc, port = start()
    try:
        async def main():
            epochs, replies = [], []
            got = asyncio.Event()

            def on_message(d):
                replies.append(d)
                got.set()

            ws = await lean_ws.LeanSocket.connect(f"ws://127.0.0.1:{port}/ws", epochs.append, on_message)

            async def reply():
                while not replies:
                    got.clear()
                    await asyncio.wait_for(got.wait(), 20)
                return replies.pop(0)

            assert (await reply())["type"] == "hello"
            ws.send_text(json.dumps({"type": "play", "id": 1}))
            assert (await reply())["id"] == 1
            while len(epochs) < 5:
                await asyncio.sleep(0.02)
            ws.send_text(json.dumps({"type": "pause", "id": 2}))
            ack = await reply()
            assert ack["type"] == "ack" and ack["id"] == 2
            async with asyncio.timeout(20):
                while epochs[-1] != ack["epoch"]:
                    await asyncio.sleep(0.02)
            assert epochs == sorted(epochs) and epochs[-1] > 0
            ws.close()
            await asyncio.wait_for(ws.closed.wait(), 10)

        asyncio.run(main())
    finally:
        stop(proc)
