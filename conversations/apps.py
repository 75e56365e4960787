from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        # Registers the AI draft job with the job engine (core.jobs).
        from conversations.services import drafts  # noqa: F401
