from celery import shared_task

from conversations.services.candidates import candidates_generate_run
from conversations.services.drafts import draft_request_run, draft_requests_expire_stale
from conversations.services.import_jobs import conversations_import_execute


@shared_task(ignore_result=True)
def draft_generate(draft_request_id: int) -> None:
    """Ask the configured endpoint for an AI draft; the outcome is stored on the DraftRequest."""
    draft_request_run(draft_request_id=draft_request_id)


@shared_task(ignore_result=True)
def draft_requests_expire() -> None:
    """Periodic: report draft requests that never came back as failed."""
    draft_requests_expire_stale()


@shared_task(ignore_result=True)
def candidates_generate(batch_id: int) -> None:
    """Write a ranking project's missing candidates with its AI endpoint (progress on the batch)."""
    candidates_generate_run(batch_id=batch_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_conversation_import(batch_id: int) -> None:
    """Import a queued file of conversations. Acks late, as the prompt import: a worker
    killed mid-run leaves the message for a retry, which starts from scratch."""
    conversations_import_execute(batch_id=batch_id)
