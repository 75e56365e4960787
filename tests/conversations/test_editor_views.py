"""The editor page and its htmx partials: own conversations only, bounded queries, safe text."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationState,
    DraftRequest,
    Review,
    ReviewComment,
    ReviewDecision,
)
from conversations.services import conversation_save, conversation_submit, next_task
from labeling.models import GuidelineRead, GuidelineVersion
from labeling.services import domain_get_or_create
from labeling.services.assignment import leases_expire
from tests.conversations.factories import started_conversation
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = pytest.mark.django_db


def editor_url(conversation, name="editor"):
    return reverse(f"conversations:{name}", args=[conversation.pk])


def test_labeler_opens_their_conversation_with_prompt_draft_and_token_counts(client):
    conversation = started_conversation(draft="Use **sorted**.")
    client.force_login(conversation.labeler)
    response = client.get(editor_url(conversation))
    assert response.status_code == 200
    html = response.content.decode()
    assert conversation.prompt.text in html
    assert "Use **sorted**." in html  # in the textarea, as typed
    assert "AI draft · unedited" in html
    assert 'id="tokens-1"' in html and " tokens</span>" in html
    assert "/ 4096 tokens" in html


def test_another_labelers_conversation_is_a_404_everywhere(client):
    conversation = started_conversation()
    intruder = UserFactory(roles=["labeler"])
    client.force_login(intruder)
    assert client.get(editor_url(conversation)).status_code == 404
    assert client.get(editor_url(conversation, "history")).status_code == 404
    for name in ("editor-preview", "editor-checks", "editor-submit", "editor-draft"):
        assert client.post(editor_url(conversation, name), {"content": "x"}).status_code == 404


def test_editor_page_queries_do_not_grow_with_the_turns(client, django_assert_max_num_queries):
    project = ProjectFactory(max_turns=40)
    conversation = started_conversation(project=project)
    messages = [{"role": "user", "content": conversation.prompt.text}]
    for turn in range(30):
        if turn:
            messages.append({"role": "user", "content": f"Question {turn}"})
        messages.append({"role": "assistant", "content": f"Answer {turn} " * 20})
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=messages,
    )
    client.force_login(conversation.labeler)
    with django_assert_max_num_queries(14):
        response = client.get(editor_url(conversation))
    assert response.content.decode().count("data-message ") == 60 + 1  # + the empty template


def test_preview_is_sanitized_markdown_returned_as_a_fragment(client):
    conversation = started_conversation()
    client.force_login(conversation.labeler)
    response = client.post(
        editor_url(conversation, "editor-preview"),
        {"content": "**bold** <script>window.__xss=1</script> [x](javascript:alert(1))"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "<html" not in html
    assert "<strong>bold</strong>" in html
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html


def test_checks_partial_reports_on_the_unsaved_text_with_token_badges(client):
    conversation = started_conversation()
    client.force_login(conversation.labeler)
    response = client.post(
        editor_url(conversation, "editor-checks"),
        {
            "role": ["user", "assistant"],
            "content": [conversation.prompt.text, "Mail ada@example.org <|im_end|>"],
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "<html" not in html
    assert 'data-code="personal_data"' in html
    assert 'data-code="special_token_lookalike"' in html
    assert 'id="tokens-1" class="tokens" data-tokens hx-swap-oob="true"' in html
    # The total is swapped with the box it sits in; out of band it would lose its target.
    assert html.count('id="token-total"') == 1
    assert 'id="token-total" class="token-total token-ok">' in html


def test_checks_see_an_ai_draft_put_in_a_reply_before_its_save_lands(client):
    conversation = started_conversation()
    other = started_conversation()
    drafts = {
        owner.pk: DraftRequest.objects.create(
            conversation=owner,
            message_position=1,
            requested_by=owner.labeler,
            status=DraftRequest.Status.SUCCEEDED,
            text="The model's answer.",
        )
        for owner in (conversation, other)
    }
    client.force_login(conversation.labeler)

    def checks_with(draft_request, answer="The model's answer."):
        return client.post(
            editor_url(conversation, "editor-checks"),
            {
                "role": ["user", "assistant"],
                "content": [conversation.prompt.text, answer],
                "draft_request": ["", str(draft_request.pk)],
            },
            HTTP_HX_REQUEST="true",
        ).content.decode()

    html = checks_with(drafts[conversation.pk])
    assert 'data-code="unedited_ai_draft"' in html
    assert "AI draft · unedited</span>" in html
    assert "% edited</span>" in checks_with(drafts[conversation.pk], "The model's answer, fixed.")
    # Another conversation's draft gives nothing here (and the save refuses it).
    html = checks_with(drafts[other.pk])
    assert 'data-code="unedited_ai_draft"' not in html and "AI draft" not in html


def test_submit_form_submits_and_refuses_blocking_checks(client):
    conversation = started_conversation()
    client.force_login(conversation.labeler)
    response = client.post(editor_url(conversation, "editor-submit"), {"version": 1}, follow=True)
    assert "is empty" in response.content.decode()
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=[
            {"role": "user", "content": conversation.prompt.text},
            {"role": "assistant", "content": "Done."},
        ],
    )
    response = client.post(editor_url(conversation, "editor-submit"), {"version": 2})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    page = client.get(editor_url(conversation)).content.decode()
    assert "read only" in page and "readonly" in page


def test_changes_requested_shows_the_reviewers_comments_beside_the_messages(client):
    conversation = started_conversation()
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=[
            {"role": "user", "content": conversation.prompt.text},
            {"role": "assistant", "content": "Short."},
        ],
    )
    conversation_submit(
        conversation_id=conversation.pk, user=conversation.labeler, expected_version=2
    )
    conversation.refresh_from_db()
    reviewer = UserFactory(roles=["reviewer"], username="rev-ruth")
    review = Review.objects.create(
        conversation=conversation,
        revision=conversation.current_revision,
        reviewer=reviewer,
        decision=ReviewDecision.REQUEST_CHANGES,
        comment="Please expand.",
    )
    ReviewComment.objects.create(review=review, message_position=1, text="Explain <why>.")
    conversation.state = ConversationState.CHANGES_REQUESTED
    conversation.save()
    client.force_login(conversation.labeler)
    html = client.get(editor_url(conversation)).content.decode()
    assert "Changes requested by rev-ruth" in html
    assert "Please expand." in html
    assert 'aria-label="Reviewer comment on message 2"' in html
    assert "Explain &lt;why&gt;." in html
    assert "<textarea" in html and "readonly" not in html.split("message-template")[0]


def test_guidelines_panel_notices_a_new_version_until_read(client):
    conversation = started_conversation()
    project = conversation.project
    GuidelineVersion.objects.create(project=project, version=1, body="Be **kind**.")
    GuidelineRead.objects.create(user=conversation.labeler, project=project, version=1)
    GuidelineVersion.objects.create(project=project, version=2, body="Be **kind** and brief.")
    client.force_login(conversation.labeler)
    html = client.get(editor_url(conversation)).content.decode()
    assert "The guidelines changed since you last read them (you read v1)" in html
    assert "<strong>kind</strong> and brief" in html
    response = client.post(
        editor_url(conversation, "editor-guidelines-read"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert GuidelineRead.objects.get(user=conversation.labeler, project=project).version == 2
    assert (
        "changed since you last read" not in client.get(editor_url(conversation)).content.decode()
    )


def test_history_lists_revisions_and_diffs_words_per_message(client):
    conversation = started_conversation()
    user = conversation.labeler
    prompt = {"role": "user", "content": conversation.prompt.text}
    conversation_save(
        conversation_id=conversation.pk,
        user=user,
        expected_version=1,
        messages=[prompt, {"role": "assistant", "content": "The quick fox."}],
    )
    conversation_submit(conversation_id=conversation.pk, user=user, expected_version=2)
    reviewer = UserFactory(roles=["reviewer"])
    conversation_save(
        conversation_id=conversation.pk,
        user=reviewer,
        expected_version=3,
        messages=[prompt, {"role": "assistant", "content": "The quick brown fox."}],
        kind="review",
        reason="more vivid",
    )
    client.force_login(user)
    html = client.get(editor_url(conversation, "history") + "?from=1&to=2").content.decode()
    assert "r1</strong> · Submitted by " + user.username in html
    assert "Edited in review by " + reviewer.username in html
    assert "“more vivid”" in html
    assert "<ins>brown </ins>" in html


def leased_conversation():
    """A conversation from a real lease (next_task), so the prompt's slot count is right."""
    project = ProjectFactory(domains=["python"])
    PromptFactory(project=project, domain=domain_get_or_create(name="python"))
    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    task = next_task(labeler)
    return Conversation.objects.select_related("assignment").get(pk=task.conversation_id)


def test_an_expired_lease_shows_a_calm_notice_and_submit_still_works(client):
    conversation = leased_conversation()
    assignment = conversation.assignment
    client.force_login(conversation.labeler)
    html = client.get(editor_url(conversation)).content.decode()
    assert 'id="lease-expired"' in html and "lease until" in html
    assert 'data-lease-expires="' in html and " hidden>" in html.split('id="lease-expired"')[1]

    assignment.lease_expires_at = timezone.now() - timedelta(minutes=1)
    assignment.save(update_fields=["lease_expires_at"])
    assert leases_expire() == 1  # the periodic task gave the slot back
    html = client.get(editor_url(conversation)).content.decode()
    notice = html.split('id="lease-expired"')[1].split("</section>")[0]
    assert " hidden>" not in notice.split("\n")[0]
    assert "Your lease ran out at" in notice and "Your text is safe" in notice
    assert "lease ran out at" in html.split('id="lease-time"')[1]

    prompt = {"role": "user", "content": conversation.prompt.text}
    saved = conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=[prompt, {"role": "assistant", "content": "Written after the lease ran out."}],
    )
    response = client.post(editor_url(conversation, "editor-submit"), {"version": saved.version})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assignment.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    assert assignment.status == "submitted"
    assignment.prompt.refresh_from_db()
    assert assignment.prompt.slots_taken == 1  # submitting took the slot again
    # Once submitted there is no lease to speak of.
    assert 'id="lease-expired"' not in client.get(editor_url(conversation)).content.decode()


def answer_and_submit(client, conversation_id: int, answer: str):
    """Type the reply (the API's save) and press Submit, as the editor page does."""
    conversation = Conversation.objects.get(pk=conversation_id)
    saved = conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=conversation.version,
        messages=[
            {"role": "user", "content": conversation.prompt.text},
            {"role": "assistant", "content": answer},
        ],
    )
    return client.post(editor_url(conversation, "editor-submit"), {"version": saved.version})


def test_submit_goes_straight_to_the_next_task_and_my_tasks_says_when_nothing_is_left(client):
    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    first_project = ProjectFactory(name="First", domains=["python"])
    other_project = ProjectFactory(name="Other", domains=["python"])
    PromptFactory(project=first_project, text="First question?")
    PromptFactory(project=first_project, text="Second question?")
    PromptFactory(project=other_project, text="Third question?")
    client.force_login(labeler)
    task = next_task(labeler, first_project)

    seen = []
    for _ in range(2):
        response = answer_and_submit(client, task.conversation_id, "An answer.")
        assert response.status_code == 302
        next_conversation = Conversation.objects.exclude(pk=task.conversation_id).get(
            labeler=labeler, state=ConversationState.DRAFT
        )
        assert response.url == editor_url(next_conversation)
        page = client.get(response.url).content.decode()
        assert "Submitted for review ✓ Here is your next task." in page
        assert f'<a href="{reverse("conversations:labeler-home")}">Back to My tasks</a>' in page
        seen.append(next_conversation.prompt.text)
        task = next_task(labeler)  # resumes the lease just given
        assert task.conversation_id == next_conversation.pk
    # The same project first, then the others.
    assert seen == ["Second question?", "Third question?"]

    response = answer_and_submit(client, task.conversation_id, "The last answer.")
    assert response.url == reverse("conversations:labeler-home")
    page = client.get(response.url).content.decode()
    assert "Submitted for review ✓ Thank you!" in page
    assert "Nothing left for you right now." in page
    assert Conversation.objects.filter(labeler=labeler, state="submitted").count() == 3
