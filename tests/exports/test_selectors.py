"""The export's reads by id range: rows of the range that the export does not select, and
reviews of a conversation's earlier revisions, never reach a row."""

import pytest

from conversations.models import Review, ReviewDecision, Revision
from exports.selectors import export_row_chunks
from exports.services import export_config_from_dict
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def _scores(chunks) -> dict[int, list[float]]:
    return {row.id: sorted(row.scores) for rows in chunks for row in rows}


@pytest.mark.parametrize("others_between", [1, 5], ids=["dense-range", "sparse-list"])
def test_rows_get_only_their_own_current_revisions_approving_reviews(others_between):
    mine, other = ProjectFactory(slug="mine"), ProjectFactory(slug="other")
    selected = []
    for number in range(3):
        selected.append(
            approved_conversation(
                mine, chat(f"Q{number}?", f"A{number}."), scores={"helpfulness": number + 1}
            )
        )
        for extra in range(others_between):
            approved_conversation(other, chat(f"O{number}.{extra}?", "B."), scores={"h": 9})
    # A review of an earlier revision of the first conversation: not the exported one's.
    first = selected[0]
    earlier = Revision.objects.create(
        conversation=first, number=0, kind=Revision.Kind.SUBMIT, messages=chat("Old?", "Old.")
    )
    Review.objects.create(
        conversation=first,
        revision=earlier,
        reviewer=UserFactory(roles=["reviewer"]),
        decision=ReviewDecision.APPROVE,
        scores={"helpfulness": 1},
    )
    config = export_config_from_dict({"projects": ["mine"]})

    scores = _scores(export_row_chunks(config, chunk_size=2))

    assert scores == {c.id: [float(n + 1)] for n, c in enumerate(selected)}
