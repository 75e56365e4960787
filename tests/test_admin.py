"""The Django admin shows the workflow's rows but never writes them: every change goes
through the services that keep revisions, versions, reviews and the audit trail."""

import pytest
from django.contrib import admin
from django.urls import reverse

from conversations.models import ConversationState
from exports.models import ExportJob
from labeling.models import Assignment
from tests.conversations.factories import started_conversation, write_answer

pytestmark = pytest.mark.django_db

# Every model whose rows a service owns; the admin may only look at them.
SERVICE_OWNED = {
    "labeling.project",
    "labeling.prompt",
    "labeling.assignment",
    "labeling.guidelineversion",
    "labeling.importbatch",
    "conversations.conversation",
    "conversations.revision",
    "conversations.review",
    "conversations.notification",
    "exports.exportjob",
}

# Rows no service owns: people (roles and domains, as the People page sets them) and domains.
EDITABLE = {"labeling.user", "labeling.domain"}
OUR_APPS = {"labeling", "conversations", "exports", "operations", "structured_turns", "core"}


def test_every_model_of_ours_in_the_admin_is_either_view_only_or_named_editable():
    registered = {
        model._meta.label_lower
        for model in admin.site._registry
        if model._meta.app_label in OUR_APPS
    }
    assert registered - SERVICE_OWNED - EDITABLE == set(), (
        "a new admin page: make it view-only (labeling.admin.ReadOnlyModelAdmin) and add it "
        "to SERVICE_OWNED, or, if no service owns its rows, to EDITABLE"
    )


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-12345678")


def test_service_owned_models_are_view_only_even_for_a_superuser(rf, superuser):
    request = rf.get("/admin/")
    request.user = superuser
    registered = {
        model._meta.label_lower: model_admin for model, model_admin in admin.site._registry.items()
    }
    assert set(registered) >= SERVICE_OWNED
    for label in sorted(SERVICE_OWNED):
        model_admin = registered[label]
        assert model_admin.has_view_permission(request), label
        assert not model_admin.has_add_permission(request), label
        assert not model_admin.has_change_permission(request), label
        assert not model_admin.has_delete_permission(request), label
        for inline in model_admin.get_inline_instances(request):
            assert not inline.has_change_permission(request), f"{label} inline"


def test_admin_cannot_approve_a_conversation_or_rewrite_its_messages(client, superuser):
    conversation = started_conversation()
    write_answer(conversation, "Use reversed().")
    message = conversation.messages.get(role="assistant")
    client.force_login(superuser)
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # shown, with no save button

    response = client.post(
        url,
        {
            "state": ConversationState.APPROVED,
            "version": conversation.version,
            "messages-TOTAL_FORMS": "2",
            "messages-INITIAL_FORMS": "2",
            "messages-0-id": str(message.pk),
            "messages-0-content": "Rewritten by the admin",
        },
    )
    assert response.status_code == 403
    conversation.refresh_from_db()
    message.refresh_from_db()
    assert conversation.state == ConversationState.DRAFT
    assert message.content == "Use reversed()."
    assert (
        client.post(
            reverse("admin:conversations_conversation_delete", args=[conversation.pk]),
            {"post": "yes"},
        ).status_code
        == 403
    )
    assert conversation.__class__.objects.filter(pk=conversation.pk).exists()


def test_admin_cannot_change_an_assignment_or_an_export_job(client, superuser, admin_user):
    conversation = started_conversation()
    assignment = Assignment.objects.get(pk=conversation.assignment_id)
    job = ExportJob.objects.create(created_by=admin_user)
    client.force_login(superuser)

    response = client.post(
        reverse("admin:labeling_assignment_change", args=[assignment.pk]), {"status": "submitted"}
    )
    assert response.status_code == 403
    response = client.post(
        reverse("admin:exports_exportjob_change", args=[job.pk]), {"status": "succeeded"}
    )
    assert response.status_code == 403
    assignment.refresh_from_db()
    job.refresh_from_db()
    assert assignment.status == "leased"
    assert job.status == "queued"
