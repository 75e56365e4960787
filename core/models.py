"""The fields every background job's row carries for the job engine (`core.jobs`)."""

from django.db import models


class JobFields(models.Model):
    """A job's run state. The model adds its `status` (with queued, running and finished
    values) and registers a `core.jobs.JobKind` for it."""

    # Which run owns the job: every claim by a worker adds one, and that run only writes
    # progress and its outcome while the number is still its own.
    attempt = models.PositiveIntegerField(default=0)
    # Touched by the owning run all along (a thread, see JobHeartbeat); a `running` job
    # whose heartbeat is older than JOB_STALE_AFTER_SECONDS lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Runs that died (taken over with a stale heartbeat); at JOB_MAX_ATTEMPTS the job fails.
    lost_runs = models.PositiveSmallIntegerField(default=0)
    # When its task was last handed to the broker; empty while the broker was down.
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    class Meta:
        abstract = True
