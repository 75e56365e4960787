"""AI candidates through the real Celery worker and the loopback chat-completions server."""

import pytest

from conversations.services.candidates import candidates_generate_start
from labeling.models import ImportBatch
from labeling.services import ImportSource, prompts_import
from tests.conftest import wait_for
from tests.conversations.factories import ranking_project

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_writes_k_candidates_and_reports_progress(celery_worker_process, chat_server):
    project = ranking_project(ai_drafts_enabled=True, candidates_k=4)
    prompts_import(
        project=project,
        source=ImportSource(name="bare.json", items=["SAMPLES: sort a list?", "SAMPLES: a set?"]),
        user=None,
    )
    batch = candidates_generate_start(project=project, user=None)

    def done():
        batch.refresh_from_db()
        return not batch.is_active

    wait_for(done, message="the worker to generate the candidates")
    assert batch.status == ImportBatch.Status.IMPORTED, batch.errors
    assert (batch.rows_done, batch.rows_imported, batch.progress_percent) == (2, 2, 100)
    for prompt in project.prompts.all():
        assert prompt.candidates.count() == 4
