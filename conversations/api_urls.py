from django.urls import path

from .api import review

urlpatterns = [
    path("review-queue/", review.ReviewQueueApi.as_view(), name="api-review-queue"),
    path(
        "review-queue/<int:conversation_id>/claim/",
        review.ClaimApi.as_view(),
        name="api-review-claim",
    ),
    path(
        "conversations/<int:conversation_id>/reviews/",
        review.ConversationReviewsApi.as_view(),
        name="api-conversation-reviews",
    ),
    path(
        "conversations/<int:conversation_id>/review-edits/",
        review.ReviewEditApi.as_view(),
        name="api-conversation-review-edit",
    ),
    path("notifications/", review.NotificationsApi.as_view(), name="api-notifications"),
]
