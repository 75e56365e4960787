"""The export configuration: everything that decides the output bytes, validated in one place.

The browser form, the API serializer and the CLI all build an `ExportConfig` through
`export_config_from_dict`, so a setting means the same thing whichever door it came in by.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from conversations.models import ConversationState
from sftpipeline.preference import DEFAULT_THRESHOLD, PREFERENCE_SOURCES
from sftpipeline.ranking import RANKING_PAIR_MODES, RANKING_PAIRS_ALL
from sftpipeline.render import CHATML, CHATML_SEP, HF_CHAT_TEMPLATE, TEMPLATE_NAMES
from sftpipeline.tokenizers import CL100K_BASE, HUGGINGFACE, O200K_BASE, TOKENIZER_NAMES

#: ``preference`` writes the pair JSONL and Parquet, ``kto`` the unpaired rows (contract 7).
FORMATS: tuple[str, ...] = ("jsonl", "parquet", "openai", "preference", "kto")
SFT_FORMATS: tuple[str, ...] = ("jsonl", "parquet", "openai")
PAIR_FORMATS: tuple[str, ...] = ("preference", "kto")
#: What an export writes unless told otherwise (``openai`` is asked for by name).
DEFAULT_FORMATS: tuple[str, ...] = ("jsonl", "parquet")
DATE_FIELDS: tuple[str, ...] = ("decided_at", "submitted_at")
OVERFLOW_POLICIES: tuple[str, ...] = ("drop", "truncate")


class ExportConfigError(ValueError):
    """A setting is invalid; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass(frozen=True)
class ExportConfig:
    """One export's settings. `to_dict()` is what the job row and the manifest store."""

    projects: tuple[str, ...]
    domains: tuple[str, ...] = ()
    date_field: str = "decided_at"
    date_from: str | None = None
    date_to: str | None = None
    min_score: float | None = None
    exclude_unedited_ai_drafts: bool = False
    template: str = CHATML_SEP
    tokenizer: str = CL100K_BASE
    tokenizer_asset: int | None = None
    max_tokens: int | None = None
    overflow: str = "drop"
    val_fraction: float = 0.05
    seed: int = 0
    formats: tuple[str, ...] = DEFAULT_FORMATS
    pack_length: int | None = None
    # For a model that does not think: assistant reasoning is left out of every file.
    drop_reasoning: bool = False
    dedupe: bool = True
    license: str = "other"
    language: tuple[str, ...] = field(default=("en",))
    # Preference pairs (contract 7): which sources, and the share of words a correction
    # must change to count as a preference rather than a typo fix.
    preference_sources: tuple[str, ...] = PREFERENCE_SOURCES
    preference_threshold: float = DEFAULT_THRESHOLD
    # Several rankings of one prompt: every ranking's pairs, or only the majority's.
    ranking_pairs: str = RANKING_PAIRS_ALL

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("projects", "domains", "formats", "language", "preference_sources"):
            data[key] = list(data[key])
        return data

    @property
    def writes_sft(self) -> bool:
        """Whether any conversation file is asked for (a pairs-only export skips them)."""
        return bool(set(self.formats) & set(SFT_FORMATS)) or self.pack_length is not None

    @property
    def writes_pairs(self) -> bool:
        return bool(set(self.formats) & set(PAIR_FORMATS))

    @property
    def filters(self) -> dict[str, Any]:
        """The row filters, as the dataset card and manifest describe them."""
        filters: dict[str, Any] = {
            "state": ConversationState.APPROVED.value,
            "projects": list(self.projects),
        }
        if self.domains:
            filters["domains"] = list(self.domains)
        if self.date_from or self.date_to:
            filters[self.date_field] = {"from": self.date_from, "to": self.date_to}
        if self.min_score is not None:
            filters["min_mean_rubric_score"] = self.min_score
        if self.exclude_unedited_ai_drafts:
            filters["exclude_unedited_ai_drafts"] = True
        return filters


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [str(item).strip() for item in value if str(item).strip()]


def _optional_int(value: Any, name: str, errors: dict[str, str], minimum: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[name] = f"must be a whole number, not {value!r}"
        return None
    if number < minimum:
        errors[name] = f"must be at least {minimum}"
    return number


def _optional_date(value: Any, name: str, errors: dict[str, str]) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        errors[name] = f"must be a date like 2025-01-31, not {value!r}"
        return None


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def export_config_from_dict(data: dict[str, Any]) -> ExportConfig:
    """Validate raw settings (form, JSON or CLI) into an `ExportConfig`.

    Raises `ExportConfigError` naming every bad field at once. Project and asset
    existence are checked by the services that use the config, not here.
    """
    errors: dict[str, str] = {}
    projects = tuple(sorted(set(_as_list(data.get("projects")))))
    if not projects:
        errors["projects"] = "choose at least one project"
    domains = tuple(sorted(set(_as_list(data.get("domains")))))
    date_field = str(data.get("date_field") or "decided_at")
    if date_field not in DATE_FIELDS:
        errors["date_field"] = f"must be one of {', '.join(DATE_FIELDS)}"
    date_from = _optional_date(data.get("date_from"), "date_from", errors)
    date_to = _optional_date(data.get("date_to"), "date_to", errors)
    if date_from and date_to and date_from > date_to:
        errors["date_to"] = "must not be before the start date"

    min_score = data.get("min_score")
    if min_score in (None, ""):
        min_score = None
    else:
        try:
            min_score = float(min_score)
        except (TypeError, ValueError):
            errors["min_score"] = f"must be a number, not {min_score!r}"
            min_score = None

    template = str(data.get("template") or CHATML_SEP)
    if template not in TEMPLATE_NAMES:
        errors["template"] = f"unknown template {template!r}; choose {', '.join(TEMPLATE_NAMES)}"
    tokenizer = str(data.get("tokenizer") or CL100K_BASE)
    if tokenizer not in TOKENIZER_NAMES:
        errors["tokenizer"] = (
            f"unknown tokenizer {tokenizer!r}; choose {', '.join(TOKENIZER_NAMES)}"
        )
    asset = _optional_int(data.get("tokenizer_asset"), "tokenizer_asset", errors, 1)
    if tokenizer in (O200K_BASE, HUGGINGFACE) and asset is None:
        errors.setdefault("tokenizer_asset", f"{tokenizer} needs an uploaded vocabulary file")
    if tokenizer == CL100K_BASE:
        asset = None
    if template == HF_CHAT_TEMPLATE and tokenizer != HUGGINGFACE:
        errors["template"] = "the tokenizer's own chat template needs a Hugging Face tokenizer"

    max_tokens = _optional_int(data.get("max_tokens"), "max_tokens", errors, 1)
    overflow = "truncate" if _as_bool(data.get("truncate")) else str(data.get("overflow") or "drop")
    if overflow not in OVERFLOW_POLICIES:
        errors["overflow"] = f"must be one of {', '.join(OVERFLOW_POLICIES)}"

    val_fraction = data.get("val_fraction", 0.05)
    try:
        val_fraction = float(0.05 if val_fraction in (None, "") else val_fraction)
        if not 0.0 <= val_fraction < 1.0:
            errors["val_fraction"] = "must be at least 0 and below 1"
    except (TypeError, ValueError):
        errors["val_fraction"] = f"must be a number, not {val_fraction!r}"
        val_fraction = 0.0
    seed = _optional_int(data.get("seed"), "seed", errors, 0) or 0

    formats = tuple(sorted(set(_as_list(data.get("formats")) or DEFAULT_FORMATS)))
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        errors["formats"] = f"unknown format {unknown[0]!r}; choose from {', '.join(FORMATS)}"
    pack_length = _optional_int(data.get("pack_length"), "pack_length", errors, 8)
    sources = tuple(
        name
        for name in PREFERENCE_SOURCES
        if name in (_as_list(data.get("preference_sources")) or PREFERENCE_SOURCES)
    )
    unknown_sources = set(_as_list(data.get("preference_sources"))) - set(PREFERENCE_SOURCES)
    if unknown_sources:
        errors["preference_sources"] = (
            f"unknown source {sorted(unknown_sources)[0]!r}; choose from "
            f"{', '.join(PREFERENCE_SOURCES)}"
        )
    threshold = _fraction(data.get("preference_threshold"), "preference_threshold", errors)
    ranking_pairs = str(data.get("ranking_pairs") or RANKING_PAIRS_ALL)
    if ranking_pairs not in RANKING_PAIR_MODES:
        errors["ranking_pairs"] = (
            f"unknown choice {ranking_pairs!r}; choose from {', '.join(RANKING_PAIR_MODES)}"
        )
    dedupe = _as_bool(data.get("dedupe", True))
    license_name = str(data.get("license") or "other").strip()
    language = tuple(_as_list(data.get("language")) or ["en"])
    if errors:
        raise ExportConfigError(errors)
    return ExportConfig(
        projects=projects,
        domains=domains,
        date_field=date_field,
        date_from=date_from,
        date_to=date_to,
        min_score=min_score,
        exclude_unedited_ai_drafts=_as_bool(data.get("exclude_unedited_ai_drafts", False)),
        template=template,
        tokenizer=tokenizer,
        tokenizer_asset=asset,
        max_tokens=max_tokens,
        overflow=overflow,
        val_fraction=val_fraction,
        seed=seed,
        formats=formats,
        pack_length=pack_length,
        drop_reasoning=_as_bool(data.get("drop_reasoning", False)),
        dedupe=dedupe,
        license=license_name,
        language=language,
        preference_sources=sources,
        preference_threshold=threshold,
        ranking_pairs=ranking_pairs,
    )


def _fraction(value: Any, name: str, errors: dict[str, str]) -> float:
    """A share from 0 to 1; the default threshold when not given."""
    if value is None or value == "":
        return DEFAULT_THRESHOLD
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors[name] = f"must be a number from 0 to 1, not {value!r}"
        return DEFAULT_THRESHOLD
    if not 0.0 <= number <= 1.0:
        errors[name] = f"must be from 0 to 1 (0.1 = 10% of the words), not {number}"
    return number


__all__ = [
    "CHATML",
    "DATE_FIELDS",
    "DEFAULT_FORMATS",
    "FORMATS",
    "OVERFLOW_POLICIES",
    "PAIR_FORMATS",
    "SFT_FORMATS",
    "ExportConfig",
    "ExportConfigError",
    "export_config_from_dict",
]
