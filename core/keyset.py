"""Keyset pagination for the pages and the review queue: a page is the rows after the last
one shown, in the list's order, so page 5,000 costs what page 1 costs (no OFFSET, no
COUNT over millions) and every row is reachable. The cursor is that last row's sort key,
opaque to the reader; the API lists use DRF's `CursorPagination` (core.pagination), which
works the same way. A page showing several lists (a project's dashboard, a labeler's home)
pages each by its own cursor parameter (`KeysetPanels`)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

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


@dataclass(frozen=True)
class KeysetPanel(Generic[ModelT]):
    """One of several keyset-paged lists on a page (`KeysetPanels`): its page, or, when its
    cursor is not one this list gave, no page and `error` saying so. `param` is its cursor's
    query parameter, `others` the other lists' cursors (urlencoded) that its links keep,
    `name` the id of its section (the links' anchor)."""

    name: str
    param: str
    others: str
    page: KeysetPage[ModelT] | None
    error: str = ""

    def __iter__(self) -> Iterator[ModelT]:
        return iter(self.page.items if self.page else ())

    def __len__(self) -> int:
        return len(self.page) if self.page else 0


class KeysetPanels:
    """The keyset-paged lists of one page, each paged by its own query parameter
    (`<name>_cursor`), so paging one list keeps the others on the page they show."""

    def __init__(self, params: Mapping[str, str], names: Sequence[str]) -> None:
        self.cursors = {f"{name}_cursor": params.get(f"{name}_cursor", "") for name in names}

    def panel(
        self, name: str, queryset: QuerySet[ModelT], *, ordering: Sequence[str], size: int
    ) -> KeysetPanel[ModelT]:
        """The page of list `name` (one of `names`) that its cursor asks for: `keyset_page`."""
        param = f"{name}_cursor"
        others = urlencode(
            {other: cursor for other, cursor in self.cursors.items() if other != param and cursor}
        )
        try:
            page = keyset_page(queryset, ordering=ordering, cursor=self.cursors[param], size=size)
        except CursorError as error:
            return KeysetPanel(
                name=name, param=param, others=others, page=None, error=error.message
            )
        return KeysetPanel(name=name, param=param, others=others, page=page)


def keyset_panel_error(*panels: KeysetPanel[Any]) -> bool:
    """Whether one of a page's lists was asked for with a cursor it did not give: the page
    answers 400, showing the other lists and, in that one, the error and its first page."""
    return any(panel.error for panel in panels)


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
