"""Projects and their versioned guidelines."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from core.columns import max_length
from core.exceptions import ApplicationError
from labeling.models import (
    Domain,
    GuidelineRead,
    GuidelineVersion,
    Project,
    ProjectKind,
    ProjectStatus,
    ReasoningMode,
    User,
)
from labeling.slugs import slug_that_fits
from structured_turns.rules import StructuredError, clean_tools


class ProjectError(ApplicationError):
    """A project change the rules do not allow; `field` names the field, the message why."""


class ProjectInUse(ProjectError):
    """The project holds work, so it cannot be deleted."""

    status = 409
    code = "conflict"


# The fields an admin edits through the form and the API (domains and guidelines aside).
PROJECT_FIELDS = (
    "name",
    "slug",
    "description",
    "status",
    "priority",
    "kind",
    "candidates_k",
    "candidates_temperature",
    "min_turns",
    "max_turns",
    "system_message_allowed",
    "fixed_system_message",
    "max_tokens",
    "replications",
    "lease_minutes",
    "approvals_needed",
    "rubric",
    "tools",
    "reasoning_mode",
    "ai_drafts_enabled",
    "ai_draft_base_url",
    "ai_draft_model",
    "ai_draft_temperature",
    "ai_draft_max_tokens",
)

RUBRIC_MAX_CRITERIA = 10
RUBRIC_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
RUBRIC_LABEL_MAX = 80
RUBRIC_DESCRIPTION_MAX = 500
# The project's AI-draft sampling temperature range (OpenAI's chat-completions range).
AI_DRAFT_TEMPERATURE_MAX = 2.0


def rubric_label_default(name: str) -> str:
    """The label a criterion stored without one shows: `code_quality` -> "Code quality"."""
    return re.sub(r"[_-]+", " ", name).strip().capitalize()


def rubric_normalized(rubric: Any) -> Any:
    """Criteria as {"name", "label", "description"}; a bare name (the old format) gains its
    default label. Anything else is passed through for `_rubric_problem` to name."""
    if not isinstance(rubric, list):
        return rubric
    criteria: list[object] = []
    for criterion in rubric:
        if isinstance(criterion, str):
            criterion = {"name": criterion}
        if isinstance(criterion, dict) and isinstance(criterion.get("name"), str):
            name = criterion["name"].strip()
            criterion = {
                "name": name,
                "label": str(criterion.get("label") or "").strip() or rubric_label_default(name),
                "description": str(criterion.get("description") or "").strip(),
            }
        criteria.append(criterion)
    return criteria


def _rubric_problem(rubric: object) -> str | None:
    """What is wrong with a (normalized) rubric, or None. A rubric is 1 to 10 criteria with
    distinct short lowercase names, a label and an optional description (reviewers score
    each 1 to 5)."""
    if not isinstance(rubric, list) or not rubric:
        return "give at least one criterion, e.g. helpfulness"
    if len(rubric) > RUBRIC_MAX_CRITERIA:
        return f"at most {RUBRIC_MAX_CRITERIA} criteria (got {len(rubric)})"
    names: list[str] = []
    for position, criterion in enumerate(rubric, start=1):
        name = criterion.get("name") if isinstance(criterion, dict) else None
        if not isinstance(name, str) or not RUBRIC_NAME.fullmatch(name):
            return (
                f'criterion {position} "{name if name is not None else criterion}": use 1 to 40 '
                'lowercase letters, digits, "-" or "_", starting with a letter (e.g. code_quality)'
            )
        if name in names:
            return f'criterion {position} "{name}" appears twice'
        names.append(name)
        if len(criterion["label"]) > RUBRIC_LABEL_MAX:
            return f'criterion {position} "{name}": label longer than {RUBRIC_LABEL_MAX} characters'
        if len(criterion["description"]) > RUBRIC_DESCRIPTION_MAX:
            return (
                f'criterion {position} "{name}": description longer than '
                f"{RUBRIC_DESCRIPTION_MAX} characters"
            )
    return None


def _ai_draft_problem(project: Project) -> tuple[str, str] | None:
    """(field, why) for AI-draft settings that cannot work, or None."""
    temperature = project.ai_draft_temperature
    if temperature is not None and not 0 <= temperature <= AI_DRAFT_TEMPERATURE_MAX:
        return "ai_draft_temperature", f"between 0 and {AI_DRAFT_TEMPERATURE_MAX:g}"
    if project.ai_draft_max_tokens is not None and project.ai_draft_max_tokens < 1:
        return "ai_draft_max_tokens", "at least 1"
    url = project.ai_draft_base_url.strip()
    if url and not re.match(r"https?://[^/\s]+", url):
        return "ai_draft_base_url", "an http:// or https:// URL, e.g. https://api.example.com/v1"
    return None


def _check(project: Project) -> None:
    if not project.name.strip():
        raise ProjectError("required", field="name")
    if len(project.name) > max_length(Project, "name"):
        raise ProjectError(f"at most {max_length(Project, 'name')} characters", field="name")
    if not project.slug:
        raise ProjectError("use letters, digits or dashes", field="slug")
    if project.min_turns < 1:
        raise ProjectError("at least 1", field="min_turns")
    if project.max_turns < project.min_turns:
        raise ProjectError("must be at least min_turns", field="max_turns")
    if project.replications < 1:
        raise ProjectError("at least 1", field="replications")
    if project.lease_minutes < 1:
        raise ProjectError("at least 1", field="lease_minutes")
    if project.approvals_needed < 1:
        raise ProjectError("at least 1", field="approvals_needed")
    project.rubric = rubric_normalized(project.rubric)
    problem = _rubric_problem(project.rubric)
    if problem:
        raise ProjectError(problem, field="rubric")
    ai_draft_problem = _ai_draft_problem(project)
    if ai_draft_problem:
        raise ProjectError(ai_draft_problem[1], field=ai_draft_problem[0])
    if project.status not in ProjectStatus.values:
        raise ProjectError(f"use one of {', '.join(ProjectStatus.values)}", field="status")
    if project.kind not in ProjectKind.values:
        raise ProjectError(f"use one of {', '.join(ProjectKind.values)}", field="kind")
    if not 2 <= project.candidates_k <= 6:
        raise ProjectError("from 2 to 6", field="candidates_k")
    if not 0 <= project.candidates_temperature <= AI_DRAFT_TEMPERATURE_MAX:
        raise ProjectError(
            f"from 0 to {AI_DRAFT_TEMPERATURE_MAX:g}", field="candidates_temperature"
        )
    if project.reasoning_mode not in ReasoningMode.values:
        raise ProjectError(f"use one of {', '.join(ReasoningMode.values)}", field="reasoning_mode")
    try:
        project.tools = clean_tools(project.tools)
    except StructuredError as error:
        # The message starts with the full path below the field (tools[1].function…).
        raise ProjectError(str(error), field="tools") from None


def _save(project: Project, domains: Iterable[Domain] | None) -> Project:
    _check(project)
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError as error:
        raise ProjectError(f'"{project.slug}" is taken by another project', field="slug") from error
    if domains is not None:
        project.domains.set(domains)
    return project


@transaction.atomic
def project_create(
    *,
    created_by: User | None,
    name: str,
    domains: Iterable[Domain] = (),
    guidelines: str = "",
    **fields: Any,
) -> Project:
    """Create a project with its rules and policies; non-empty guidelines become version 1."""
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise ProjectError(f"unknown fields: {', '.join(sorted(unknown))}")
    explicit = fields.get("slug")
    if explicit and len(slugify(explicit)) > max_length(Project, "slug"):
        raise ProjectError(f"at most {max_length(Project, 'slug')} characters", field="slug")
    fields["slug"] = slug_that_fits(explicit or name, max_length(Project, "slug"))
    project = _save(Project(name=name.strip(), created_by=created_by, **fields), list(domains))
    if guidelines.strip():
        guidelines_save(project=project, body=guidelines, user=created_by)
    return project


@transaction.atomic
def project_update(
    *, project: Project, domains: Iterable[Domain] | None = None, **fields: Any
) -> Project:
    """Change a project's settings; only the given fields change."""
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise ProjectError(f"unknown fields: {', '.join(sorted(unknown))}")
    if len(slugify(fields.get("slug") or "")) > max_length(Project, "slug"):
        raise ProjectError(f"at most {max_length(Project, 'slug')} characters", field="slug")
    if "kind" in fields and project.prompts.exists():
        # Its prompts (and their candidates, or lack of them) were imported for the stored
        # kind; read from the row, as a form may already have set the new one on `project`.
        stored = Project.objects.filter(pk=project.pk).values_list("kind", flat=True).get()
        if fields["kind"] != stored:
            raise ProjectError("cannot change once the project has prompts", field="kind")
    for name, value in fields.items():
        setattr(project, name, slugify(value) if name == "slug" else value)
    return _save(project, list(domains) if domains is not None else None)


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete a project that has no conversations yet; one with work is archived instead."""
    if project.conversations.exists():
        raise ProjectInUse(
            "This project has conversations: archive it (status archived) instead of deleting."
        )
    project.delete()


@transaction.atomic
def project_for_import(
    *,
    slug: str,
    create: bool,
    created_by: User | None = None,
    kind: str = ProjectKind.CONVERSATION,
) -> Project:
    """The project an import goes to; with `create`, a missing one is made active with the
    default policies, no domains (open to every labeler) and the given `kind`."""
    project = Project.objects.filter(slug=slug).first()
    if project:
        return project
    if not create:
        raise ProjectError(
            f'no project "{slug}" (use --create-project to make it)', field="project"
        )
    return project_create(
        created_by=created_by,
        name=slug.replace("-", " ").capitalize(),
        slug=slug,
        status=ProjectStatus.ACTIVE,
        kind=kind,
    )


@transaction.atomic
def guidelines_save(*, project: Project, body: str, user: User | None) -> GuidelineVersion:
    """Guidelines are never edited in place: a change is a new version. An unchanged body
    returns the current version."""
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values_list("pk").first()
    current = project.guideline_versions.order_by("-version").first()
    if current and current.body == body:
        return current
    if not body.strip():
        raise ProjectError("write something, or keep the current version", field="guidelines")
    number = (project.guideline_versions.aggregate(top=Max("version"))["top"] or 0) + 1
    version = GuidelineVersion.objects.create(
        project=project, version=number, body=body, created_by=user
    )
    # The author has read what they wrote.
    if user is not None:
        GuidelineRead.objects.update_or_create(
            user=user, project=project, defaults={"version": number, "read_at": timezone.now()}
        )
    return version


@transaction.atomic
def guidelines_mark_read(*, user: User, project: Project) -> int | None:
    """Record that the person read the project's current guidelines. Returns that version."""
    current = project.guideline_versions.order_by("-version").values_list("version", flat=True)
    version = current.first()
    if version is None:
        return None
    GuidelineRead.objects.update_or_create(
        user=user, project=project, defaults={"version": version, "read_at": timezone.now()}
    )
    return version


@dataclass(frozen=True)
class GuidelineNotice:
    current_version: int | None
    read_version: int | None

    @property
    def due(self) -> bool:
        """True when there are guidelines the person has not read in their current version."""
        return self.current_version is not None and self.read_version != self.current_version

    @property
    def changed(self) -> bool:
        """True when the person read an older version (rather than never reading any)."""
        return self.due and self.read_version is not None


def guidelines_notice(*, user: User, project: Project) -> GuidelineNotice:
    """Whether the person should see a "guidelines changed" notice in this project (2 queries)."""
    current = (
        GuidelineVersion.objects.filter(project=project)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    read = (
        GuidelineRead.objects.filter(user=user, project=project)
        .values_list("version", flat=True)
        .first()
    )
    return GuidelineNotice(current_version=current, read_version=read)
