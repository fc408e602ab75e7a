"""What a query selects below the field being resolved, so a resolver reads only what is asked."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.types.nodes import SelectedField, Selection

from gql.context import Info


def selects(info: Info, name: str) -> bool:
    """Whether a field ``name`` is selected anywhere below the field being resolved, fragments included."""
    return _below(name, info.selected_fields[0].selections)


def _below(name: str, selections: Sequence[Selection]) -> bool:
    return any(
        (isinstance(selection, SelectedField) and selection.name == name) or _below(name, selection.selections)
        for selection in selections
    )
