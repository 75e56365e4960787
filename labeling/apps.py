from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        # Registers the prompt import job with the job engine (core.jobs).
        from labeling.services import import_jobs  # noqa: F401
