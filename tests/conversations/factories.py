"""Conversations made the way people make them: lease, start, write, submit, through services."""

from django.db.models import F
from django.utils import timezone

from conversations.models import Conversation, Message, MessageOrigin, MessageRole
from conversations.services import conversation_start, conversation_submit
from conversations.services.ranking import ranking_save, ranking_start, ranking_submit
from labeling.models import Assignment, Candidate, ProjectKind, Prompt
from labeling.services import domain_get_or_create
from tests.labeling.factories import ProjectFactory, PromptFactory, UserFactory


def started_conversation(
    *, project=None, labeler=None, domain: str | None = "python", draft: str = "", text=None
) -> Conversation:
    project = project or ProjectFactory(domains=[domain] if domain else [])
    labeler = labeler or UserFactory(roles=["labeler"], labeler_domains=[domain] if domain else [])
    prompt_kwargs = {"project": project, "draft": draft}
    if domain:
        prompt_kwargs["domain"] = domain_get_or_create(name=domain)
    if text:
        prompt_kwargs["text"] = text
    prompt = PromptFactory(**prompt_kwargs)
    assignment = Assignment.objects.create(
        prompt=prompt,
        project=project,
        labeler=labeler,
        lease_expires_at=timezone.now() + project.lease_length,
    )
    return conversation_start(assignment=assignment)


def write_answer(conversation: Conversation, answer: str, position: int | None = None) -> None:
    """What the labeler types into the assistant message (the last one unless `position`)."""
    messages = conversation.messages.filter(role=MessageRole.ASSISTANT).order_by("position")
    message = messages.get(position=position) if position is not None else messages.last()
    message.content = answer
    if message.model_original:
        message.origin = (
            MessageOrigin.MODEL if answer == message.model_original else MessageOrigin.MODEL_EDITED
        )
    message.save()


def add_turn(conversation: Conversation, question: str, answer: str) -> None:
    last = conversation.messages.order_by("-position").first().position
    Message.objects.create(
        conversation=conversation, position=last + 1, role=MessageRole.USER, content=question
    )
    Message.objects.create(
        conversation=conversation, position=last + 2, role=MessageRole.ASSISTANT, content=answer
    )


def submit(conversation: Conversation) -> Conversation:
    conversation.refresh_from_db()
    return conversation_submit(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=conversation.version,
    )


def submitted_conversation(
    *,
    project=None,
    labeler=None,
    domain: str | None = "python",
    draft: str = "",
    answer: str = "Use a list comprehension: `[x * 2 for x in xs]`.",
    text=None,
) -> Conversation:
    conversation = started_conversation(
        project=project, labeler=labeler, domain=domain, draft=draft, text=text
    )
    write_answer(conversation, answer)
    return submit(conversation)


def reviewer_factory(name: str | None = None, domains=("python",), roles=("reviewer",)):
    kwargs = {"roles": list(roles), "reviewer_domains": list(domains)}
    if "labeler" in roles:
        kwargs["labeler_domains"] = list(domains)
    if name:
        kwargs["username"] = name
    return UserFactory(**kwargs)


# Rankings (design.md contract 7) ------------------------------------------------------

CANDIDATE_TEXTS = (
    "Use `sorted(xs)`: it returns a new list.",
    "Call `xs.sort()`, which sorts in place.",
    "Write a bubble sort by hand.",
    "Sorting is not possible in Python.",
)


def ranking_project(**kwargs):
    kwargs.setdefault("domains", ["python"])
    return ProjectFactory(kind=ProjectKind.RANKING, **kwargs)


def ranking_prompt(project, texts=CANDIDATE_TEXTS, text=None):
    prompt_kwargs = {"project": project, "domain": domain_get_or_create(name="python")}
    if text:
        prompt_kwargs["text"] = text
    prompt = PromptFactory(**prompt_kwargs)
    for position, content in enumerate(texts):
        Candidate.objects.create(
            prompt=prompt, position=position, content=content, model=f"model-{position}"
        )
    return prompt


def started_ranking(*, project=None, labeler=None, prompt=None) -> Conversation:
    """A ranking task as `next_task` starts it: the lease, the conversation, the shuffle."""
    project = project or (prompt.project if prompt else ranking_project())
    prompt = prompt or ranking_prompt(project)
    labeler = labeler or UserFactory(roles=["labeler"], labeler_domains=["python"])
    assignment = Assignment.objects.create(
        prompt=prompt,
        project=project,
        labeler=labeler,
        lease_expires_at=timezone.now() + project.lease_length,
    )
    # The slot the assignment service would have taken with the lease.
    Prompt.objects.filter(pk=prompt.pk).update(slots_taken=F("slots_taken") + 1)
    return ranking_start(assignment=assignment)


def candidate_ids(conversation: Conversation) -> list[int]:
    return list(conversation.prompt.candidates.order_by("position").values_list("pk", flat=True))


def submitted_ranking(*, order=None, better_reply="", **kwargs) -> Conversation:
    """A ranking submitted by its labeler; `order` defaults to the import order, strict."""
    conversation = started_ranking(**kwargs)
    order = order or [[pk] for pk in candidate_ids(conversation)]
    ranking_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=conversation.version,
        order=order,
        better_reply=better_reply,
    )
    ranking_submit(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=conversation.version + 1,
    )
    conversation.refresh_from_db()
    return conversation
