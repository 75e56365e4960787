"""One error format for the whole API: {"error": {"status", "code", "message", "fields"}}.

`fields` maps each input field to plain messages; an error deeper inside the field starts with
its path below it (`rubric`: `[0]: Not a valid string.`). `message` joins them with their
full paths (`rubric[0]: Not a valid string.`) into one sentence for people.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.template.defaultfilters import filesizeformat
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import ApplicationError, TooLarge


def error_body(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> dict:
    """The body of every API error, also used by the 403/404/500 handlers under /api/."""
    return {"error": {"status": status, "code": code, "message": message, "fields": fields or {}}}


def field_errors(detail: Any, path: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail flattened to {field path: [plain message, ...]}.

    Dicts nest by name (`a.b`), lists of item errors by position (`a[0]`), and ListField's
    {position: errors} dicts by position too; empty item errors (valid items) drop out.
    """
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else str(key)
            fields.update(field_errors(value, child))
        return fields
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        fields = {}
        for position, item in enumerate(detail):
            fields.update(field_errors(item, f"{path}[{position}]"))
        return fields
    messages = detail if isinstance(detail, list) else [detail]
    return {path: [str(message) for message in messages]} if messages else {}


def _joined(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())


def _by_input_field(paths: dict[str, list[str]]) -> dict[str, list[str]]:
    """{full path: messages} grouped by the input field the path starts with."""
    fields: dict[str, list[str]] = {}
    for path, messages in paths.items():
        name = re.split(r"[.\[]", path, maxsplit=1)[0]
        below = path[len(name) :]
        fields.setdefault(name, []).extend(f"{below}: {m}" if below else m for m in messages)
    return fields


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        # Django's body limit, met when a parser reads the body: a 413 with the limit.
        limit = filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        exc = TooLarge(
            f"A request body is limited to {limit}; send larger prompt imports as a file."
        )
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.status, exc.code, str(exc), exc.fields) | exc.extra, status=exc.status
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict) and isinstance(detail.get("detail"), ErrorDetail):
        message = str(detail["detail"])
        code = detail["detail"].code or "error"
    elif isinstance(detail, list) and not any(isinstance(item, (dict, list)) for item in detail):
        message, code = " ".join(str(item) for item in detail), "invalid"
    elif isinstance(detail, (dict, list)):
        paths = field_errors(detail)
        fields = _by_input_field(paths)
        message = _joined(paths)
        code = "invalid"
    else:
        message, code = str(detail), "error"
    response.data = error_body(response.status_code, str(code), message, fields)
    return response
