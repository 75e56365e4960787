"""Every text a form or an API body writes fits its column: a too-long value is a clear 400
(or a form error), never a database error, and a value derived from a long one (a slug
from a name) is cut to fit."""

import pytest
from django import forms
from django.db import models
from django.urls import reverse
from rest_framework import serializers

import conversations.api.editor
import conversations.api.imports
import conversations.api.listing
import conversations.api.ranking
import conversations.api.review
import conversations.api.tasks
import conversations.forms
import conversations.views.imports
import exports.api
import labeling.api.projects
import labeling.api.prompts
import labeling.forms
from exports.forms import ExportForm, TokenizerUploadForm
from exports.models import TokenizerAsset
from labeling.api.members import MemberInput
from labeling.api.projects import GuidelinesInput, ProjectInput
from labeling.forms import (
    DomainForm,
    GuidelinesForm,
    MemberForm,
    ProjectForm,
    PromptUploadForm,
    SkipForm,
)
from labeling.models import Domain, Project, User

pytestmark = pytest.mark.django_db

# The writers whose fields land in a model's columns of the same name.
WRITERS = {
    ProjectInput: Project,
    ProjectForm: Project,
    MemberInput: User,
    MemberForm: User,
    DomainForm: Domain,
    TokenizerUploadForm: TokenizerAsset,
}
# Writers that put no text into a length-limited column (text columns, choices, lookups).
NO_LIMITED_COLUMN = {
    GuidelinesInput,
    GuidelinesForm,
    PromptUploadForm,
    SkipForm,
    ExportForm,
    exports.api.ExportCreateInput,
    conversations.api.tasks.TaskNextInput,
    conversations.api.tasks.TaskSkipInput,
    conversations.api.review.MessageCommentInput,
    conversations.api.review.ReviewInput,
    conversations.api.review.ReviewEditInput,
    conversations.api.review.NotificationsReadInput,
    conversations.api.editor.MessageInput,
    conversations.api.editor.SaveInput,
    conversations.api.editor.VersionInput,
    conversations.api.editor.MessagesInput,
    conversations.api.editor.DraftInput,
    # A ranking's order, flags (JSON), comment, better reply and a reorder's reason (text
    # columns; the service bounds them).
    conversations.api.ranking.RankingSaveInput,
    conversations.api.ranking.ReorderInput,
    # A prompt's text (a text column) and domain (a lookup).
    labeling.api.prompts.PromptInput,
    labeling.forms.PromptEditForm,
    # A rubric criterion lands in the project's JSON rubric, with limits of its own.
    labeling.api.projects.RubricCriterionInput,
    # Conversation imports: a file and choices (the file's lines are checked by the import).
    conversations.api.imports.ConversationImportInput,
    conversations.views.imports.ConversationImportForm,
    # Query filters: they read, they write nothing.
    labeling.api.prompts.PromptImportFilter,
    labeling.api.prompts.PromptFilter,
    labeling.forms.PromptFilterForm,
    conversations.api.review.ReviewQueueFilter,
    conversations.api.listing.ConversationListFilter,
    conversations.forms.ConversationFilterForm,
    conversations.forms.ReviewQueueFilterForm,
    # Output serializers not named ...Output.
    conversations.api.listing.ConversationListItem,
    conversations.api.review.QueueProjectCount,
    conversations.api.review.QueueDomainCount,
    conversations.api.review.QueueLabelerCount,
    conversations.api.review.ReviewEditConflict,
}
# List fields whose items become rows of another model, named by that model's field.
ITEM_COLUMNS = {
    (MemberInput, "labeler_domains"): Domain._meta.get_field("name"),
    (MemberInput, "reviewer_domains"): Domain._meta.get_field("name"),
}


# Columns that store something derived from the input, not the input: a password's hash.
STORED_DERIVED = {User._meta.get_field("password")}


def _subclasses(cls) -> set:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def _ours(cls) -> bool:
    return cls.__module__.split(".")[0] in ("labeling", "conversations", "exports")


def _writer_fields(writer) -> dict:
    return writer.base_fields if issubclass(writer, forms.BaseForm) else writer().fields


def test_every_input_serializer_and_form_is_checked():
    inputs = {
        cls
        for cls in _subclasses(serializers.Serializer) | _subclasses(forms.BaseForm)
        if _ours(cls) and not cls.__name__.endswith("Output")
    }
    assert inputs - set(WRITERS) - NO_LIMITED_COLUMN == set(), "add new writers to a table here"


@pytest.mark.parametrize("writer", list(WRITERS), ids=lambda w: w.__name__)
def test_writer_max_lengths_fit_the_columns(writer):
    model = WRITERS[writer]
    fields = _writer_fields(writer)
    limited = [
        field
        for field in model._meta.get_fields()
        if isinstance(field, models.CharField)
        and not field.choices
        and field.name in fields
        and field not in STORED_DERIVED
    ]
    assert limited, f"{writer.__name__} writes none of {model.__name__}'s text columns"
    for column in limited:
        length = fields[column.name].max_length
        assert length is not None and length <= column.max_length, (
            f"{writer.__name__}.{column.name}: max_length {length}, column {column.max_length}"
        )


@pytest.mark.parametrize(("writer", "name"), list(ITEM_COLUMNS), ids=str)
def test_list_items_fit_the_rows_they_become(writer, name):
    column = ITEM_COLUMNS[(writer, name)]
    length = _writer_fields(writer)[name].child.max_length
    assert length is not None and length <= column.max_length


LONG_NAME = "A very thorough campaign about " + "numerical linear algebra " * 6  # ~180 chars
PROJECT_FORM = {
    "status": "active",
    "priority": 0,
    "min_turns": 1,
    "max_turns": 4,
    "max_tokens": 2048,
    "replications": 1,
    "lease_minutes": 30,
    "approvals_needed": 1,
    "rubric": "helpfulness",
}


def test_a_long_project_name_gets_a_slug_that_fits_from_the_api(client, admin_user):
    assert 80 < len(LONG_NAME.strip()) <= 200
    client.force_login(admin_user)
    response = client.post("/api/projects/", {"name": LONG_NAME}, content_type="application/json")
    assert response.status_code == 201, response.content
    slug = response.json()["slug"]
    assert len(slug) <= 80 and not slug.endswith("-")
    assert slug.startswith("a-very-thorough-campaign-about-numerical-linear-algebra")
    assert Project.objects.get(slug=slug).name == LONG_NAME.strip()

    response = client.post("/api/projects/", {"name": "x" * 201}, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name"}


def test_a_long_project_name_gets_a_slug_that_fits_from_the_form(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("labeling:project-create"), {**PROJECT_FORM, "name": "z" * 200, "slug": ""}
    )
    assert response.status_code == 302
    assert Project.objects.get().slug == "z" * 80


def test_long_emails_and_domain_names_are_clear_errors_or_fit(client, admin_user):
    client.force_login(admin_user)
    too_long_email = "a" * 250 + "@example.com"
    response = client.post(
        "/api/members/",
        {"username": "mia", "email": too_long_email, "roles": ["labeler"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email"}

    domain_name = "Computational fluid dynamics " * 4  # 116 characters: the slug is cut
    response = client.post(
        "/api/members/",
        {"username": "mia", "roles": ["labeler"], "labeler_domains": [domain_name]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    slug = response.json()["labeler_domains"][0]
    assert len(slug) <= 64 and slug.startswith("computational-fluid-dynamics")

    response = client.post(reverse("labeling:domain-create"), {"name": "Quantum chemistry " * 6})
    assert response.status_code == 302
    assert Domain.objects.filter(slug__startswith="quantum-chemistry").exists()

    response = client.post(
        reverse("labeling:people"), {"username": "noah", "email": too_long_email, "roles": []}
    )
    assert response.status_code == 200 and "email" in response.content.decode().lower()
    assert not User.objects.filter(username="noah").exists()
