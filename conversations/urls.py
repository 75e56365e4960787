from django.urls import path

from .views import editor, history, imports, listing, projects, ranking, review, tasks

app_name = "conversations"

urlpatterns = [
    path("tasks/", tasks.labeler_home, name="labeler-home"),
    path("tasks/next/", tasks.task_next, name="task-next"),
    path("tasks/<int:assignment_id>/skip/", tasks.task_skip_view, name="task-skip"),
    path("projects/", projects.project_list, name="project-list"),
    path("projects/<slug:slug>/", projects.project_detail, name="project-detail"),
    path("conversations/", listing.conversation_list_page, name="conversation-list"),
    path(
        "projects/<slug:slug>/conversations/import/",
        imports.conversation_import,
        name="conversation-import",
    ),
    path("conversations/<int:conversation_id>/", editor.editor, name="editor"),
    path("conversations/<int:conversation_id>/preview/", editor.preview, name="editor-preview"),
    path("conversations/<int:conversation_id>/checks/", editor.checks, name="editor-checks"),
    path("conversations/<int:conversation_id>/submit/", editor.submit, name="editor-submit"),
    path("conversations/<int:conversation_id>/drafts/", editor.draft_create, name="editor-draft"),
    path(
        "conversations/<int:conversation_id>/drafts/<int:draft_request_id>/",
        editor.draft_status,
        name="editor-draft-status",
    ),
    path(
        "conversations/<int:conversation_id>/guidelines/read/",
        editor.guidelines_read,
        name="editor-guidelines-read",
    ),
    path("conversations/<int:conversation_id>/history/", history.history, name="history"),
    path("rankings/<int:conversation_id>/", ranking.ranking_page, name="ranking"),
    path(
        "projects/<slug:slug>/candidates/generate/",
        ranking.candidates_generate_view,
        name="candidates-generate",
    ),
    path(
        "rankings/<int:conversation_id>/submit/",
        ranking.ranking_submit_view,
        name="ranking-submit",
    ),
    path(
        "review/<int:conversation_id>/ranking/",
        ranking.ranking_review_page,
        name="ranking-review",
    ),
    path(
        "review/<int:conversation_id>/ranking/reorder/",
        ranking.ranking_review_reorder_view,
        name="ranking-review-reorder",
    ),
    path(
        "review/<int:conversation_id>/ranking/decide/",
        ranking.ranking_review_decide,
        name="ranking-review-decide",
    ),
    path("review/", review.review_queue, name="review-queue"),
    path("review/<int:conversation_id>/", review.review_page, name="review"),
    path("review/<int:conversation_id>/claim/", review.review_claim_view, name="review-claim"),
    path(
        "review/<int:conversation_id>/release/", review.review_release_view, name="review-release"
    ),
    path("review/<int:conversation_id>/decide/", review.review_decide, name="review-decide"),
    path("review/<int:conversation_id>/edit/", review.review_edit_view, name="review-edit"),
    path(
        "conversations/<int:conversation_id>/feedback/",
        review.review_feedback,
        name="review-feedback",
    ),
    path("notifications/", review.notification_list, name="notifications"),
    path(
        "notifications/<int:notification_id>/open/",
        review.notification_open,
        name="notification-open",
    ),
    path("notifications/read/", review.notifications_read_all, name="notifications-read-all"),
    path("quality/", review.quality, name="quality"),
    path("quality/people/<int:user_id>/", review.quality_person, name="quality-person"),
]
