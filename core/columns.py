"""Column sizes read from the models, so the limits checked on input never drift from them."""

from django.db import models


def max_length(model: type[models.Model], field_name: str) -> int:
    """The `max_length` of one of the model's character columns."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, models.CharField) or field.max_length is None:
        raise TypeError(f"{model.__name__}.{field_name} is not a sized character column")
    return field.max_length
