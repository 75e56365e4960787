"""NUL characters: PostgreSQL text and JSON columns cannot hold U+0000, so text carrying one
is refused where it comes in, naming where it is, instead of failing in the database.

One finder (`nul_path`) serves every way in: the JSON parser of the API, the middleware
for query strings and HTML forms, and the prompt and conversation imports (which report
it line by line).
"""

from typing import Any

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.html import escape
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser

NUL = "\x00"
NUL_PROBLEM = "contains a NUL character (\\u0000), which cannot be stored; remove it"


def nul_path(value: Any, path: str = "") -> str | None:
    """Where the first NUL in a parsed JSON value is (`metadata.source`, `messages[2].content`;
    "" for the value itself), or None when there is none. Keys count as well as values."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return inner
            found = nul_path(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def without_nul(text: str) -> str:
    """Text safe to store, with any NUL shown as `\\u0000` (file names, error messages)."""
    return text.replace(NUL, "\\u0000")


class NulRefusingJSONParser(JSONParser):
    """The API's JSON parser: a body holding a NUL anywhere is a 400 naming the field."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        path = nul_path(data)
        if path is not None:
            raise ValidationError({without_nul(path) or "body": [NUL_PROBLEM]})
        return data


class NulRefusingMiddleware:
    """A query string or an HTML form holding a NUL gets a 400 naming the field.

    Views exempt from CSRF read their bodies themselves and are left alone here: the API's
    parsers (the JSON one above; DRF's CharField refuses NUL in form parts) and the prompt
    upload, whose size limit must be in place before anything reads the body. Uploaded
    files are checked by the import that reads them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        fields = list(request.GET.lists())
        if request.method == "POST" and not getattr(view_func, "csrf_exempt", False):
            fields += list(request.POST.lists())
        for name, values in fields:
            if NUL in name or any(NUL in value for value in values):
                return _refusal(request, without_nul(name))
        return None


def _refusal(request, field: str):
    if request.path.startswith("/api/"):
        # The API's one error shape (config.api.error_body, not imported: config.api loads
        # DRF's views, which load the parsers defined here).
        error = {"status": 400, "code": "invalid", "message": f"{field}: {NUL_PROBLEM}"}
        return JsonResponse({"error": {**error, "fields": {field: [NUL_PROBLEM]}}}, status=400)
    return HttpResponseBadRequest(
        f"<!doctype html><title>Bad request</title><p>{escape(field)}: {NUL_PROBLEM}</p>",
    )
