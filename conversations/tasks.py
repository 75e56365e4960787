from celery import shared_task

from conversations.services.candidates import candidates_generate_run
from conversations.services.drafts import draft_request_run, draft_requests_expire_stale


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
