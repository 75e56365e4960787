"""Test settings: the real settings with development defaults and per-run isolation.

Values go through the environment, not just this module, because the Celery worker
process that integration tests start must see exactly the same configuration.
"""

import os
import tempfile
import uuid

os.environ.setdefault("DJANGO_DEBUG", "1")
_run = uuid.uuid4().hex[:8]
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"sft-test-{_run}")
os.environ.setdefault("CELERY_BROKER_DIR", tempfile.mkdtemp(prefix="sft-broker-"))
os.environ.setdefault("EXPORT_ROOT", tempfile.mkdtemp(prefix="sft-exports-"))
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="sft-media-"))

from .settings import *  # noqa: E402, F403

# Fast hashing: tests create many people.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file per run, so parallel runs do not share it and the worker process can open it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(os.environ["CELERY_BROKER_DIR"], "test-db.sqlite3")
    }
