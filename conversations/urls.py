from django.urls import path

from . import views

app_name = "conversations"

urlpatterns = [
    path("review/", views.review_queue, name="review-queue"),
]
