"""Forms of the conversations app's pages."""

from typing import Any

from django import forms
from django.http import QueryDict

from conversations.models import ConversationState
from conversations.selectors.listing import NO_DOMAIN, ConversationFilters, FilterChoices

ANY = [("", "Any")]


class ConversationFilterForm(forms.Form):
    """The conversations page's filters (GET). Choices hold only what the person may see."""

    state = forms.ChoiceField(required=False, choices=ANY + list(ConversationState.choices))
    project = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    domain = forms.ChoiceField(required=False)
    labeler = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    reviewer = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Reviewed by"
    )
    submitted_from = forms.DateField(
        required=False, label="Submitted from", widget=forms.DateInput(attrs={"type": "date"})
    )
    submitted_to = forms.DateField(
        required=False, label="Submitted until", widget=forms.DateInput(attrs={"type": "date"})
    )
    min_score = forms.FloatField(
        required=False,
        min_value=1,
        max_value=5,
        label="Mean score from",
        widget=forms.NumberInput(attrs={"step": "0.5", "placeholder": "1"}),
    )
    max_score = forms.FloatField(
        required=False,
        min_value=1,
        max_value=5,
        label="Mean score up to",
        widget=forms.NumberInput(attrs={"step": "0.5", "placeholder": "5"}),
    )

    def __init__(self, data: QueryDict | dict[str, Any] | None, *, choices: FilterChoices):
        super().__init__(data)
        self._set_choices("project", [(p.pk, p.name) for p in choices.projects])
        self._set_choices(
            "domain", [(d.slug, d.slug) for d in choices.domains] + [(NO_DOMAIN, "no domain")]
        )
        self._set_choices("labeler", [(u.pk, u.username) for u in choices.labelers])
        self._set_choices("reviewer", [(u.pk, u.username) for u in choices.reviewers])

    def _set_choices(self, name: str, choices: list[tuple[Any, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = ANY + choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        bounds = ("submitted_from", "submitted_to", "min_score", "max_score")
        ranges = ConversationFilters(**{name: data.get(name) for name in bounds})
        for name, message in ranges.range_errors().items():
            self.add_error(name, message)
        return data

    def filters(self) -> ConversationFilters:
        """The cleaned filters; call after is_valid()."""
        data = self.cleaned_data
        return ConversationFilters(
            state=data["state"] or None,
            project_id=data["project"],
            domain=data["domain"] or None,
            labeler_id=data["labeler"],
            reviewer_id=data["reviewer"],
            submitted_from=data["submitted_from"],
            submitted_to=data["submitted_to"],
            min_score=data["min_score"],
            max_score=data["max_score"],
        )

    @property
    def active(self) -> bool:
        """Whether any filter is set (the page number is not a filter)."""
        return any(self.data.get(name) for name in self.fields)


class ReviewQueueFilterForm(forms.Form):
    """The review queue's query parameters, as the API's ReviewQueueFilter reads them: each
    one left out (or empty) does not filter, and a value that is not one (`project=abc`) is
    refused rather than ignored."""

    project = forms.IntegerField(required=False, min_value=0)
    domain = forms.CharField(required=False)
    labeler = forms.IntegerField(required=False, min_value=0)
    cursor = forms.CharField(required=False)

    def first_error(self) -> str:
        """The first refused parameter, as the page shows it ("Project filter: …")."""
        for name, errors in self.errors.items():
            label = self.fields[name].label or name.capitalize()
            return f"{label} filter: {errors[0]}"
        return ""
