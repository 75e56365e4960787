"""The API lists' pagination: DRF's cursor pagination (a keyset, like core.keyset for the
pages), so the last page of a million rows costs what the first does and every row is
reachable. A view names its order in `keyset_ordering` (newest first by default)."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    page_size = 50
    ordering = "-pk"

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        return tuple(getattr(view, "keyset_ordering", (self.ordering,)))

    def decode_cursor(self, request):
        # A cursor this list did not give is bad input naming its parameter (400), not a
        # missing object (DRF answers 404).
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: ["not a page of this list: start from the first."]}
            ) from None
