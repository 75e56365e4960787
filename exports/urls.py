from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("exports/", views.export_list, name="export-list"),
    path("exports/new/", views.export_create, name="export-create"),
    path("exports/preview/", views.export_preview_view, name="export-preview"),
    path("exports/estimate/", views.export_estimate_view, name="export-estimate"),
    path("exports/tokenizers/", views.tokenizer_upload, name="tokenizer-upload"),
    path("exports/<int:job_id>/", views.export_detail, name="export-detail"),
    path("exports/<int:job_id>/preview/", views.export_job_preview_view, name="export-job-preview"),
    path("exports/<int:job_id>/cancel/", views.export_cancel, name="export-cancel"),
    path("exports/<int:job_id>/download.zip", views.export_zip_download, name="export-zip"),
    path(
        "exports/<int:job_id>/files/<path:name>",
        views.artifact_download,
        name="artifact-download",
    ),
]
