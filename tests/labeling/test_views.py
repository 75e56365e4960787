import json
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation
from conversations.services import next_task, task_skip
from labeling.models import Assignment, GuidelineVersion, ImportBatch, Project, ProjectStatus
from labeling.services import guidelines_save, prompts_import_execute
from tests.factories import ProjectFactory, PromptFactory, UserFactory, prompts_imported

pytestmark = pytest.mark.django_db


def _client(client, user):
    client.force_login(user)
    return client


def test_next_task_button_leads_to_the_editor(client, labeler):
    PromptFactory(text="What is a generator?")
    response = _client(client, labeler).post(reverse("conversations:task-next"))
    conversation = Conversation.objects.get(labeler=labeler)
    assert response.status_code == 302
    assert response["Location"] == reverse("conversations:editor", args=[conversation.pk])


def test_next_task_over_htmx_redirects_the_page(client, labeler):
    PromptFactory()
    response = _client(client, labeler).post(
        reverse("conversations:task-next"), HTTP_HX_REQUEST="true"
    )
    conversation = Conversation.objects.get(labeler=labeler)
    assert response["HX-Redirect"] == reverse("conversations:editor", args=[conversation.pk])


def test_no_task_is_a_friendly_specific_message_in_the_fragment(client, labeler):
    PromptFactory(project=ProjectFactory(status=ProjectStatus.PAUSED))
    response = _client(client, labeler).post(
        reverse("conversations:task-next"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="next-task"
    )
    body = response.content.decode()
    assert "<html" not in body
    assert 'data-reason="project_paused"' in body
    assert "paused" in body


def test_labeler_home_lists_active_tasks_with_time_left_and_counts(client, labeler):
    project = ProjectFactory(name="Python answers")
    PromptFactory(project=project, text="Explain list comprehensions")
    next_task(labeler)
    response = _client(client, labeler).get(reverse("conversations:labeler-home"))
    body = response.content.decode()
    assert "Explain list comprehensions" in body
    assert "left</time>" in body
    assert "Continue" in body
    assert "waiting for review" in body


def test_lease_time_is_rendered_for_people_without_script_and_seeds_the_countdown(client, labeler):
    project = ProjectFactory(lease_minutes=90)
    PromptFactory(project=project)
    next_task(labeler)
    body = _client(client, labeler).get(reverse("conversations:labeler-home")).content.decode()
    seconds = int(re.search(r'data-lease-seconds="(\d+)"', body).group(1))
    assert 90 * 60 - 5 <= seconds <= 90 * 60
    assert re.search(
        r">1\xa0hour, 29\xa0minutes left</time>|>1\xa0hour, 30\xa0minutes left</time>", body
    )
    assert "js/labeling.js" in body


def test_labeler_home_shows_guidelines_changed_notice(client, labeler, admin_user):
    project = ProjectFactory()
    PromptFactory(project=project)
    guidelines_save(project=project, body="v1", user=admin_user)
    next_task(labeler)
    home = reverse("conversations:labeler-home")
    assert "Guidelines changed" in _client(client, labeler).get(home).content.decode()
    client.get(reverse("labeling:guidelines", args=[project.slug]))
    assert "Guidelines changed" not in client.get(home).content.decode()
    guidelines_save(project=project, body="v2", user=admin_user)
    assert "Guidelines changed" in client.get(home).content.decode()


def test_skip_from_home_and_someone_elses_task_is_404(client, labeler):
    PromptFactory()
    lease = next_task(labeler).assignment
    other = UserFactory(labeler_domains=["python"])
    url = reverse("conversations:task-skip", args=[lease.pk])
    assert _client(client, other).post(url, {"reason": "x"}).status_code == 404
    client.force_login(labeler)
    response = client.post(url, {"reason": "Off topic"}, HTTP_HX_REQUEST="true")
    assert "<html" not in response.content.decode()
    lease.refresh_from_db()
    assert (lease.status, lease.skip_reason) == (Assignment.Status.SKIPPED, "Off topic")


def test_labeler_home_queries_are_bounded(client, labeler, django_assert_max_num_queries):
    for _ in range(8):
        PromptFactory()
    for _ in range(3):
        next_task(labeler)
        Assignment.objects.filter(labeler=labeler, status="leased").update(status="submitted")
    next_task(labeler)
    _client(client, labeler)
    with django_assert_max_num_queries(16):
        assert client.get(reverse("conversations:labeler-home")).status_code == 200


def _fill_project(size: int) -> Project:
    project = ProjectFactory(replications=2, domains=["python", "biology"])
    prompts = prompts_imported(
        project,
        (
            {"prompt": f"Question {i}?", "domain": "python" if i % 2 else "biology"}
            for i in range(size)
        ),
    )
    labelers = [UserFactory(labeler_domains=["python", "biology"]) for _ in range(3)]
    for labeler in labelers:
        next_task(labeler)
    task_skip(
        user=labelers[0],
        assignment_id=labelers[0].assignments.get().pk,
        reason="Needs a chemist",
    )
    ImportBatch.objects.create(project=project, status="failed", file_name="a.jsonl", errors=["x"])
    assert len(prompts) == size
    return project


@pytest.mark.parametrize("size", [10, 1000])
def test_admin_project_page_is_bounded_whatever_the_size(
    client, admin_user, django_assert_max_num_queries, size
):
    project = _fill_project(size)
    _client(client, admin_user)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("conversations:project-detail", args=[project.slug]))
    body = response.content.decode()
    assert "Needs a chemist" in body
    assert "a.jsonl" in body
    assert f'<td class="num"><strong>{size}</strong></td>' in body


def test_only_admins_reach_project_pages(client, labeler):
    project = ProjectFactory()
    _client(client, labeler)
    for name in ("conversations:project-list", "labeling:project-create"):
        assert client.get(reverse(name)).status_code == 403
    for name in ("conversations:project-detail", "labeling:project-edit", "labeling:prompt-upload"):
        assert client.get(reverse(name, args=[project.slug])).status_code == 403


def test_admin_creates_and_edits_a_project_with_rules_and_guidelines(client, admin_user):
    _client(client, admin_user)
    response = client.post(
        reverse("labeling:project-create"),
        {
            "name": "Law answers",
            "slug": "",
            "status": "active",
            "priority": 3,
            "min_turns": 1,
            "max_turns": 4,
            "max_tokens": 2048,
            "replications": 2,
            "lease_minutes": 30,
            "approvals_needed": 2,
            "rubric": "accuracy, citations,\nplain_language",
            "guidelines": "# Be precise",
        },
    )
    project = Project.objects.get(slug="law-answers")
    assert response["Location"] == reverse("conversations:project-detail", args=["law-answers"])
    assert (project.replications, project.lease_minutes, project.approvals_needed) == (2, 30, 2)
    assert [c["name"] for c in project.rubric] == ["accuracy", "citations", "plain_language"]
    assert project.rubric[2]["label"] == "Plain language"
    assert project.guideline_versions.get().version == 1

    client.post(
        reverse("labeling:project-guidelines-save", args=[project.slug]), {"body": "# Be exact"}
    )
    assert list(
        GuidelineVersion.objects.filter(project=project).values_list("version", flat=True)
    ) == [2, 1]

    bad = client.post(
        reverse("labeling:project-edit", args=[project.slug]),
        {
            "name": "Law answers",
            "slug": "law-answers",
            "status": "paused",
            "priority": 3,
            "min_turns": 5,
            "max_turns": 2,
            "max_tokens": 2048,
            "replications": 2,
            "lease_minutes": 30,
            "approvals_needed": 1,
            "rubric": "accuracy",
        },
    )
    assert "must be at least min_turns" in bad.content.decode()
    project.refresh_from_db()
    assert project.status == ProjectStatus.ACTIVE


def test_guidelines_page_renders_sanitized_markdown(client, labeler, admin_user):
    project = ProjectFactory()
    guidelines_save(project=project, body="**Bold** <script>alert(1)</script>", user=admin_user)
    body = (
        _client(client, labeler)
        .get(reverse("labeling:guidelines", args=[project.slug]))
        .content.decode()
    )
    assert "<strong>Bold</strong>" in body
    assert "<script>alert(1)" not in body


def test_guidelines_of_a_project_outside_your_domains_is_404(client, labeler):
    project = ProjectFactory(domains=["law"])
    response = _client(client, labeler).get(reverse("labeling:guidelines", args=[project.slug]))
    assert response.status_code == 404


def test_upload_previews_then_confirm_imports(client, admin_user):
    project = ProjectFactory()
    lines = "".join(json.dumps({"prompt": f"Question {i}?"}) + "\n" for i in range(12))
    _client(client, admin_user)
    response = client.post(
        reverse("labeling:prompt-upload", args=[project.slug]),
        {"file": SimpleUploadedFile("q.jsonl", lines.encode()), "on_duplicate": "skip"},
    )
    body = response.content.decode()
    assert "Question 0?" in body and "Question 9?" in body and "Question 10?" not in body
    assert "Import 12 prompts" in body
    assert not project.prompts.exists(), "nothing is saved before confirming"
    token = response.context["token"]

    confirm = client.post(
        reverse("labeling:prompt-import-confirm", args=[project.slug]), {"token": token}
    )
    batch = ImportBatch.objects.get(project=project)
    assert confirm["Location"] == reverse("labeling:import-batch", args=[project.slug, batch.pk])
    assert (batch.status, batch.rows_total) == ("queued", 12)
    assert not project.prompts.exists(), "a worker imports it, not the request"
    again = client.post(
        reverse("labeling:prompt-import-confirm", args=[project.slug]), {"token": token}
    )
    assert again["Location"] == reverse("labeling:prompt-upload", args=[project.slug])
    assert ImportBatch.objects.filter(project=project).count() == 1, "one confirm, one batch"

    prompts_import_execute(batch_id=batch.pk)
    assert project.prompts.count() == 12


def test_upload_with_errors_shows_them_and_offers_no_confirm(client, admin_user):
    project = ProjectFactory()
    content = b'"fine"\n{"prompt": "x", "domain": "chemistry"}\n'
    response = _client(client, admin_user).post(
        reverse("labeling:prompt-upload", args=[project.slug]),
        {"file": SimpleUploadedFile("q.jsonl", content), "on_duplicate": "skip"},
    )
    body = response.content.decode()
    assert "line 2: field &quot;domain&quot;: unknown domain &quot;chemistry&quot;" in body
    assert "prompt-import-confirm" not in body.replace("labeling:prompt-import-confirm", "")
    assert "Import 1 prompt" not in body


def test_upload_over_the_limit_says_so(client, admin_user, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    project = ProjectFactory()
    response = _client(client, admin_user).post(
        reverse("labeling:prompt-upload", args=[project.slug]),
        {"file": SimpleUploadedFile("big.jsonl", b'"x"\n' * 600), "on_duplicate": "skip"},
    )
    assert "the upload limit of 1000" in response.content.decode()
    assert not project.prompts.exists()


def test_expired_lease_is_not_listed_as_active(client, labeler):
    PromptFactory()
    lease = next_task(labeler).assignment
    Assignment.objects.filter(pk=lease.pk).update(lease_expires_at=timezone.now() - timedelta(1))
    body = _client(client, labeler).get(reverse("conversations:labeler-home")).content.decode()
    assert "No active task" in body


def test_labeler_home_shows_review_outcomes_with_comments(client):
    from conversations.services import review_submit
    from tests.conversations.factories import reviewer_factory, submitted_conversation

    conversation = submitted_conversation(text="How do I reverse a list?")
    reviewer = reviewer_factory()
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        decision="request_changes",
        comment="Mention reversed() as well.",
        message_comments=[{"position": 1, "text": "Too short"}],
    )
    client.force_login(conversation.labeler)
    page = client.get(reverse("conversations:labeler-home")).content.decode()
    section = page[page.index("Review outcomes") :]
    assert "How do I reverse a list?" in section
    assert "Request changes" in section
    assert "Mention reversed() as well." in section
    assert "1 comment on messages" in section
    assert reverse("conversations:review-feedback", args=[conversation.pk]) in section
