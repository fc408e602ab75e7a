"""One execution per subscription event for every subscriber of the process that would get the same answer.

Five hundred live screens watching one job all receive each of its events,
mostly with the same subscription document. Executing that document once per
subscriber costs more than everything else a delivery does, so subscribers
whose answer cannot differ share one execution: same event (a payload's
``share_key``, which names the stream entry and the state of the job it was
delivered with), same document, operation and variables, same tenant and role
(what a principal may see depends on nothing else). Payloads without a share
key (events replayed from the database) and every query and mutation execute
as usual. A shared answer is also encoded to JSON once (``encode_message``).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from graphql import ExecutionResult
from gql.execution import PlainFieldExecution

REMEMBERED_RESULTS = 2048
_UNKNOWN = object()
# id(data) -> (data, its JSON) for the data of shared answers.
_encoded: OrderedDict[int, tuple[Any, str]] = OrderedDict()


class SharedEventExecution(PlainFieldExecution):
    _results: OrderedDict[Hashable, Any] = OrderedDict()
    # What makes two subscriptions' answers the same, but the event: worked out once per
    # subscription, before its per-event executors are copied from it.
    _operation_key: Any = _UNKNOWN

    def build_per_event_executor(self, payload: Any) -> Any:
        if self._operation_key is _UNKNOWN:
            self._operation_key = self._key_of_operation()
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._share_key()
        if key is None:
            return super().execute_operation(serially)
        results = SharedEventExecution._results
        shared = results.get(key)
        if shared is not None and not (isinstance(shared, asyncio.Future) and _failed(shared)):
            results.move_to_end(key)
            if isinstance(shared, asyncio.Future):
                # Shielded: a subscriber that goes away does not cancel the others' execution.
                return shared.result() if shared.done() else asyncio.shield(shared)
            return shared
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            result = asyncio.ensure_future(result)
            result.add_done_callback(_encode_when_done)
            results[key] = result
            outcome: Any = asyncio.shield(result)
        else:
            _encode(result)
            results[key] = outcome = result
        while len(results) > REMEMBERED_RESULTS:
            results.popitem(last=False)
        return outcome

    def _share_key(self) -> Hashable | None:
        event = getattr(self.root_value, "share_key", None)
        if event is None:
            return None
        operation_key = self._operation_key
        return None if operation_key is None or operation_key is _UNKNOWN else (event, operation_key)

    def _key_of_operation(self) -> Hashable | None:
        actor = getattr(self.context_value, "actor", None)
        source = self.operation.loc.source.body if self.operation.loc is not None else None
        if actor is None or source is None:
            return None
        name = self.operation.name.value if self.operation.name else None
        try:
            variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None
        return (source, name, variables, actor.tenant_id, actor.role)


def encode_message(message: Any) -> str:
    """JSON of a message to a client; a shared answer's data is encoded once for all its subscribers."""
    if isinstance(message, dict) and message.get("type") == "next":
        payload = message.get("payload")
        if isinstance(payload, dict) and len(payload) == 1 and "data" in payload:
            found = _encoded.get(id(payload["data"]))
            if found is not None and found[0] is payload["data"]:
                return f'{{"id":{json.dumps(message["id"])},"type":"next","payload":{{"data":{found[1]}}}}}'
    return json.dumps(message, separators=(",", ":"))


def _encode_when_done(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is None:
        _encode(task.result())


def _encode(result: Any) -> None:
    if isinstance(result, ExecutionResult) and not result.errors and result.data is not None:
        _encoded[id(result.data)] = (result.data, json.dumps(result.data, separators=(",", ":")))
        while len(_encoded) > REMEMBERED_RESULTS:
            _encoded.popitem(last=False)


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)
