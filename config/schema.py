"""The OpenAPI schema's error answers: every operation lists the errors it can give, each in
the one error shape (`config.api.error_body`), so clients and the fuzzer can rely on them.

Errors that follow from how an operation is built are added here for every operation,
present and future: 401 and 429 (every call needs a token or a session, and bad tokens are
throttled), 403 (a role to hold, or CSRF on a session's writes), 404 (an object named in
the path, or a page past the end), 400 and 415 (a body or query to check). Errors that come
from a service's rules (409, 413, 422) are declared on the view with `extend_schema`.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from core.api_errors import ApiError
from labeling.permissions import IsMember

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


ERROR_DESCRIPTIONS = {
    400: "Bad input: the fields and what is wrong with each.",
    401: "No valid token or session.",
    403: "Signed in, but this needs another role (or a CSRF token for a session's write).",
    404: "No such object, or not one you may see.",
    415: "The body's Content-Type is not JSON, form data or multipart.",
    429: "Too many failed sign-ins from this address; Retry-After says when to try again.",
}
ERROR_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": "The scheme to use: Token.",
        }
    },
    429: {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": "Seconds until the next try is allowed.",
        }
    },
}


class ApiAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for code in self._error_codes(operation):
            if str(code) in responses:
                continue
            response = self._get_response_for_code(
                OpenApiResponse(ApiError, description=ERROR_DESCRIPTIONS[code]), str(code)
            )
            if code in ERROR_HEADERS:
                response["headers"] = ERROR_HEADERS[code]
            responses[str(code)] = response
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation: dict) -> list[int]:
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"}
        codes = [401, 429]
        needs_role = any(not isinstance(p, IsMember) for p in self.view.get_permissions())
        if needs_role or self.method in UNSAFE_METHODS:
            codes.append(403)
        if any(p["in"] == "path" for p in parameters) or "page" in query:
            codes.append(404)
        if "requestBody" in operation or query - {"page"}:
            codes.append(400)
        if "requestBody" in operation:
            codes.append(415)
        return codes
