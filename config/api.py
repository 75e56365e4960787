"""One error format for the whole API: {"error": {"status", "code", "message", "fields"}}."""

from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    fields = {}
    if isinstance(detail, dict) and "detail" in detail:
        message = str(detail["detail"])
        code = getattr(detail["detail"], "code", "error")
    elif isinstance(detail, dict):
        fields = {
            name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for name, msgs in detail.items()
        }
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        code = "invalid"
    elif isinstance(detail, list):
        message = " ".join(str(m) for m in detail)
        code = "invalid"
    else:
        message, code = str(detail), "error"
    response.data = error_payload(response.status_code, str(code), message, fields)
    return response


def error_payload(status: int, code: str, message: str, fields: dict | None = None) -> dict:
    """The body of every API error, also used by the 403/404/500 handlers under /api/."""
    return {"error": {"status": status, "code": code, "message": message, "fields": fields or {}}}
