from django.urls import path

from .views import review

app_name = "conversations"

urlpatterns = [
    path("review/", review.review_queue, name="review-queue"),
]
