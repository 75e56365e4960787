"""Conversation imports in the background: the prompt import's job (queue a kept upload,
run it in a worker with progress, cancel it) with `conversations_import` inside.

A file over IMPORT_SYNC_MAX_BYTES goes this way by itself, from the browser and the API.
"""

from pathlib import Path

from config.nul import without_nul
from core.exceptions import ApplicationError
from core.jobs import job_finish
from labeling.models import ImportBatch, Project, User
from labeling.services.import_jobs import (
    import_job_enqueue,
    import_job_execute,
    import_job_kind_register,
)
from labeling.services.imports import Progress

from .importing import FORMATS, STATES, ConversationImportError, conversations_import

CONVERSATION_IMPORTS = import_job_kind_register(
    "conversation import",
    "conversations.tasks.run_conversation_import",
    ImportBatch.Kind.CONVERSATIONS,
)


def conversations_import_enqueue(
    *,
    project: Project,
    upload: Path,
    file_name: str,
    user: User | None,
    file_format: str = "messages",
    state: str = STATES[0],
    all_paths: bool = False,
) -> ImportBatch:
    """Queue a kept upload of conversations with the import's options; a worker runs
    `conversations_import` on it (see `import_job_enqueue`)."""
    if file_format not in FORMATS:
        raise ApplicationError(f"use {' or '.join(FORMATS)}", field="file_format")
    if state not in STATES:
        raise ApplicationError(f"use {' or '.join(STATES)}", field="state")
    return import_job_enqueue(
        CONVERSATION_IMPORTS,
        project=project,
        upload=upload,
        file_name=file_name,
        user=user,
        file_format=file_format,
        conversation_state=state,
        all_paths=all_paths,
    )


def conversations_import_execute(*, batch_id: int) -> str | None:
    """Run a queued conversation import to the end: the Celery task's body (see
    `import_job_execute`). A bad line fails the batch with every line-numbered error and
    imports nothing, as the synchronous import does."""

    def run(batch: ImportBatch, path: Path, progress: Progress) -> str:
        try:
            with path.open("rb") as stream:
                conversations_import(
                    project=batch.project,
                    stream=stream,
                    file_name=batch.file_name,
                    file_format=batch.file_format,
                    state=batch.conversation_state,
                    all_paths=batch.all_paths,
                    created_by=batch.created_by,
                    batch=batch,
                    progress=progress,
                )
        except ConversationImportError as error:
            job_finish(
                CONVERSATION_IMPORTS,
                batch.pk,
                batch.attempt,
                ImportBatch.Status.FAILED,
                errors=[without_nul(message) for message in error.errors],
            )
            return ImportBatch.Status.FAILED
        return ImportBatch.Status.IMPORTED

    return import_job_execute(CONVERSATION_IMPORTS, batch_id, run)
