"""Keyset pagination for the pages and the review queue: a page is the rows after the last
one shown, in the list's order, so page 5,000 costs what page 1 costs (no OFFSET, no
COUNT over millions) and every row is reachable. The cursor is that last row's sort key,
opaque to the reader; the API lists use DRF's `CursorPagination` (core.pagination), which
works the same way."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Field, Model, Q, QuerySet

from core.exceptions import ApplicationError

ModelT = TypeVar("ModelT", bound=Model)


class CursorError(ApplicationError):
    """A cursor this list did not give (edited, or from another list)."""

    def __init__(self) -> None:
        super().__init__(
            "not a page of this list: start again from the first page.", field="cursor"
        )


@dataclass(frozen=True)
class KeysetPage(Generic[ModelT]):
    """One page: its rows, and the cursor of the page after it ("" on the last page)."""

    items: list[ModelT]
    next_cursor: str
    is_first: bool

    def __iter__(self) -> Iterator[ModelT]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def keyset_page(
    queryset: QuerySet[ModelT], *, ordering: Sequence[str], cursor: str, size: int
) -> KeysetPage[ModelT]:
    """The `size` rows of `queryset` after `cursor` ("" for the first page) in `ordering`:
    field names, "-" for descending, ending with a unique one ("pk" or "-pk"), none of them
    NULL in these rows (a submitted conversation has its `submitted_at`). One query: the page and one more row, to know whether another page follows.
    Raises `CursorError` for a cursor this list did not give."""
    fields = [_field(queryset.model, name.lstrip("-")) for name in ordering]
    if cursor:
        after = _decoded(cursor, fields)
        queryset = queryset.filter(_after(ordering, after))
    rows = list(queryset.order_by(*ordering)[: size + 1])
    items = rows[:size]
    next_cursor = ""
    if len(rows) > size:
        last = items[-1]
        assert all(field.value_from_object(last) is not None for field in fields)
        next_cursor = _encoded([field.value_to_string(last) for field in fields])
    return KeysetPage(items=items, next_cursor=next_cursor, is_first=not cursor)


def keyset_page_or_first(
    queryset: QuerySet[ModelT], *, ordering: Sequence[str], cursor: str, size: int
) -> KeysetPage[ModelT]:
    """`keyset_page`, or the first page for a cursor this list did not give: a page's
    edited link shows the list from its start rather than an error page."""
    try:
        return keyset_page(queryset, ordering=ordering, cursor=cursor, size=size)
    except CursorError:
        return keyset_page(queryset, ordering=ordering, cursor="", size=size)


def _field(model: type[Model], name: str) -> Field:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    assert isinstance(field, Field), f"keyset on {name}: a concrete field"
    return field


def _after(ordering: Sequence[str], values: list[Any]) -> Q:
    """Rows after `values` in `ordering`: (a > x) or (a = x and b > y) or …"""
    after = Q()
    for index, name in enumerate(ordering):
        field = name.lstrip("-")
        step = Q(**{f"{field}__{'lt' if name.startswith('-') else 'gt'}": values[index]})
        for earlier, value in zip(ordering[:index], values[:index], strict=False):
            step &= Q(**{earlier.lstrip("-"): value})
        after |= step
    return after


def _encoded(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decoded(cursor: str, fields: list[Field]) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(fields):
            raise CursorError
        return [field.to_python(value) for field, value in zip(fields, raw, strict=True)]
    except (ValueError, binascii.Error, ValidationError, TypeError):
        raise CursorError from None
