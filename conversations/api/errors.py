"""The conversations API's refusals, in the project's error format
(`{"error": {"status", "code", "message", "fields"}}`, see config.api)."""

from __future__ import annotations

from rest_framework.response import Response

from conversations.access import raise_review_refusal
from conversations.services import ClaimUnavailable, ReviewError, StaleRevision, VersionConflict


def error_response(status_code: int, code: str, message: str, **extra) -> Response:
    body = {"error": {"status": status_code, "code": code, "message": message, "fields": {}}}
    return Response({**body, **extra}, status=status_code)


def version_conflict_response(conflict: VersionConflict, **extra) -> Response:
    """409: saved elsewhere since the version the caller edited; `extra` carries the texts."""
    return error_response(409, "version_conflict", str(conflict), **extra)


def review_error_response(error: ReviewError) -> Response:
    """403 own work, 404 not yours, 409 races (claims, stale revisions), 400 the rest."""
    raise_review_refusal(error)
    if isinstance(error, ClaimUnavailable):
        return error_response(409, "claimed", str(error))
    if isinstance(error, StaleRevision):
        return error_response(409, "stale_revision", str(error))
    return error_response(400, "invalid", str(error), **error.extra)
