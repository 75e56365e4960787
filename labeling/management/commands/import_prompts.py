from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling.models import ProjectKind
from labeling.services import (
    ImportReportStatus,
    ImportSource,
    ProjectError,
    project_for_import,
    prompts_import,
)


class Command(BaseCommand):
    help = (
        "Import prompts from a JSONL or CSV file into a project. Any error imports nothing; "
        "every error names its line."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .jsonl or .csv file (UTF-8)")
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument(
            "--create-project",
            action="store_true",
            help="create the project if missing: active, default policies, open to every labeler",
        )
        parser.add_argument(
            "--kind",
            choices=ProjectKind.values,
            default=ProjectKind.CONVERSATION,
            help="with --create-project: the new project's kind (ranking: JSONL rows with "
            '"candidates")',
        )
        parser.add_argument(
            "--on-duplicate",
            choices=["skip", "fail"],
            default="skip",
            help="prompts already in the project or earlier in the file: skip them (default) "
            "or fail the import",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            project = project_for_import(
                slug=options["project"], create=options["create_project"], kind=options["kind"]
            )
        except ProjectError as error:
            raise CommandError(str(error)) from error
        report = prompts_import(
            project=project,
            source=ImportSource(name=path.name, path=path),
            user=None,
            on_duplicate=options["on_duplicate"],
        )
        for message in report.duplicates:
            self.stderr.write(f"duplicate: {message}")
        if report.status != ImportReportStatus.IMPORTED:
            for message in report.all_messages():
                self.stderr.write(message)
            raise CommandError(
                f"Nothing imported from {path.name}: {report.error_count} errors, "
                f"{report.duplicate_count} duplicates (import batch {report.batch_id})."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report.rows_imported} prompts into {project.slug} "
                f"({report.duplicate_count} duplicates skipped, batch {report.batch_id})."
            )
        )
