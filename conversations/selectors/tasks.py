"""The labeler's home: active leases, drafts, returned and recent work, counts."""

from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from conversations.models import Conversation, ConversationState
from conversations.selectors.projects import CONVERSATION_STATES
from conversations.selectors.review import review_outcomes_for_labeler
from core.keyset import KeysetPanels, keyset_panel_error
from labeling.models import Assignment, GuidelineRead, GuidelineVersion, User

# Work the labeler has handed in (whatever the review said).
WRITTEN_STATES = (
    ConversationState.SUBMITTED,
    ConversationState.APPROVED,
    ConversationState.REJECTED,
)

# The home's paged lists of conversations: each pages by its own `<name>_cursor` parameter.
HOME_LISTS = ("drafts", "returned", "abandoned", "recent")


def labeler_home(user: User, *, cursors: Mapping[str, str]) -> dict[str, Any]:
    """Everything on a labeler's home page in a fixed number of queries; drafts, returned,
    abandoned and recent work are keyset pages at their own cursors in `cursors` (the
    page's query parameters; see `_home_lists`)."""
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
    lists = _home_lists(mine, cursors=cursors, active_ids=active_ids)
    # Guidelines notices for the projects the person is working in right now.
    project_ids = {a.project_id for a in active} | {c.project_id for c in lists["returned"]}
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
        **lists,
        "reviewed": review_outcomes_for_labeler(user, limit=10),
        "counts": {state: counts.get(state, 0) for state in CONVERSATION_STATES},
        "written": sum(counts.get(s, 0) for s in WRITTEN_STATES),
        "skipped": Assignment.objects.filter(
            labeler=user, status=Assignment.Status.SKIPPED
        ).count(),
    }


def _home_lists(
    mine: QuerySet[Conversation], *, cursors: Mapping[str, str], active_ids: list[int]
) -> dict[str, Any]:
    """The labeler's drafts (other than their active tasks'), work returned for changes,
    abandoned drafts and submissions, latest first, each a `KeysetPanel` paged by its own
    cursor (`drafts_cursor`, `returned_cursor`, `abandoned_cursor`, `recent_cursor`), and
    whether one of those was not a cursor its list gave (`cursor_error`: the page answers
    400)."""
    panels = KeysetPanels(cursors, HOME_LISTS)
    latest = ("-updated_at", "-pk")
    drafts = panels.panel(
        "drafts",
        mine.filter(state=ConversationState.DRAFT).exclude(assignment_id__in=active_ids),
        ordering=latest,
        size=20,
    )
    returned = panels.panel(
        "returned", mine.filter(state=ConversationState.CHANGES_REQUESTED), ordering=latest, size=20
    )
    abandoned = panels.panel(
        "abandoned", mine.filter(state=ConversationState.ABANDONED), ordering=latest, size=20
    )
    recent = panels.panel(
        "recent",
        # Every submit (and import) stamps submitted_at; the filter states keyset's
        # no-NULL precondition.
        mine.filter(state__in=WRITTEN_STATES, submitted_at__isnull=False),
        ordering=("-submitted_at", "-pk"),
        size=10,
    )
    return {
        "drafts": drafts,
        "returned": returned,
        "abandoned": abandoned,
        "recent": recent,
        "cursor_error": keyset_panel_error(drafts, returned, abandoned, recent),
    }
