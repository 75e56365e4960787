"""Every write and run in the exports app. Import from here: `from exports.services import ...`."""

from .assets import tokenizer_asset_upload
from .config import ExportConfig, ExportConfigError, export_config_from_dict
from .jobs import (
    ARTIFACT_MEDIA_TYPES,
    ExportJobBusy,
    artifact_media_type,
    export_artifact_open,
    export_config_check,
    export_job_cancel,
    export_job_create,
    export_job_execute,
    export_job_folder,
)
from .preview import (
    ExportEstimate,
    PreviewExample,
    PreviewPair,
    export_estimate,
    export_job_preview,
    export_pair_preview,
    export_preview,
)
from .rows import ExportError
from .running import ExportCancelled, export_run

__all__ = [
    "ExportCancelled",
    "ExportConfig",
    "ExportConfigError",
    "ExportError",
    "ExportEstimate",
    "ExportJobBusy",
    "PreviewExample",
    "ARTIFACT_MEDIA_TYPES",
    "artifact_media_type",
    "PreviewPair",
    "export_artifact_open",
    "export_config_check",
    "export_config_from_dict",
    "export_estimate",
    "export_job_cancel",
    "export_job_create",
    "export_job_execute",
    "export_job_folder",
    "export_job_preview",
    "export_pair_preview",
    "export_preview",
    "export_run",
    "tokenizer_asset_upload",
]
