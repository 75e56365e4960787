"""The queues page without a worker: who may open it, the jobs it lists, its query count."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exports.models import ExportJob, ExportShard
from labeling.models import ImportBatch
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("operations:queues")


def _running_export(heartbeat_seconds_ago: float, *, shards_done: int = 0) -> ExportJob:
    now = timezone.now()
    job = ExportJob.objects.create(
        status=ExportJob.Status.RUNNING,
        rows_done=500,
        rows_total=2000,
        started_at=now - dt.timedelta(minutes=20),
        heartbeat_at=now - dt.timedelta(seconds=heartbeat_seconds_ago),
    )
    job.projects.add(ProjectFactory())
    for index in range(2):
        ExportShard.objects.create(
            job=job,
            index=index,
            id_from=index * 1000 + 1,
            id_to=(index + 1) * 1000,
            conversations=1000,
            status=ExportShard.Status.DONE if index < shards_done else ExportShard.Status.PENDING,
        )
    return job


def test_staff_without_an_app_role_may_open_it_and_see_the_link(client):
    staff = UserFactory(username="ops-olga", roles=[])
    staff.is_staff = True  # set in Django's admin: not an app role
    staff.save(update_fields=["is_staff"])
    client.force_login(staff)
    response = client.get(URL)
    assert response.status_code == 200
    assert f'href="{URL}"' in response.content.decode()


def test_people_without_admin_or_staff_see_no_link(client, reviewer):
    client.force_login(reviewer)
    assert f'href="{URL}"' not in client.get(reverse("conversations:review-queue")).content.decode()
    assert client.get(URL).status_code == 403


def test_lists_jobs_in_flight_with_heartbeat_age_and_marks_a_stale_one(
    client, admin_user, settings
):
    settings.JOB_STALE_AFTER_SECONDS = 120
    fresh = _running_export(5, shards_done=1)
    stale = _running_export(600)
    finished = ExportJob.objects.create(status=ExportJob.Status.SUCCEEDED)
    batch = ImportBatch.objects.create(
        project=ProjectFactory(slug="imp"),
        status=ImportBatch.Status.QUEUED,
        file_name="prompts.jsonl",
    )
    client.force_login(admin_user)
    page = client.get(URL).content.decode()

    fresh_row = page[page.index(f'data-job="export-{fresh.id}"') :].split("</tr>")[0]
    assert "500 of 2,000 conversations, 1 of 2 shards done" in fresh_row
    assert "stale" not in fresh_row
    assert "5 s ago" in fresh_row or "6 s ago" in fresh_row
    stale_row = page[page.index(f'data-job="export-{stale.id}"') :].split("</tr>")[0]
    assert 'data-testid="stale"' in stale_row and "600 s ago" in stale_row
    assert f'data-job="export-{finished.id}"' not in page
    import_row = page[page.index(f'data-job="prompts import-{batch.id}"') :].split("</tr>")[0]
    assert "imp: prompts.jsonl" in import_row and "queued" in import_row
    assert reverse("labeling:import-batch", args=["imp", batch.id]) in import_row


def test_the_htmx_refresh_gets_the_fragment_only(client, admin_user):
    client.force_login(admin_user)
    fragment = client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="queues"')
    assert "<html" not in fragment
    assert 'hx-trigger="every 10s"' in fragment


def test_queries_do_not_grow_with_the_jobs(client, admin_user):
    client.force_login(admin_user)
    _running_export(5)
    client.get(URL)  # warm: session, user
    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    for _ in range(6):
        _running_export(5)
    with CaptureQueriesContext(connection) as seven:
        client.get(URL)
    assert len(seven) == len(one) <= 10
