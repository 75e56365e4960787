import json
from typing import cast

from django import forms

from .models import Domain, Project, ProjectKind, ReasoningMode, Role, default_rubric
from .selectors import PromptStatus
from .services.members import DOMAIN_NAME_MAX_LENGTH, EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH
from .services.projects import PROJECT_FIELDS, rubric_normalized


class MemberForm(forms.Form):
    username = forms.CharField(max_length=USERNAME_MAX_LENGTH)
    email = forms.EmailField(required=False, max_length=EMAIL_MAX_LENGTH)
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
    name = forms.CharField(max_length=DOMAIN_NAME_MAX_LENGTH, label="New domain")


class RubricField(forms.CharField):
    """The rubric, one criterion a line as `name | Label | description` (label and description
    optional; a line with one comma-separated list of names is read as the old format). The
    service checks the criteria."""

    widget = forms.Textarea(attrs={"rows": 5})

    def prepare_value(self, value):
        if isinstance(value, list):
            lines = []
            for criterion in rubric_normalized(value):
                if isinstance(criterion, dict):
                    parts = [criterion["name"], criterion["label"], criterion["description"]]
                    lines.append(" | ".join(part for part in parts if part))
            return "\n".join(lines)
        return value

    def to_python(self, value):
        # CharField gives "" for empty input (its empty_value), never None.
        text = super().to_python(value) or ""
        criteria = []
        for line in text.splitlines():
            if not line.strip():
                continue
            if "|" not in line and "," in line:
                criteria += [{"name": n.strip()} for n in line.split(",") if n.strip()]
                continue
            name, _, rest = (part.strip() for part in line.partition("|"))
            label, _, description = (part.strip() for part in rest.partition("|"))
            criteria.append({"name": name, "label": label, "description": description})
        return criteria


class ToolsField(forms.JSONField):
    """Declared tools as indented JSON; the projects service checks the specs and schemas."""

    def prepare_value(self, value):
        if isinstance(value, list | dict):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return super().prepare_value(value)

    def to_python(self, value):
        # Say where the JSON breaks: the box holds many lines of specs.
        if isinstance(value, str) and value.strip() and not self.disabled:
            try:
                json.loads(value)
            except json.JSONDecodeError as error:
                raise forms.ValidationError(
                    f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).",
                    code="invalid",
                ) from None
        return super().to_python(value)


class ProjectForm(forms.ModelForm):
    """Settings, conversation rules and policies; the service checks them again."""

    rubric = RubricField(
        label="Review rubric",
        initial=default_rubric,
        help_text="One criterion a line: name | Label | description, e.g. "
        '"code_quality | Code quality | Idiomatic, tested, readable". Reviewers score each '
        "1 to 5 and see the label, with the description as help. 1 to 10 criteria; names are "
        "short lowercase words (letters, digits, - or _) and stay fixed so old scores keep "
        "their meaning.",
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
            "ai_draft_temperature": forms.NumberInput(attrs={"step": "0.1", "min": 0, "max": 2}),
            "candidates_k": forms.NumberInput(attrs={"min": 2, "max": 6}),
            "candidates_temperature": forms.NumberInput(attrs={"step": "0.1", "min": 0, "max": 2}),
        }
        labels = {
            "candidates_k": "AI candidates per prompt",
            "candidates_temperature": "Their sampling variety",
            "ai_drafts_enabled": "AI drafts on",
            "ai_draft_base_url": "Endpoint URL",
            "ai_draft_model": "Model",
            "ai_draft_temperature": "Temperature",
            "ai_draft_max_tokens": "Max tokens per draft",
        }
        help_texts = {
            "slug": "Used in URLs, the API and the CLI. Leave empty to derive it from the name.",
            "kind": "Ranking: each prompt comes with 2-6 candidate replies that labelers order. "
            "Fixed once the project has prompts.",
            "candidates_k": "Ranking projects: replies the AI endpoint writes for a prompt "
            "imported without candidates (2 to 6).",
            "candidates_temperature": "The sampling temperature of the AI candidates, 0 to 2 "
            "(higher: more varied).",
            "domains": "Open to labelers with any of these domains; none: open to every labeler.",
            "fixed_system_message": "When set, every conversation starts with this system message.",
            "replications": "How many different labelers write a conversation for each prompt.",
            "lease_minutes": "How long a labeler holds a task before it goes back to the pool.",
            "approvals_needed": "Approving reviews a conversation needs.",
            "reasoning_mode": "Whether assistant replies carry the reasoning written before "
            "the answer: required blocks submitting a reply without it, off one with it.",
            "ai_drafts_enabled": "Labelers may ask for an AI draft of an assistant reply.",
            "ai_draft_base_url": "An OpenAI-compatible chat-completions API, e.g. "
            "https://api.openai.com/v1. Empty: the server's AI_DRAFT_BASE_URL.",
            "ai_draft_model": "Empty: the server's AI_DRAFT_MODEL.",
            "ai_draft_temperature": "0 to 2; empty: the endpoint's default.",
            "ai_draft_max_tokens": "Empty: the endpoint's default.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["reasoning_mode"].required = False
        # Left out: the project keeps its kind (a new one writes conversations).
        self.fields["kind"].required = False
        self.fields["candidates_k"].required = False
        self.fields["candidates_temperature"].required = False

    def clean_reasoning_mode(self):
        return self.cleaned_data.get("reasoning_mode") or ReasoningMode.OFF

    def clean_candidates_k(self):
        value = self.cleaned_data.get("candidates_k")
        return self.instance.candidates_k if value is None else value

    def clean_candidates_temperature(self):
        value = self.cleaned_data.get("candidates_temperature")
        return self.instance.candidates_temperature if value is None else value

    def clean_kind(self):
        return self.cleaned_data.get("kind") or self.instance.kind or ProjectKind.CONVERSATION


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
    domain = forms.ModelChoiceField(
        Domain.objects.none(),
        to_field_name="slug",
        required=False,
        empty_label="No domain",
        label="Domain for the whole import",
        help_text="Given to every prompt of the file that names no domain of its own.",
    )

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        # A project's prompts take its own domains (any domain when it names none).
        domains = project.domains.all() if project.domains.exists() else Domain.objects.all()
        cast(forms.ModelChoiceField, self.fields["domain"]).queryset = domains.order_by("name")


class SkipForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class PromptFilterForm(forms.Form):
    """The prompts page's filters (the API reads the same through PromptFilter)."""

    q = forms.CharField(label="Search", required=False, max_length=200)
    domain = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False)
    batch = forms.TypedChoiceField(label="Import", required=False, coerce=int, empty_value=None)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["domain"]).choices = [
            ("", "Any domain"),
            ("none", "No domain"),
            *((d.slug, d.name) for d in Domain.objects.order_by("name")),
        ]
        cast(forms.ChoiceField, self.fields["status"]).choices = [
            ("", "Any status"),
            *PromptStatus.choices,
        ]
        cast(forms.ChoiceField, self.fields["batch"]).choices = [
            ("", "Any import"),
            *(
                (b.pk, f"#{b.pk} {b.file_name} ({b.created_at:%Y-%m-%d})")
                for b in project.import_batches.order_by("-created_at")[:200]
            ),
        ]


class PromptEditForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}))
    domain = forms.ModelChoiceField(
        Domain.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label="No domain",
    )
