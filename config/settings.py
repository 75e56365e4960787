"""Settings, every one from the environment with a safe default for the embedded mode."""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SFT_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").strip().lower() in {
        "1",
        "true",
        "yes",
        "on",
    }


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY, or DJANGO_DEBUG=1 for the development default.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "labeling",
    "conversations",
    "exports",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.nul.NulRefusingMiddleware",
    "config.errors.NotFoundPageInDebugMiddleware",
    # Last, so that it sees the flag a failed sign-in leaves on the request.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "labeling.context_processors.navigation",
                "conversations.context_processors.notifications",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A worker process shares the file: wait for locks instead of failing, and take
    # the write lock at BEGIN so read-then-write transactions serialize cleanly.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests use a file, not memory, so that a real Celery worker process sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "labeling.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (django-axes, see labeling/lockout.py): wrong passwords count against
# the account and the address, bad API tokens against the address; at the limit, that
# account or address waits LOGIN_LOCKOUT_MINUTES after its last failure.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = "labeling.lockout.lockout_parameters"
AXES_LOCKOUT_CALLABLE = "labeling.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "labeling.lockout.client_address"
# Tries during a lockout do not push its end further away: the time we show stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Proxies in front of the app that append the caller to X-Forwarded-For (0: none, the
# connection's address is the caller's).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

# Password reset links work once and for this long.
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(24 * 3600)))

# Email (password resets): printed to the console unless a backend is configured.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "SFT Studio <noreply@localhost>")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
EXPORT_ROOT = Path(os.environ.get("EXPORT_ROOT", VAR_DIR / "exports"))
# Conversations an export job reads per database query; progress and the job's heartbeat
# are written after each chunk.
EXPORT_CHUNK_SIZE = int(os.environ.get("EXPORT_CHUNK_SIZE", "1000"))
# The job engine (core/jobs.py) for exports, prompt imports and AI drafts. A `running`
# job whose heartbeat is older than JOB_STALE_AFTER_SECONDS lost its worker: celery beat
# (every JOB_RECOVER_INTERVAL_SECONDS) sends it again and a worker takes it over, so a
# dead run is picked up within stale + interval (90 s by default). A job started
# JOB_MAX_ATTEMPTS times whose runs all died fails instead of looping. A queued job whose
# task was sent but never started is sent again after JOB_RESEND_QUEUED_AFTER_SECONDS.
JOB_STALE_AFTER_SECONDS = float(
    os.environ.get("JOB_STALE_AFTER_SECONDS", os.environ.get("EXPORT_STALE_AFTER_SECONDS", "60"))
)
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "3"))
JOB_RECOVER_INTERVAL_SECONDS = float(os.environ.get("JOB_RECOVER_INTERVAL_SECONDS", "30"))
JOB_RESEND_QUEUED_AFTER_SECONDS = float(os.environ.get("JOB_RESEND_QUEUED_AFTER_SECONDS", "900"))
# Conversations per shard: an export splits its conversations by id range into shards of
# this many, each a Celery task that any worker may run (design.md contract 8).
EXPORT_SHARD_SIZE = int(os.environ.get("EXPORT_SHARD_SIZE", "25000"))
# Where exports are published: a local folder (EXPORT_ROOT, the default) or an
# S3-compatible bucket, `s3://bucket/prefix`, reached with boto3's own variables
# (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION).
EXPORT_STORAGE_URL = os.environ.get("EXPORT_STORAGE_URL", "")
# S3 downloads: redirect to a presigned URL valid this many seconds (the browser must
# reach AWS_ENDPOINT_URL), or 0 to stream the file through the web process.
EXPORT_S3_PRESIGNED_SECONDS = int(os.environ.get("EXPORT_S3_PRESIGNED_SECONDS", "0"))

# Uploads: prompt and conversation files stream from disk past this size.
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", str(200 * 1024 * 1024)))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# A prompt file larger than this imports in the background (progress page; 202 from the
# API) whatever the client asked: a synchronous import of a larger file could outlive the
# web server's timeout (gunicorn --timeout 120).
IMPORT_SYNC_MAX_BYTES = int(os.environ.get("IMPORT_SYNC_MAX_BYTES", str(5 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = int(
    os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(10 * 1024 * 1024))
)

# OpenAI-compatible chat-completions endpoint for AI drafts (off when unset).
AI_DRAFT_BASE_URL = os.environ.get("AI_DRAFT_BASE_URL", "")
AI_DRAFT_MODEL = os.environ.get("AI_DRAFT_MODEL", "")
AI_DRAFT_API_KEY = os.environ.get("AI_DRAFT_API_KEY", "")
AI_DRAFT_TIMEOUT_SECONDS = float(os.environ.get("AI_DRAFT_TIMEOUT_SECONDS", "60"))

# Celery: Redis in production; a filesystem transport with no server by default.
BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "broker"))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task a worker took but never acknowledged (the worker died) goes back to the
    # queue after this many seconds. Longer than any export should run.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_BROKER_VISIBILITY_TIMEOUT", "3600"))
    }
# Results are kept only for chords (a sharded export's shard tasks): Redis beside a Redis
# broker, files beside the embedded filesystem broker.
CELERY_RESULT_BACKEND = os.environ.get(
    "CELERY_RESULT_BACKEND",
    CELERY_BROKER_URL
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else f"file://{BROKER_DIR / 'results'}",
)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "sft-studio")
CELERY_TASK_ACKS_LATE = True
# A broker that is down answers within about a second (the request then says 503 and
# the job starts later), instead of Celery's default retries.
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.3,
    "interval_max": 0.5,
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "expire-leases": {"task": "labeling.tasks.expire_leases", "schedule": 60.0},
    "expire-stale-ai-drafts": {
        "task": "conversations.tasks.draft_requests_expire",
        "schedule": 60.0,
    },
    "remove-stale-uploads": {"task": "labeling.tasks.remove_stale_uploads", "schedule": 3600.0},
    "recover-jobs": {"task": "core.tasks.recover_jobs", "schedule": JOB_RECOVER_INTERVAL_SECONDS},
}

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: unauthenticated API calls then get 401 with a WWW-Authenticate header.
        "labeling.lockout.LockoutTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["labeling.permissions.IsMember"],
    # PostgreSQL cannot store U+0000: a JSON body holding one is a 400 naming the field.
    "DEFAULT_PARSER_CLASSES": [
        "config.nul.NulRefusingJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "SFT Studio API",
    "DESCRIPTION": "Prompts, tasks, conversations, reviews and dataset exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["labeling.permissions.IsMember"],
    # Several models have a "status"; name each choice set after its owner.
    "ENUM_NAME_OVERRIDES": {
        "ProjectStatusEnum": "labeling.models.ProjectStatus",
        "ImportReportStatusEnum": "labeling.services.imports.ImportReportStatus.values",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Production hardening: on unless DEBUG; each can be turned off behind a TLS proxy that
# already does it.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True

# Content-Security-Policy (django-csp): scripts, styles, images and connections from this
# origin only, no inline script, event attribute or style attribute, nothing framed, no
# plugins. Templates keep behaviour in static/js (data- attributes), so this holds on
# every page, the admin and the API docs included. Images from other origins are not
# loaded: a page cannot make a reader's browser tell another server who looked.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # data: images are inside the page (Swagger UI's icons): they reach no server.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
