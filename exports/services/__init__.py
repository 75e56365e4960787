"""Every write and run in the exports app. Import from here: `from exports.services import ...`."""

from .assets import tokenizer_asset_upload
from .config import ExportConfig, ExportConfigError, export_config_from_dict
from .jobs import (
    ExportJobBusy,
    export_artifact_open,
    export_config_check,
    export_job_cancel,
    export_job_create,
    export_job_execute,
    export_job_folder,
)
from .preview import PreviewExample, export_job_preview, export_preview
from .rows import ExportError
from .running import ExportCancelled, export_run

__all__ = [
    "ExportCancelled",
    "ExportConfig",
    "ExportConfigError",
    "ExportError",
    "ExportJobBusy",
    "PreviewExample",
    "export_artifact_open",
    "export_config_check",
    "export_config_from_dict",
    "export_job_cancel",
    "export_job_create",
    "export_job_execute",
    "export_job_folder",
    "export_job_preview",
    "export_preview",
    "export_run",
    "tokenizer_asset_upload",
]
