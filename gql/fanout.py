"""One execution per subscription event for every subscriber of the process that would get the same answer.

Five hundred live screens watching one job all receive each of its events,
mostly with the same subscription document. Executing that document once per
subscriber costs more than everything else a delivery does, so subscribers
whose answer cannot differ share one execution: same event (a payload's
``share_key``, which names the stream entry and the state of the job it was
delivered with), same document, operation and variables, same tenant and role
(what a principal may see depends on nothing else). Payloads without a share
key (events replayed from the database) and every query and mutation execute
as usual.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

REMEMBERED_RESULTS = 2048


class SharedEventExecution(StrawberryGraphQLCoreExecutionContext):
    _results: OrderedDict[Hashable, Any] = OrderedDict()

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
            results[key] = result
            outcome: Any = asyncio.shield(result)
        else:
            results[key] = outcome = result
        while len(results) > REMEMBERED_RESULTS:
            results.popitem(last=False)
        return outcome

    def _share_key(self) -> Hashable | None:
        event = getattr(self.root_value, "share_key", None)
        actor = getattr(self.context_value, "actor", None)
        source = self.operation.loc.source.body if self.operation.loc is not None else None
        if event is None or actor is None or source is None:
            return None
        name = self.operation.name.value if self.operation.name else None
        try:
            variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None
        return (event, source, name, variables, actor.tenant_id, actor.role)


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)
