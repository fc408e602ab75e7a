"""Writing a response's JSON in slices: the same bytes as in one go, and other callbacks of the
event loop run between the slices of a big one."""

from __future__ import annotations

import pytest

from gql.encoding import ResponseTooLarge, encode_response
from gql.http import response_body
from tests.gql.support import turns_of_another_client


def journeys(jobs: int, records: int) -> dict:
    step = {"name": "send", "status": "SUCCEEDED", "detail": {"n": [1, {"deep": None}]}, "error": None}
    record = {"node": {"key": "contact-1", "journey": [step] * 20, "chunk": None}}
    job = {"node": {"id": "x", "progress": {"done": 1}, "records": {"edges": [record] * records}}}
    return {"data": {"jobs": {"edges": [job] * jobs, "empty": [], "nothing": None}}, "errors": [{"path": ["a", 1]}]}


@pytest.mark.parametrize(
    "response",
    [journeys(3, 4), journeys(0, 0), {"data": None}, {"data": {"a": [[1, [2]], [], [[]], None]}}, {"data": {"n": 2**70}}],
)
async def test_a_response_written_in_slices_is_what_one_go_writes(response: dict):
    assert await encode_response(response, 10**9) == response_body(response)


async def test_other_callbacks_run_while_a_big_response_is_written():
    response = journeys(100, 23)

    async with turns_of_another_client() as turns:
        body = await encode_response(response, 10**9)

    assert body == response_body(response)
    assert turns[0] > 1


async def test_writing_stops_once_past_the_limit():
    response = journeys(100, 23)
    size = len(response_body(response))

    assert len(await encode_response(response, size)) == size
    with pytest.raises(ResponseTooLarge) as refused:
        await encode_response(response, size - 1)
    assert refused.value.limit_bytes == size - 1
