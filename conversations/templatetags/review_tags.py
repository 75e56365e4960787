from django import template

from conversations.selectors.review import conversation_feedback
from conversations.services.review import review_scores_labeled

register = template.Library()


@register.inclusion_tag("conversations/review_feedback.html")
def review_feedback(conversation):
    """The reviews of `conversation` with their comments: `{% review_feedback conversation %}`.

    The calling view has already decided the person may see this conversation.
    """
    return {
        "conversation": conversation,
        "feedback": conversation_feedback(conversation=conversation),
    }


@register.filter
def scores_labeled(review, project):
    """`{% for score in review|scores_labeled:project %}{{ score.label }} {{ score.score }}`:
    each score under its rubric criterion's label (services.review.review_scores_labeled)."""
    return review_scores_labeled(project=project, scores=review.scores or {})
