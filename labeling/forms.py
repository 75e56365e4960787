import json
import re

from django import forms

from .models import Domain, Project, ReasoningMode, Role, default_rubric
from .services.projects import PROJECT_FIELDS


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    roles = forms.MultipleChoiceField(
        choices=Role.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    labeler_domains = forms.ModelMultipleChoiceField(
        Domain.objects.all(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    reviewer_domains = forms.ModelMultipleChoiceField(
        Domain.objects.all(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Leave empty to keep the current password.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")


class DomainForm(forms.Form):
    name = forms.CharField(max_length=120, label="New domain")


class RubricField(forms.CharField):
    """The rubric as criterion names separated by commas or new lines; the service checks them."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(str(v.get("name", v) if isinstance(v, dict) else v) for v in value)
        return value

    def to_python(self, value):
        text = super().to_python(value)
        # CharField gives "" for empty input (its empty_value), never None.
        return [name.strip() for name in re.split(r"[,\n]", text or "") if name.strip()]


class ToolsField(forms.JSONField):
    """Declared tools as indented JSON; the projects service checks the specs and schemas."""

    def prepare_value(self, value):
        if isinstance(value, list | dict):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return super().prepare_value(value)


class ProjectForm(forms.ModelForm):
    """Settings, conversation rules and policies; the service checks them again."""

    rubric = RubricField(
        label="Review rubric",
        initial=", ".join(default_rubric()),
        help_text="Criteria reviewers score 1 to 5, separated by commas: 1 to 10 short "
        "lowercase names (letters, digits, - or _).",
    )
    tools = ToolsField(
        label="Declared tools (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "mono"}),
        help_text='A list of function specs: [{"type": "function", "function": {"name": '
        '"search", "description": "…", "parameters": {JSON Schema}}}]. Assistant turns may '
        "call only these tools, with arguments valid against their schema.",
    )

    class Meta:
        model = Project
        # The template places every field; the service's list is the one source of names.
        fields = [*PROJECT_FIELDS, "domains"]
        widgets = {
            "domains": forms.CheckboxSelectMultiple,
            "description": forms.Textarea(attrs={"rows": 3}),
            "fixed_system_message": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "slug": "Used in URLs, the API and the CLI. Leave empty to derive it from the name.",
            "domains": "Open to labelers with any of these domains; none: open to every labeler.",
            "fixed_system_message": "When set, every conversation starts with this system message.",
            "replications": "How many different labelers write a conversation for each prompt.",
            "lease_minutes": "How long a labeler holds a task before it goes back to the pool.",
            "approvals_needed": "Approving reviews a conversation needs.",
            "reasoning_mode": "Whether assistant replies carry the reasoning written before "
            "the answer: required blocks submitting a reply without it, off one with it.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["reasoning_mode"].required = False

    def clean_reasoning_mode(self):
        return self.cleaned_data.get("reasoning_mode") or ReasoningMode.OFF


class GuidelinesForm(forms.Form):
    body = forms.CharField(
        label="Guidelines (markdown)",
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text="Saving a change makes a new version; labelers see that the guidelines changed.",
    )


class PromptUploadForm(forms.Form):
    file = forms.FileField(
        help_text="JSONL (one object or JSON string per line) or CSV with a prompt column; UTF-8."
    )
    on_duplicate = forms.ChoiceField(
        choices=[("skip", "Skip duplicates"), ("fail", "Fail the import")],
        initial="skip",
        label="Duplicates",
    )


class SkipForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
