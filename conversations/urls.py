from django.urls import path

from .views import editor, review

app_name = "conversations"

urlpatterns = [
    path("conversations/<int:conversation_id>/", editor.editor, name="editor"),
    path("review/", review.review_queue, name="review-queue"),
]
