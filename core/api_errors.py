"""The API's one error shape as serializers, for the OpenAPI schema: `config.api` writes it,
`config.schema` lists it under every status an operation can answer, and views name it
(or a subclass with the context a 409 carries) in `extend_schema`."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiErrorBody(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status code, repeated.")
    code = serializers.CharField(help_text='A stable word for programs: "invalid", "not_found", …')
    message = serializers.CharField(help_text="What went wrong, in plain words, with field paths.")
    fields = serializers.DictField(  # type: ignore[assignment]  # the error shape's key
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Messages by input field; nested places start with their path ("[0].role: …").',
    )


class ApiError(serializers.Serializer):
    """Every API error; some add context beside `error` (a 409 carries the current text)."""

    error = ApiErrorBody()


# Any endpoint that starts a background job (core.jobs) when the broker is down.
QUEUE_DOWN_RESPONSE = OpenApiResponse(
    ApiError,
    description="The task queue (broker) is down: the job is saved, queued, and will start "
    "by itself when the queue is back (`error.job` is its id).",
)
