from django import template

from conversations.selectors.review import conversation_feedback

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
