"""uvicorn's sans-I/O WebSocket protocol with a shorter path for a text message.

A fan-out sends one text frame to each of 10,000 sockets. Through `websockets`' protocol
object each frame was a `Frame` built and checked, serialised through a `BytesIO`, queued in
the protocol's outgoing list and joined again, and each send first awaited the "writable"
event: about half of the CPU a delivered frame cost in this process (bench/README.md). A
server's frames are not masked and, without per-message compression (off, as `serve` runs
it), carry no extension, so the frame is its header and the UTF-8 text, written at once.

Everything else (the handshake, binary messages, closes, pings, a connection whose state is
not plainly open, one with an extension) goes through uvicorn's own `send` unchanged, and so
does a send while the transport is above its high-water mark: the wait for it to drain, the
back-pressure a slow consumer meets, is uvicorn's.
"""

from __future__ import annotations

import struct

import uvicorn
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State
from websockets.version import version as websockets_version

_FIN_TEXT = 0x81

# The short path reads uvicorn's and websockets' internals: taken only with the versions it
# was checked against (tests/test_live_send.py compares its bytes with theirs); any other
# pair sends through uvicorn's own path until checked and added here.
CHECKED = {("0.55.0", "17.4")}
SHORT_PATH = (uvicorn.__version__, websockets_version) in CHECKED


def text_frame_header(length: int) -> bytes:
    """RFC 6455 5.2: FIN and the text opcode, then the payload length, unmasked."""
    if length < 126:
        return bytes((_FIN_TEXT, length))
    if length < 65536:
        return struct.pack("!BBH", _FIN_TEXT, 126, length)
    return struct.pack("!BBQ", _FIN_TEXT, 127, length)


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: ASGISendEvent) -> None:
        if SHORT_PATH and message["type"] == "websocket.send":
            text = message.get("text")
            conn = self.conn
            if (
                text is not None
                and message.get("bytes") is None
                and self.handshake_complete
                and not self.close_sent
                and not self.disconnected
                and self.initial_response is None
                and self.writable.is_set()
                and conn._state is State.OPEN
                and not conn.extensions
                and not conn.expect_continuation_frame
                and not conn.writes
                and not conn.debug
            ):
                data = text.encode()
                self.transport.write(text_frame_header(len(data)) + data)
                return
        await super().send(message)
