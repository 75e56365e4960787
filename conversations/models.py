from django.conf import settings
from django.db import models

from core.models import JobFields
from labeling.models import Assignment, GuidelineVersion, Project, Prompt


class ConversationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    # Skipped with the labeler's own writing in it: kept for its writer and the admins,
    # never edited, reviewed or exported again.
    ABANDONED = "abandoned", "Abandoned (skipped)"


class Conversation(models.Model):
    """One labeler's conversation for one prompt. `version` guards against silent overwrites."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="conversations")
    prompt = models.ForeignKey(
        Prompt, null=True, blank=True, on_delete=models.CASCADE, related_name="conversations"
    )
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversation"
    )
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    state = models.CharField(
        max_length=24, choices=ConversationState, default=ConversationState.DRAFT
    )
    version = models.PositiveIntegerField(default=1)
    guideline_version = models.ForeignKey(
        GuidelineVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The revision reviewers judge and the export reads once approved.
    current_revision = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported = models.BooleanField(default=False)
    source_id = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["project", "state", "id"]),
            models.Index(fields=["labeler", "state"]),
        ]


class CandidateFlag(models.TextChoices):
    UNSAFE = "unsafe", "Unsafe"
    WRONG = "wrong", "Wrong"


class Ranking(models.Model):
    """One labeler's ranking of one prompt's candidates (design.md contract 7).

    It rides on a Conversation (one to one) holding the prompt's messages, so the
    conversation's state, version, lease, skip, revisions and reviews apply unchanged; the
    conversation's version guards the ranking against silent overwrites too.
    """

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="ranking"
    )
    # Candidate ids in the order this labeler was shown them (shuffled per labeler): the
    # record of what position each candidate had on screen.
    presented_order = models.JSONField(default=list)
    # Best first, a list of tie groups of candidate ids: [[3], [1, 4], [2]]. Empty or partial
    # while a draft; every candidate exactly once once submitted.
    order = models.JSONField(default=list, blank=True)
    # The order as its labeler last submitted it (a reviewer's reorder changes `order` only).
    labeler_order = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    # {"<candidate id>": ["unsafe", "wrong"]}; candidates without a flag are left out.
    flags = models.JSONField(default=dict, blank=True)
    # A reply the labeler wrote that beats every candidate: it ranks first.
    better_reply = models.TextField(blank=True)
    # One entry per submit and per reviewer reorder:
    # {"revision", "kind", "order", "better_reply", "by"} (the audit trail of the order).
    history = models.JSONField(default=list, blank=True)


class MessageRole(models.TextChoices):
    SYSTEM = "system", "System"
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    TOOL = "tool", "Tool"


class MessageOrigin(models.TextChoices):
    HUMAN = "human", "Human"
    MODEL = "model", "Model"
    MODEL_EDITED = "model_edited", "Model, edited by a human"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    position = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=MessageRole)
    content = models.TextField(blank=True)
    origin = models.CharField(max_length=16, choices=MessageOrigin, default=MessageOrigin.HUMAN)
    # What the model wrote before any human edit; kept for the edit ratio and the review diff.
    model_original = models.TextField(blank=True)
    # Structured turns (design.md contract 6). An assistant's thinking before its answer and
    # its calls `[{"id", "type": "function", "function": {"name", "arguments": {...}}}]`;
    # a tool message's answer to one call.
    reasoning = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    tool_call_id = models.CharField(max_length=64, blank=True)
    # The model's own reasoning and calls before any human edit, like model_original.
    model_original_reasoning = models.TextField(blank=True)
    model_original_tool_calls = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["conversation", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "position"], name="unique_message_position"
            )
        ]


class Revision(models.Model):
    """An immutable snapshot of every message, taken at each submit and each reviewer edit."""

    class Kind(models.TextChoices):
        SUBMIT = "submit", "Submitted"
        REVIEW_EDIT = "review_edit", "Edited in review"
        IMPORT = "import", "Imported"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="revisions"
    )
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind)
    # [{"role", "content", "origin", "model_original"}] in order; structured turns add
    # "reasoning", "tool_calls", "tool_call_id" and the model_original_* keys where set.
    messages = models.JSONField()
    # sftpipeline.split.snapshot_dedup_key(messages), set when the revision is written:
    # an export asks the database whether a lower-id conversation says the same.
    content_hash = models.CharField(max_length=64, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["conversation", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "number"], name="unique_revision_number"
            )
        ]


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REQUEST_CHANGES = "request_changes", "Request changes"
    REJECT = "reject", "Reject"


class Review(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reviews")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    decision = models.CharField(max_length=20, choices=ReviewDecision)
    scores = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class ReviewComment(models.Model):
    """A reviewer's comment on one message of the revision the review judged."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="message_comments")
    message_position = models.PositiveIntegerField()
    # What in the message it points at: "" (the whole message), "content", "reasoning",
    # "tool_call:<call id>" or "result" (structured turns).
    part = models.CharField(max_length=80, blank=True)
    text = models.TextField()

    class Meta:
        ordering = ["message_position", "id"]

    @property
    def part_label(self) -> str:
        """The part as a reader says it ("the reasoning", "call call_1"); "" for the whole."""
        if self.part.startswith("tool_call:"):
            return f"call {self.part.removeprefix('tool_call:')}"
        return {"content": "the text", "reasoning": "the reasoning", "result": "the result"}.get(
            self.part, ""
        )


class ReviewClaim(models.Model):
    """A reviewer's short hold on a conversation so two people do not review it at once."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="claims")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    claimed_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "reviewer"], name="unique_review_claim")
        ]


class Notification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"])]


class DraftRequest(JobFields):
    """A request to an OpenAI-compatible endpoint for an assistant draft, run by Celery."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="draft_requests"
    )
    message_position = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    error = models.TextField(blank=True)
    # The model's reply; the editor puts it in the turn only if the turn is still empty.
    text = models.TextField(blank=True)
    # Its reasoning (`reasoning_content`) and calls (arguments parsed to objects), contract 6.
    reasoning = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
