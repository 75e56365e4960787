import datetime as dt

from django.conf import settings
from django.db import models

from core.jobs import heartbeat_stale
from core.models import JobFields
from labeling.models import Project


class ExportJob(JobFields):
    """One export run: its configuration, progress and published files."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    projects = models.ManyToManyField(Project, related_name="export_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Everything that decides the output bytes: filters, template, tokenizer, limits, split,
    # formats, packing, dedupe. Stored whole so the manifest can repeat it.
    config = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    # attempt, heartbeat, lost runs, cancel: see core.models.JobFields. A run that was
    # taken over (its worker looked dead) notices at its next chunk and stops quietly.
    error = models.TextField(blank=True)
    output_dir = models.CharField(max_length=500, blank=True)
    manifest = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0

    def seconds_left(self, now: dt.datetime) -> int | None:
        """Time left at the pace measured in this run; None when nothing measures it:
        before the first chunk, or while no run beats (its worker may be gone, or its
        shards wait in the queue). Never a made-up figure."""
        if self.status != self.Status.RUNNING or not self.started_at or not self.rows_done:
            return None
        stale = now - dt.timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)
        if heartbeat_stale(self.heartbeat_at, stale):
            return None
        elapsed = (now - self.started_at).total_seconds()
        return int(elapsed / self.rows_done * max(self.rows_total - self.rows_done, 0))


class ExportArtifact(models.Model):
    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="unique_artifact_name")]


class TokenizerAsset(models.Model):
    """A vocabulary file an admin uploaded: o200k_base's `.tiktoken` or a Hugging Face tokenizer.

    Files live under MEDIA_ROOT/tokenizers/<sha256>/ so the same upload is stored once
    and a job's config can name the asset and be replayed byte for byte.
    """

    class Kind(models.TextChoices):
        O200K_BASE = "o200k_base", "o200k_base (.tiktoken)"
        HUGGINGFACE = "huggingface", "Hugging Face tokenizer.json"

    kind = models.CharField(max_length=16, choices=Kind)
    label = models.CharField(max_length=200)
    # Folder relative to MEDIA_ROOT holding the vocabulary (and, for Hugging Face, its config).
    folder = models.CharField(max_length=300)
    file_name = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_kind_display()})"


class ExportShard(models.Model):
    """One shard of an export job: its conversations by id range, and once done what the
    final step merges. A shard that is done is never run again, whichever worker crashes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    id_from = models.BigIntegerField()
    id_to = models.BigIntegerField()
    conversations = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    # Which run owns the shard, as ExportJob.attempt does for the job; runs that died in
    # it (a shard that kills its worker at every try fails the job).
    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lost_runs = models.PositiveSmallIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    # Statistics, filter and packing counts, and every file with its size and sha256.
    result = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="unique_export_shard_index")
        ]
