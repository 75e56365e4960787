from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from core.models import JobFields


class Domain(models.Model):
    """An expertise tag (python, biology, law) that prompts and people carry."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    LABELER = "labeler", "Labeler"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


class User(AbstractUser):
    """A person: any mix of the three roles, with expertise per role."""

    is_labeler = models.BooleanField(default=False)
    is_reviewer = models.BooleanField(default=False)
    is_project_admin = models.BooleanField("is admin", default=False)
    labeler_domains = models.ManyToManyField(Domain, blank=True, related_name="labelers")
    reviewer_domains = models.ManyToManyField(Domain, blank=True, related_name="reviewers")

    @property
    def roles(self) -> list[str]:
        flags = {
            Role.LABELER: self.is_labeler,
            Role.REVIEWER: self.is_reviewer,
            Role.ADMIN: self.is_project_admin,
        }
        return [role.value for role, held in flags.items() if held]

    def has_role(self, role: str) -> bool:
        return role in self.roles


class ProjectStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class ProjectKind(models.TextChoices):
    CONVERSATION = "conversation", "Conversations: labelers write the replies"
    RANKING = "ranking", "Ranking: labelers order candidate replies"


class ReasoningMode(models.TextChoices):
    OFF = "off", "Off: no reasoning"
    OPTIONAL = "optional", "Optional"
    REQUIRED = "required", "Required on every assistant reply"


def default_rubric() -> list[dict[str, str]]:
    return [
        {"name": "helpfulness", "label": "Helpfulness", "description": ""},
        {"name": "correctness", "label": "Correctness", "description": ""},
        {"name": "harmlessness", "label": "Harmlessness", "description": ""},
        {"name": "style", "label": "Style", "description": ""},
    ]


class Project(models.Model):
    """A labeling campaign with its rules and policies."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    domains = models.ManyToManyField(Domain, blank=True, related_name="projects")
    status = models.CharField(max_length=16, choices=ProjectStatus, default=ProjectStatus.DRAFT)
    priority = models.IntegerField(default=0, help_text="Higher comes first.")
    # What a task is (design.md contract 7): writing a conversation, or ranking a prompt's
    # candidate replies. Fixed once the project holds prompts.
    kind = models.CharField(max_length=16, choices=ProjectKind, default=ProjectKind.CONVERSATION)
    # Ranking projects whose prompts come without candidates: how many replies the AI
    # endpoint writes per prompt, and at which sampling temperature (varied replies).
    candidates_k = models.PositiveSmallIntegerField(default=4)
    candidates_temperature = models.FloatField(default=1.0)

    # Conversation rules. A turn is one user message and the assistant reply to it.
    min_turns = models.PositiveSmallIntegerField(default=1)
    max_turns = models.PositiveSmallIntegerField(default=10)
    system_message_allowed = models.BooleanField(default=False)
    fixed_system_message = models.TextField(blank=True)
    max_tokens = models.PositiveIntegerField(default=4096)
    tokenizer = models.CharField(max_length=100, default="cl100k_base")
    template = models.CharField(max_length=40, default="chatml-sep")
    ai_drafts_enabled = models.BooleanField(default=False)
    # Where AI drafts come from; blank means the server's AI_DRAFT_BASE_URL / AI_DRAFT_MODEL.
    # The API key is never stored here: it is read from AI_DRAFT_API_KEY.
    ai_draft_base_url = models.URLField(max_length=500, blank=True)
    ai_draft_model = models.CharField(max_length=200, blank=True)
    ai_draft_temperature = models.FloatField(null=True, blank=True)
    ai_draft_max_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Structured turns (design.md contract 6): declared tools as OpenAI / Hugging Face
    # function specs, and whether assistant replies carry their reasoning.
    tools = models.JSONField(default=list, blank=True)
    reasoning_mode = models.CharField(
        max_length=16, choices=ReasoningMode, default=ReasoningMode.OFF
    )

    # Assignment and review policy.
    replications = models.PositiveSmallIntegerField(default=1)
    lease_minutes = models.PositiveIntegerField(default=120)
    approvals_needed = models.PositiveSmallIntegerField(default=1)
    rubric = models.JSONField(default=default_rubric, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_ranking(self) -> bool:
        return self.kind == ProjectKind.RANKING

    @property
    def lease_length(self) -> timedelta:
        return timedelta(minutes=self.lease_minutes)


class GuidelineVersion(models.Model):
    """Guidelines are never edited in place: each change is a new version."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="guideline_versions"
    )
    version = models.PositiveIntegerField()
    body = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="unique_guideline_version")
        ]


class GuidelineRead(models.Model):
    """The latest guideline version a person has read in a project."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    project = models.ForeignKey(Project, on_delete=models.CASCADE)
    version = models.PositiveIntegerField()
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="unique_guideline_read")
        ]


class ImportBatch(JobFields):
    class Kind(models.TextChoices):
        PROMPTS = "prompts", "Prompts"
        CONVERSATIONS = "conversations", "Conversations"
        # A ranking project's candidates written by the AI endpoint (no file).
        CANDIDATES = "candidates", "AI candidates"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Step(models.TextChoices):
        CHECKING = "checking", "Checking rows"
        SAVING = "saving", "Saving"
        GENERATING = "generating", "Generating candidates"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_batches")
    kind = models.CharField(max_length=16, choices=Kind, default=Kind.PROMPTS)
    status = models.CharField(max_length=16, choices=Status)
    file_name = models.CharField(max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    duplicates_skipped = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # Background imports (the browser's confirm, the API's ?async=1): what to run and how far
    # it got. The worker writes progress while checking rows, outside the import's transaction.
    on_duplicate = models.CharField(max_length=8, default="skip")
    # The domain given to every prompt of the import that names none of its own.
    default_domain = models.ForeignKey(
        Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    upload_name = models.CharField(
        max_length=100, blank=True, help_text="The kept upload in MEDIA_ROOT/tmp while queued."
    )
    # A background conversation import's options (what the synchronous import takes).
    file_format = models.CharField(max_length=16, blank=True, help_text="messages or oasst")
    conversation_state = models.CharField(
        max_length=16, blank=True, help_text="The state imported conversations get."
    )
    all_paths = models.BooleanField(
        default=False, help_text="oasst: every path of a tree, not only the best one."
    )
    step = models.CharField(max_length=16, choices=Step, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0, help_text="0 while not known yet.")

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def item_noun(self) -> str:
        """What one row of the import becomes, for its pages."""
        return "conversation" if self.kind == self.Kind.CONVERSATIONS else "prompt"

    @property
    def progress_percent(self) -> int | None:
        """Percent of rows checked; None when there is no honest figure (total unknown, or
        the final saving step, which runs as one transaction)."""
        if self.status == self.Status.IMPORTED:
            return 100
        if self.step == self.Step.SAVING or not self.rows_total:
            return None
        return min(100, int(100 * self.rows_done / self.rows_total))


class Prompt(models.Model):
    """The seed of a conversation: a user query, optionally with a system message and AI draft."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    text = models.TextField()
    # sha256 of the whitespace-folded text: duplicate detection without comparing text.
    text_key = models.CharField(max_length=64, db_index=True)
    system = models.TextField(blank=True)
    draft = models.TextField(blank=True, help_text="An AI-written first assistant reply.")
    messages = models.JSONField(
        default=list, blank=True, help_text="Earlier turns when the prompt is a conversation."
    )
    domain = models.ForeignKey(
        Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="prompts"
    )
    source_id = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="prompts"
    )
    # Written + unexpired leases; kept by the assignment service under the row lock.
    slots_taken = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # A retired prompt leaves the pool: no new lease; leases already running may finish.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "slots_taken", "id"])]

    def __str__(self) -> str:
        return self.text[:60]


class Candidate(models.Model):
    """One of a ranking prompt's 2-6 candidate replies (imported), in file order."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="candidates")
    position = models.PositiveSmallIntegerField()
    content = models.TextField()
    # The model that wrote it, when known (kept as the pair's provenance).
    model = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["prompt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "position"], name="unique_candidate_position")
        ]

    def __str__(self) -> str:
        return self.content[:60]


class Assignment(models.Model):
    """A labeler's lease on a prompt."""

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        EXPIRED = "expired", "Expired"
        SKIPPED = "skipped", "Skipped"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="assignments")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.LEASED)
    leased_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "labeler"], name="one_assignment_per_labeler")
        ]
        indexes = [
            models.Index(fields=["labeler", "status", "lease_expires_at"]),
            # Finding overdue leases (at every selection and by the periodic task) stays cheap.
            models.Index(fields=["status", "lease_expires_at"], name="assignment_due_idx"),
        ]

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.LEASED and self.lease_expires_at <= timezone.now()

    @property
    def lease_seconds_left(self) -> int:
        """Whole seconds until the lease ends (0 once it has): what the countdown starts from."""
        return max(0, int((self.lease_expires_at - timezone.now()).total_seconds()))


class ProjectCount(models.Model):
    """A maintained count for a project's dashboard and list, so they read a few rows instead
    of counting millions: `name` is what is counted (prompts, retired, written, or a
    conversation state), per prompt domain (`domain_key`: the domain's id, 0 for none).

    Written only by `labeling.services.counters.counts_add`, in the transaction of the
    change it counts. A count is split over `shard` rows (summed when read) so that
    labelers working at once do not queue on one row's lock.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="counts")
    domain_key = models.PositiveBigIntegerField(default=0)
    shard = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=32)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "domain_key", "shard", "name"], name="unique_project_count"
            )
        ]
