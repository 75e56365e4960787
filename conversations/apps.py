from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        # Registers the AI draft and conversation import jobs with the job engine (core.jobs).
        from conversations.services import drafts, import_jobs  # noqa: F401
