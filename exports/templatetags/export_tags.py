from django import template

register = template.Library()


@register.filter
def setting_label(key: str) -> str:
    """`exclude_unedited_ai_drafts` → `Exclude unedited ai drafts`."""
    return key.replace("_", " ").capitalize()


@register.filter
def setting_value(value) -> str:
    """A job setting as a person reads it: no Python reprs."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)
