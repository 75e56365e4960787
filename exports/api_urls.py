from django.urls import path

from . import api

urlpatterns = [
    path("exports/", api.ExportListCreateApi.as_view(), name="api-export-list"),
    path("exports/<int:pk>/", api.ExportDetailApi.as_view(), name="api-export-detail"),
    path("exports/<int:pk>/cancel/", api.ExportCancelApi.as_view(), name="api-export-cancel"),
    path("exports/<int:pk>/files/", api.ExportFilesApi.as_view(), name="api-export-files"),
    path(
        "exports/<int:pk>/files/<path:name>",
        api.ExportFileDownloadApi.as_view(),
        name="api-export-file",
    ),
]
