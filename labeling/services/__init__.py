"""Every write in the labeling app. Import from here: `from labeling.services import member_save`."""

from .assignment import (
    NextLease,
    TaskError,
    assignment_next,
    assignment_skip,
    lease_is_active,
    leases_expire,
    task_complete,
)
from .import_jobs import (
    prompts_import_cancel,
    prompts_import_enqueue,
    prompts_import_execute,
    stale_uploads_remove,
)
from .imports import (
    ImportFileError,
    ImportReport,
    ImportReportStatus,
    ImportSource,
    decoded_lines,
    prompts_import,
    prompts_preview,
    text_key,
)
from .members import domain_get_or_create, member_save, member_token
from .projects import (
    GuidelineNotice,
    ProjectError,
    guidelines_mark_read,
    guidelines_notice,
    guidelines_save,
    project_create,
    project_delete,
    project_for_import,
    project_update,
)

__all__ = [
    "assignment_next",
    "assignment_skip",
    "GuidelineNotice",
    "ImportFileError",
    "decoded_lines",
    "ImportReport",
    "ImportReportStatus",
    "ImportSource",
    "NextLease",
    "ProjectError",
    "TaskError",
    "domain_get_or_create",
    "guidelines_mark_read",
    "guidelines_notice",
    "guidelines_save",
    "lease_is_active",
    "leases_expire",
    "member_save",
    "member_token",
    "project_create",
    "project_delete",
    "project_for_import",
    "project_update",
    "prompts_import",
    "prompts_import_enqueue",
    "prompts_import_cancel",
    "prompts_import_execute",
    "prompts_preview",
    "stale_uploads_remove",
    "task_complete",
    "text_key",
]
