import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sft_studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The job engine's beat task: `core` is a library, not an installed app.
app.autodiscover_tasks(["core"])


def _ensure_broker_folders() -> None:
    """The filesystem transport and result backend need their folders before the first message."""
    from django.conf import settings

    for folder in getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).values():
        if isinstance(folder, str) and folder.startswith("/"):
            os.makedirs(folder, exist_ok=True)
    backend = getattr(settings, "CELERY_RESULT_BACKEND", "") or ""
    if backend.startswith("file://"):
        os.makedirs(backend.removeprefix("file://"), exist_ok=True)


app.on_after_configure.connect(lambda sender, **kwargs: _ensure_broker_folders(), weak=False)
