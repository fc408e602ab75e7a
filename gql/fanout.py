"""One execution per subscription event for every subscriber of the process that would get the same answer,
and its frame written at once to the subscribers that wait for it.

A thousand live screens watching one job all receive each of its events,
mostly with the same subscription document. Executing that document once per
subscriber costs more than everything else a delivery does, so subscribers
whose answer cannot differ share one execution: same event (a payload's
``share_key``, which names the stream entry and the state of the job it was
delivered with), same document and operation, same values of the variables the
answer can depend on (those the root field's own arguments use only choose the
events: ``afterSeq`` does not split screens that resumed at different points),
same tenant and role (what a principal may see depends on nothing else).
Payloads without a share key (events replayed from the database) and every
query and mutation execute as usual. A shared answer is also encoded to JSON
once (``encode_message``).

Even shared, an answer that goes the usual way wakes each subscriber's task and
passes Strawberry's result handling and the ASGI ``send`` for every one of them.
A subscriber that waits with nothing pending is sent the answer in the stream
hub's own turn instead (``LiveOperation.send_now``): the first of a kind executes
it (when no field needs to wait for anything: the job was read ahead), every one
writes the prepared frame (``gql.frames``) with its own operation id. An answer
with errors, one that must wait, or a connection that cannot take frames goes
the usual way, where Strawberry masks and reports errors.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from graphql import ExecutionResult, FieldNode, FragmentDefinitionNode, OperationDefinitionNode, Visitor, visit
from graphql.language import ArgumentNode, VariableNode

from gql.execution import PlainFieldExecution
from gql.frames import FrameWriter, text_frame

T = TypeVar("T")

REMEMBERED_RESULTS = 2048
_UNKNOWN = object()
# id(data) -> (data, its JSON, its JSON's bytes) for the data of shared answers.
_encoded: OrderedDict[int, tuple[Any, str, bytes]] = OrderedDict()
# share key -> the payload built for it (``shared_payload``).
_payloads: OrderedDict[Hashable, Any] = OrderedDict()


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

    def cancellable_iterable(self, iterable: Any) -> Any:
        # Called once per subscription, in its operation's task, before its first event.
        live = _live.get()
        if live is not None and live.executor is None:
            live.executor = self
        return super().cancellable_iterable(iterable)

    def answer_now(self, payload: Any) -> bytes | None:
        """The JSON of this subscription's shared answer to ``payload``, when it is known or
        executes without waiting and has no errors; None when it must take the usual way."""
        if self._operation_key is _UNKNOWN:
            self._operation_key = self._key_of_operation()
        key = _share_key(payload, self._operation_key)
        if key is None:
            return None
        shared = SharedEventExecution._results.get(key)
        if shared is None:
            # Stored under ``key``, as a future if a field must wait.
            self.build_per_event_executor(payload).execute_operation(False)
            shared = SharedEventExecution._results.get(key)
        if isinstance(shared, asyncio.Future):
            if not shared.done() or _failed(shared):
                return None
            shared = shared.result()
        found = _encoded.get(id(getattr(shared, "data", None)))
        return found[2] if found is not None and found[0] is shared.data else None

    def _share_key(self) -> Hashable | None:
        return _share_key(self.root_value, self._operation_key)

    def _key_of_operation(self) -> Hashable | None:
        actor = getattr(self.context_value, "actor", None)
        source = self.operation.loc.source.body if self.operation.loc is not None else None
        if actor is None or source is None:
            return None
        name = self.operation.name.value if self.operation.name else None
        coerced = self.variable_values.coerced
        used = _variables_of_answers(self.operation, [details.definition for details in self.fragments.values()])
        try:
            variables = json.dumps({variable: coerced.get(variable) for variable in sorted(used)}, default=str)
        except (TypeError, ValueError):
            return None
        return (source, name, variables, actor.tenant_id, actor.role)


def _share_key(payload: Any, operation_key: Any) -> Hashable | None:
    event = getattr(payload, "share_key", None)
    if event is None or operation_key is None or operation_key is _UNKNOWN:
        return None
    return (event, operation_key)


class _VariablesUsed(Visitor):
    def __init__(self, choosing: set[int]) -> None:
        super().__init__()
        self.choosing = choosing
        self.names: set[str] = set()

    def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
        return False if id(node) in self.choosing else None  # False: not into this subtree

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _variables_of_answers(operation: OperationDefinitionNode, fragments: list[FragmentDefinitionNode]) -> set[str]:
    """The variables an event's answer may depend on: all those the operation uses but in the
    arguments of its root fields, which only choose the events (an event's root field
    resolves to the event itself)."""
    choosing = {
        id(argument)
        for selection in operation.selection_set.selections
        if isinstance(selection, FieldNode)
        for argument in selection.arguments or ()
    }
    used = _VariablesUsed(choosing)
    visit(operation.selection_set, used)
    for fragment in fragments:
        visit(fragment.selection_set, used)
    return used.names


def shared_payload(share_key: Hashable | None, build: Callable[[], T]) -> T:
    """The payload for an event: built once per share key, for every subscriber that delivers it."""
    if share_key is None:
        return build()
    payload = _payloads.get(share_key)
    if payload is None:
        payload = _payloads[share_key] = build()
        while len(_payloads) > REMEMBERED_RESULTS:
            _payloads.popitem(last=False)
    return payload


class LiveOperation:
    """A subscription of a connection that takes prepared frames: its answers may be sent at once."""

    def __init__(self, frames: FrameWriter, operation_id: str, is_open: Callable[[], bool]) -> None:
        self.frames = frames
        self.is_open = is_open
        # The subscription's executor, once it exists.
        self.executor: SharedEventExecution | None = None
        # What a "next" message holds before the answer: the same for all of this operation's.
        self._head = f'{{"id":{json.dumps(operation_id)},"type":"next","payload":{{"data":'.encode()

    def send_now(self, payloads: list[Any]) -> bool:
        """Sends the answers to ``payloads`` if each is a shared one known now (``answer_now``);
        False, having sent nothing, otherwise."""
        executor = self.executor
        if executor is None or not self.is_open():
            return False
        frames = []
        for payload in payloads:
            answer = executor.answer_now(payload)
            if answer is None:
                return False
            frames.append(text_frame(self._head, answer, b"}}"))
        return self.frames.write(b"".join(frames))


_live: ContextVar[LiveOperation | None] = ContextVar("live_operation", default=None)


@contextmanager
def running(live: LiveOperation | None) -> Iterator[None]:
    """Runs the operation of this task as ``live``: its subscription resolver finds it (``live_operation``)."""
    token = _live.set(live)
    try:
        yield
    finally:
        _live.reset(token)


def live_operation() -> LiveOperation | None:
    """The operation this task runs, when its answers may be sent at once."""
    return _live.get()


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
        encoded = json.dumps(result.data, separators=(",", ":"))
        _encoded[id(result.data)] = (result.data, encoded, encoded.encode())
        while len(_encoded) > REMEMBERED_RESULTS:
            _encoded.popitem(last=False)


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)
