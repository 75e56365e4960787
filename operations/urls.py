from django.urls import path

from . import views

app_name = "operations"

urlpatterns = [
    path("queues/", views.queues, name="queues"),
]
