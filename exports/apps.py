from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"

    def ready(self) -> None:
        # Registers the export job with the job engine (core.jobs).
        from exports.services import jobs  # noqa: F401
