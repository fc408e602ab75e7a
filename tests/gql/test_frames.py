"""The prepared WebSocket frames read back, by the websockets library's own parser, as the text
they were made of, whatever the length's encoding (one byte, two, eight)."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gql.frames import text_frame


def parsed(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        assert reader.at_eof() and not reader.buffer, "bytes left after the frame"
        return done.value
    raise AssertionError("the frame was incomplete")


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 300_000])
def test_a_prepared_frame_is_one_final_text_frame_of_its_parts(size: int):
    answer = b"x" * size
    frame = parsed(text_frame(b'{"id":"1","payload":', answer, b"}"))
    assert (frame.opcode, frame.fin) == (Opcode.TEXT, True)
    assert frame.data == b'{"id":"1","payload":' + answer + b"}"
