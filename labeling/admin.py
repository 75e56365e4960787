from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Assignment, Domain, GuidelineVersion, ImportBatch, Project, Prompt, User


@admin.register(User)
class MemberAdmin(UserAdmin):
    list_display = [
        "username",
        "email",
        "is_labeler",
        "is_reviewer",
        "is_project_admin",
        "is_active",
    ]
    list_filter = ["is_labeler", "is_reviewer", "is_project_admin", "is_active"]
    # UserAdmin's own fieldsets (a tuple, though typed optional), then the roles.
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        (
            "Roles and expertise",
            {
                "fields": [
                    "is_labeler",
                    "is_reviewer",
                    "is_project_admin",
                    "labeler_domains",
                    "reviewer_domains",
                ]
            },
        ),
    )
    filter_horizontal = ["labeler_domains", "reviewer_domains", "groups", "user_permissions"]


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["slug", "name"]
    search_fields = ["slug", "name"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "priority"]
    list_filter = ["status"]
    prepopulated_fields = {"slug": ["name"]}


admin.site.register(GuidelineVersion)
admin.site.register(ImportBatch)


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "domain", "slots_taken", "created_at"]
    list_filter = ["project", "domain"]
    search_fields = ["text", "source_id"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "labeler", "status", "lease_expires_at"]
    list_filter = ["status", "project"]
