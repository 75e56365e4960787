from django.contrib import admin

from .models import ExportArtifact, ExportJob


class ArtifactInline(admin.TabularInline):
    model = ExportArtifact
    extra = 0


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "rows_done", "rows_total", "created_at"]
    list_filter = ["status"]
    inlines = [ArtifactInline]
