from django.contrib import admin

from labeling.admin import ReadOnlyModelAdmin, ReadOnlyTabularInline

from .models import ExportArtifact, ExportJob


class ArtifactInline(ReadOnlyTabularInline):
    model = ExportArtifact


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "status", "rows_done", "rows_total", "created_at"]
    list_filter = ["status"]
    inlines = [ArtifactInline]
