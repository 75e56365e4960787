"""The one error type for bad input and refused actions, and how it reaches a form.

Services raise `ApplicationError` (or a subclass) with the field it concerns as data, never
inside the message: the API's exception handler (`config.api`) turns it into the error
shape `{"error": {"status", "code", "message", "fields"}}`, and `form_add_error` puts it
beside the form field it names.
"""

from __future__ import annotations

from typing import Any

from django import forms


class ApplicationError(ValueError):
    """Bad input or an action the rules refuse; `message` says why in plain words.

    A ValueError, so callers that treat any bad value alike (the CLI) keep working.
    """

    status: int = 400
    code: str = "invalid"

    def __init__(
        self, message: str, *, field: str | None = None, extra: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    @property
    def fields(self) -> dict[str, list[str]]:
        """The error by field path, as the API's `fields` carries it."""
        return {self.field: [self.message]} if self.field else {}


class TooLarge(ApplicationError):
    """A request body or an uploaded file over its limit; the message gives the limit."""

    status = 413
    code = "too_large"


def form_add_error(form: forms.BaseForm, error: ApplicationError) -> None:
    """Show the error beside its field when the form has that field, else above the form."""
    if error.field in form.fields:
        form.add_error(error.field, error.message)
    else:
        form.add_error(None, str(error))
