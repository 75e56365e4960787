from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import (
    Assignment,
    Candidate,
    Domain,
    GuidelineVersion,
    ImportBatch,
    Project,
    Prompt,
    User,
)


class ReadOnlyAdminMixin:
    """Shows rows without letting the admin add, change or delete them.

    Projects, prompts, assignments, conversations, reviews and exports change only through
    their services (versions, revisions, audit trail, state rules); a form that writes the
    row directly would bypass all of that, so the admin is a window onto them, not a door.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyModelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0


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
class ProjectAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "slug", "kind", "status", "priority"]
    list_filter = ["kind", "status"]


admin.site.register(GuidelineVersion, ReadOnlyModelAdmin)
admin.site.register(ImportBatch, ReadOnlyModelAdmin)


class CandidateInline(ReadOnlyTabularInline):
    model = Candidate


@admin.register(Prompt)
class PromptAdmin(ReadOnlyModelAdmin):
    inlines = [CandidateInline]
    list_display = ["id", "project", "domain", "slots_taken", "created_at"]
    list_filter = ["project", "domain"]
    search_fields = ["text", "source_id"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "prompt", "labeler", "status", "lease_expires_at"]
    list_filter = ["status", "project"]
