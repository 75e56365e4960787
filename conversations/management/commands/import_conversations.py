"""`manage.py import_conversations FILE --project SLUG`: messages JSONL or OpenAssistant trees."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from conversations.models import ConversationState
from conversations.services.importing import (
    FORMATS,
    STATES,
    ConversationImportError,
    conversations_import,
)
from labeling.models import Project


class Command(BaseCommand):
    help = (
        "Import finished conversations: the export's JSONL ({id, messages, metadata}) or "
        "OpenAssistant message trees. Any bad line is named and nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--create-project", action="store_true")
        parser.add_argument("--state", choices=STATES, default=ConversationState.SUBMITTED.value)
        parser.add_argument("--format", choices=FORMATS, default="messages")
        parser.add_argument(
            "--all-paths",
            action="store_true",
            help="oasst: every root-to-leaf path, not only the best-ranked one",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        slug = options["project"]
        try:
            # One transaction: a project created for a file that fails is not kept either.
            with transaction.atomic(), path.open("rb") as stream:
                project = self._project(slug, options["create_project"])
                result = conversations_import(
                    project=project,
                    stream=stream,
                    file_name=path.name,
                    file_format=options["format"],
                    state=options["state"],
                    all_paths=options["all_paths"],
                )
        except ConversationImportError as error:
            raise CommandError(f"Nothing was imported from {path.name}:\n{error}") from None
        extra = ""
        if result.skipped_existing:
            extra += f"; {result.skipped_existing} already imported, skipped"
        if result.skipped_without_reply:
            extra += f"; {result.skipped_without_reply} trees without a reply, skipped"
        self.stdout.write(
            f"Imported {result.imported} conversations into {project.slug} "
            f"as {options['state']}{extra}."
        )

    def _project(self, slug: str, create: bool) -> Project:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            if not create:
                raise CommandError(f"No project {slug!r}; pass --create-project to create it.")
            project = Project.objects.create(
                name=slug.replace("-", " ").title(), slug=slugify(slug)
            )
        return project
