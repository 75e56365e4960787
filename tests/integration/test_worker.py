from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment
from labeling.tasks import expire_leases
from tests.conftest import wait_for
from tests.factories import PromptFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_process_runs_a_task_sent_through_the_broker(celery_worker_process):
    prompt = PromptFactory(slots_taken=1)
    labeler = UserFactory(roles=["labeler"])
    lease = Assignment.objects.create(
        prompt=prompt,
        project=prompt.project,
        labeler=labeler,
        lease_expires_at=timezone.now() - timedelta(minutes=1),
    )

    expire_leases.delay()

    def lease_expired():
        lease.refresh_from_db()
        return lease.status == Assignment.Status.EXPIRED

    wait_for(lease_expired, message="the worker to expire the lease")
    prompt.refresh_from_db()
    assert prompt.slots_taken == 0
