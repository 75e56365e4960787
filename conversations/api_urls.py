from django.urls import path

from .api import editor, history, imports, listing, ranking, review, tasks

urlpatterns = [
    path("tasks/next/", tasks.TaskNextApi.as_view(), name="api-task-next"),
    path("tasks/<int:assignment_id>/skip/", tasks.TaskSkipApi.as_view(), name="api-task-skip"),
    path("conversations/", editor.ConversationListApi.as_view(), name="api-conversations"),
    path(
        "conversations/browse/",
        listing.ConversationBrowseApi.as_view(),
        name="api-conversation-browse",
    ),
    path(
        "conversations/<int:conversation_id>/",
        editor.ConversationDetailApi.as_view(),
        name="api-conversation",
    ),
    path(
        "conversations/<int:conversation_id>/submit/",
        editor.SubmitApi.as_view(),
        name="api-conversation-submit",
    ),
    path(
        "conversations/<int:conversation_id>/tokens/",
        editor.TokensApi.as_view(),
        name="api-conversation-tokens",
    ),
    path(
        "conversations/<int:conversation_id>/checks/",
        editor.ChecksApi.as_view(),
        name="api-conversation-checks",
    ),
    path(
        "conversations/<int:conversation_id>/drafts/",
        editor.DraftRequestCreateApi.as_view(),
        name="api-conversation-drafts",
    ),
    path(
        "conversations/<int:conversation_id>/drafts/<int:draft_request_id>/",
        editor.DraftRequestApi.as_view(),
        name="api-conversation-draft",
    ),
    path(
        "conversations/<int:conversation_id>/history/",
        history.HistoryApi.as_view(),
        name="api-conversation-history",
    ),
    path("rankings/<int:conversation_id>/", ranking.RankingDetailApi.as_view(), name="api-ranking"),
    path(
        "rankings/<int:conversation_id>/submit/",
        ranking.RankingSubmitApi.as_view(),
        name="api-ranking-submit",
    ),
    path(
        "rankings/<int:conversation_id>/review/",
        ranking.RankingReviewApi.as_view(),
        name="api-ranking-review",
    ),
    path(
        "rankings/<int:conversation_id>/review-order/",
        ranking.RankingReorderApi.as_view(),
        name="api-ranking-reorder",
    ),
    path(
        "projects/<slug:slug>/candidates/generate/",
        ranking.CandidatesGenerateApi.as_view(),
        name="api-candidates-generate",
    ),
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
    path(
        "projects/<slug:slug>/conversations/import/",
        imports.ConversationImportApi.as_view(),
        name="api-conversations-import",
    ),
]
