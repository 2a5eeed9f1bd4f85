"""The send path of a fan-out, without a network.

Invariants guarded here:
- the server's short path for a text message writes the very bytes `websockets` would frame
  (every length form of RFC 6455), and leaves everything else to uvicorn;
- back-pressure holds: above the transport's high-water mark a send waits (nothing written)
  until the transport drains;
- a connection's sender sends every queued frame in one wake-up, in order, then the close
  after the frames queued before it; a frame offered after the close is not sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.version import version as websockets_version

from microspace.live import server
from microspace.live.hub import Socket
from microspace.live.protocol import Connection
from microspace.live.server import LiveWebSocketProtocol, text_frame_header

UPGRADE = (
    b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536])
def test_the_header_is_the_one_websockets_frames(length):
    data = ("é" * (length // 2) + "x" * (length % 2)).encode()
    assert len(data) == length
    expected = Frame(Opcode.TEXT, data).serialize(mask=False)
    assert text_frame_header(length) + data == expected


async def _open(app) -> tuple[LiveWebSocketProtocol, _Transport]:
    config = Config(app=app, ws=LiveWebSocketProtocol, ws_per_message_deflate=False)
    config.load()
    protocol = LiveWebSocketProtocol(config, ServerState(), {})
    transport = _Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(UPGRADE)
    for _ in range(5):
        await asyncio.sleep(0)
    protocol.stop_keepalive()
    return protocol, transport


def test_the_short_path_is_on_for_the_versions_installed():
    # a new uvicorn or websockets turns it off: run this file against the new pair, then
    # add the pair to `server.CHECKED`
    assert server.SHORT_PATH, (uvicorn.__version__, websockets_version)


async def test_text_goes_the_short_way_and_waits_while_the_transport_is_full(monkeypatch):
    sends: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    full_way: list[str] = []
    uvicorns = WebSocketsSansIOProtocol.send

    async def counted(self: Any, message: Any) -> None:
        full_way.append(message["type"])
        await uvicorns(self, message)

    monkeypatch.setattr(WebSocketsSansIOProtocol, "send", counted)

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await sends.get())["type"] != "stop":
            await send(message)

    protocol, transport = await _open(app)
    handshake = len(transport.written)
    assert handshake == 1 and transport.written[0].startswith(b"HTTP/1.1 101")

    text = '{"type":"next","payload":"' + "ü" * 70 + '"}'
    await sends.put({"type": "websocket.send", "text": text})
    await asyncio.sleep(0)
    assert transport.written[1:] == [Frame(Opcode.TEXT, text.encode()).serialize(mask=False)]
    assert "websocket.send" not in full_way  # the short path wrote it

    protocol.pause_writing()  # above the high-water mark
    await sends.put({"type": "websocket.send", "text": "held"})
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(transport.written) == 2  # waits: nothing written past the mark
    protocol.resume_writing()
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport.written[2] == Frame(Opcode.TEXT, b"held").serialize(mask=False)

    # binary and closes go through uvicorn's own send
    await sends.put({"type": "websocket.send", "bytes": b"\x00"})
    await sends.put({"type": "websocket.close", "code": 4008, "reason": "slow"})
    await sends.put({"type": "stop"})
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport.written[3] == b"\x82\x01\x00"
    assert transport.written[4] == b"\x88\x06\x0f\xa8slow"


async def test_the_sender_drains_in_one_wake_up_then_closes_after_what_was_queued():
    sent: list[dict[str, Any]] = []
    turns = 0

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    connection = Connection.__new__(Connection)
    connection.socket = Socket(8)
    connection.send = send
    task = asyncio.create_task(connection._sender())
    await asyncio.sleep(0)
    for i in range(3):
        assert connection.socket.offer(("{" + f'"id":"{i}","type":"next","payload":', "{}"))
    connection.socket.offer('{"type":"ping"}')
    while len(sent) < 4:
        turns += 1
        await asyncio.sleep(0)
    assert turns == 1  # the four in one turn of the loop
    assert [m["text"] for m in sent] == [
        '{"id":"0","type":"next","payload":{}}',
        '{"id":"1","type":"next","payload":{}}',
        '{"id":"2","type":"next","payload":{}}',
        '{"type":"ping"}',
    ]
    connection.socket.offer('{"type":"pong"}')
    connection.socket.close(4401, "Unauthorized: KEY_REVOKED")
    assert connection.socket.offer('{"type":"ping"}')  # after the close: dropped
    await asyncio.wait_for(task, 1)
    assert sent[4:] == [
        {"type": "websocket.send", "text": '{"type":"pong"}'},
        {"type": "websocket.close", "code": 4401, "reason": "Unauthorized: KEY_REVOKED"},
    ]
