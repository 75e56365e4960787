"""The labeler's home: active leases, drafts, returned and recent work, counts."""

from typing import Any

from django.db.models import Count, Max
from django.utils import timezone

from conversations.models import Conversation, ConversationState
from conversations.selectors.projects import CONVERSATION_STATES
from conversations.selectors.review import review_outcomes_for_labeler
from labeling.models import Assignment, GuidelineRead, GuidelineVersion, User

# Work the labeler has handed in (whatever the review said).
WRITTEN_STATES = (
    ConversationState.SUBMITTED,
    ConversationState.APPROVED,
    ConversationState.REJECTED,
)


def labeler_home(user: User) -> dict[str, Any]:
    """Everything on a labeler's home page in a fixed number of queries."""
    now = timezone.now()
    mine = Conversation.objects.filter(labeler=user).select_related("project", "prompt")
    counts = dict(
        Conversation.objects.filter(labeler=user)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    active = list(
        Assignment.objects.filter(
            labeler=user, status=Assignment.Status.LEASED, lease_expires_at__gt=now
        )
        .select_related("project", "prompt", "conversation")
        .order_by("lease_expires_at")
    )
    active_ids = [a.pk for a in active]
    drafts = list(
        mine.filter(state=ConversationState.DRAFT)
        .exclude(assignment_id__in=active_ids)
        .order_by("-updated_at")[:20]
    )
    returned = list(
        mine.filter(state=ConversationState.CHANGES_REQUESTED).order_by("-updated_at")[:20]
    )
    abandoned = list(mine.filter(state=ConversationState.ABANDONED).order_by("-updated_at")[:20])
    recent = list(mine.filter(state__in=WRITTEN_STATES).order_by("-submitted_at", "-id")[:10])
    # Guidelines notices for the projects the person is working in right now.
    project_ids = {a.project_id for a in active} | {c.project_id for c in returned}
    current = dict(
        GuidelineVersion.objects.filter(project_id__in=project_ids)
        .values_list("project_id")
        .annotate(top=Max("version"))
        .order_by()
    )
    read = dict(
        GuidelineRead.objects.filter(user=user, project_id__in=project_ids).values_list(
            "project_id", "version"
        )
    )
    changed = [pid for pid, version in current.items() if read.get(pid) != version]
    for assignment in active:
        # Attributes for the home page's template, not model fields.
        assignment.guidelines_changed = assignment.project_id in changed  # type: ignore[attr-defined]
        assignment.conversation_id_or_none = getattr(  # type: ignore[attr-defined]
            getattr(assignment, "conversation", None), "pk", None
        )
    return {
        "active": active,
        "drafts": drafts,
        "returned": returned,
        "abandoned": abandoned,
        "recent": recent,
        "reviewed": review_outcomes_for_labeler(user, limit=10),
        "counts": {state: counts.get(state, 0) for state in CONVERSATION_STATES},
        "written": sum(counts.get(s, 0) for s in WRITTEN_STATES),
        "skipped": Assignment.objects.filter(
            labeler=user, status=Assignment.Status.SKIPPED
        ).count(),
    }
