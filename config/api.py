"""One error format for the whole API: {"error": {"status", "code", "message", "fields"}}."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.template.defaultfilters import filesizeformat
from rest_framework.exceptions import APIException
from rest_framework.views import exception_handler as drf_exception_handler


class BodyTooLarge(APIException):
    status_code = 413
    default_code = "too_large"
    default_detail = "The request body is too large."


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Django's body limit, met when a parser reads the body: a 413 with the limit.
        limit = filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        exc = BodyTooLarge(
            f"A request body is limited to {limit}; send larger prompt imports as a file."
        )
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
    response.data = {
        "error": {
            "status": response.status_code,
            "code": str(code),
            "message": message,
            "fields": fields,
        }
    }
    return response
