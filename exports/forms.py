"""The export form: the browser's way to build an ExportConfig (validated by the service)."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from exports.models import TokenizerAsset
from exports.selectors import export_project_choices, tokenizer_assets
from exports.services import ExportConfig, ExportConfigError, export_config_from_dict
from labeling.models import Domain
from sftpipeline.preference import EDIT, RANKING, REVIEW_EDIT
from sftpipeline.render import CHATML, CHATML_SEP, HF_CHAT_TEMPLATE

TEMPLATE_CHOICES = [
    (CHATML_SEP, "chatml-sep — <|im_start|>role<|im_sep|>content<|im_end|>"),
    (CHATML, "chatml — <|im_start|>role\\ncontent<|im_end|>\\n"),
    (HF_CHAT_TEMPLATE, "The uploaded Hugging Face tokenizer's own chat template"),
]


class ExportForm(forms.Form):
    projects = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    domains = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every domain.",
    )
    date_field = forms.ChoiceField(
        label="Date range on",
        choices=[("decided_at", "approval date"), ("submitted_at", "submission date")],
        initial="decided_at",
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    min_score = forms.FloatField(
        label="Minimum mean rubric score",
        required=False,
        help_text="Mean of the approving reviews' scores; unscored conversations are left out.",
    )
    exclude_unedited_ai_drafts = forms.BooleanField(
        label="Leave out AI drafts nobody edited", required=False
    )
    template = forms.ChoiceField(choices=TEMPLATE_CHOICES, initial=CHATML_SEP)
    tokenizer = forms.ChoiceField(initial="cl100k_base")
    max_tokens = forms.IntegerField(label="Maximum tokens", required=False, min_value=1)
    overflow = forms.ChoiceField(
        label="Longer conversations",
        choices=[("drop", "Drop them"), ("truncate", "Truncate them")],
        initial="drop",
        widget=forms.RadioSelect,
    )
    val_fraction = forms.FloatField(
        label="Validation fraction", initial=0.05, min_value=0, max_value=0.99
    )
    seed = forms.IntegerField(initial=0, min_value=0)
    formats = forms.MultipleChoiceField(
        choices=[
            ("jsonl", "JSONL conversations"),
            ("parquet", "Tokenized Parquet"),
            ("openai", "OpenAI fine-tuning JSONL"),
            ("preference", "Preference pairs (DPO JSONL + tokenized Parquet)"),
            ("kto", "KTO rows (one per distinct reply)"),
        ],
        initial=["jsonl", "parquet"],
        widget=forms.CheckboxSelectMultiple,
    )
    preference_sources = forms.MultipleChoiceField(
        label="Pairs from",
        choices=[
            (EDIT, "Corrected AI drafts (approved reply over the draft)"),
            (REVIEW_EDIT, "Reviewer edits (reviewer's reply over the labeler's)"),
            (RANKING, "Rankings (every strictly ordered pair of candidates)"),
        ],
        initial=[EDIT, REVIEW_EDIT, RANKING],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="For the preference and KTO files. None ticked: all.",
    )
    preference_threshold = forms.FloatField(
        label="Words a correction must change",
        initial=0.1,
        required=False,
        min_value=0,
        max_value=1,
        help_text="Share of the reply's words, 0.1 = 10%: smaller edits (typo fixes) are no "
        "preference.",
    )
    ranking_pairs = forms.ChoiceField(
        label="Several rankings of one prompt",
        choices=[
            ("all", "Keep every ranking's pairs"),
            ("majority", "Keep only the pairs most rankings agree on"),
        ],
        initial="all",
        required=False,
        help_text="For pairs from ranking projects with replications.",
    )
    drop_reasoning = forms.BooleanField(
        label="Drop reasoning",
        required=False,
        help_text="For a model that does not think: assistant reasoning is left out of every "
        "file and trains nothing.",
    )
    pack_length = forms.IntegerField(
        label="Pack into sequences of",
        required=False,
        min_value=8,
        help_text="tokens; empty: no packing",
    )
    dedupe = forms.BooleanField(label="Remove exact duplicates", required=False, initial=True)
    license = forms.CharField(initial="other", max_length=100)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds the ChoiceFields declared above, typed as their base Field.
        cast(forms.ChoiceField, self.fields["projects"]).choices = [
            (p.slug, p.name) for p in export_project_choices()
        ]
        cast(forms.ChoiceField, self.fields["domains"]).choices = [
            (d.slug, d.name) for d in Domain.objects.all()
        ]
        cast(forms.ChoiceField, self.fields["tokenizer"]).choices = [
            ("cl100k_base", "cl100k_base (built in)")
        ] + [(f"asset:{a.id}", f"{a.kind}: {a.label}") for a in tokenizer_assets()]

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = dict(self.cleaned_data)
        choice = data.pop("tokenizer", "cl100k_base")
        if choice.startswith("asset:"):
            asset = TokenizerAsset.objects.filter(id=int(choice.split(":", 1)[1])).first()
            if asset is None:
                self.add_error("tokenizer", "That uploaded tokenizer no longer exists.")
                return cleaned
            data["tokenizer"], data["tokenizer_asset"] = asset.kind, asset.id
        else:
            data["tokenizer"] = choice
        try:
            self.config = export_config_from_dict(data)
        except ExportConfigError as error:
            for name, message in error.errors.items():
                self.add_error(
                    name
                    if name in self.fields
                    else "tokenizer"
                    if name == "tokenizer_asset"
                    else None,
                    message,
                )
        return cleaned

    def export_config(self) -> ExportConfig:
        return self.config


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name (Django's documented recipe)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class TokenizerUploadForm(forms.Form):
    kind = forms.ChoiceField(label="Tokenizer", choices=TokenizerAsset.Kind.choices)
    label = forms.CharField(max_length=200, required=False)
    # The form metaclass moves declared fields into base_fields, so this never hides
    # BaseForm.files (the request's uploads) at run time; mypy cannot see that.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Files",
        help_text="o200k_base.tiktoken, or tokenizer.json with tokenizer_config.json "
        "and/or chat_template.jinja",
    )
