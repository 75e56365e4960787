from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from labeling.demo_data import (
    DEMO_GUIDELINES,
    DEMO_MEMBERS,
    DEMO_PASSWORD,
    DEMO_PROJECT,
    DEMO_PROMPTS,
)
from labeling.models import Project, ProjectStatus
from labeling.services import (
    ImportSource,
    domain_get_or_create,
    member_save,
    project_create,
    prompts_import,
)


class Command(BaseCommand):
    help = "Load the demo: one person per role and a project with 30 prompts. Safe to run twice."

    @transaction.atomic
    def handle(self, *args, **options):
        for username, roles, labeler_domains, reviewer_domains in DEMO_MEMBERS:
            member_save(
                username=username,
                roles=roles,
                labeler_domains=labeler_domains,
                reviewer_domains=reviewer_domains,
                email=f"{username}@example.com",
                password=DEMO_PASSWORD,
            )
        project = Project.objects.filter(slug=DEMO_PROJECT["slug"]).first()
        if project is None:
            domains = [
                domain_get_or_create(name=slug)
                for slug in sorted({d for d, _, _ in DEMO_PROMPTS if d})
            ]
            project = project_create(
                created_by=None,
                domains=domains,
                guidelines=DEMO_GUIDELINES,
                status=ProjectStatus.ACTIVE,
                **DEMO_PROJECT,
            )
            items = [
                {"prompt": text, "domain": domain, "draft": draft, "id": f"demo-{index}"}
                for index, (domain, text, draft) in enumerate(DEMO_PROMPTS, start=1)
            ]
            for item in items:
                if not item["domain"]:
                    del item["domain"]
                if not item["draft"]:
                    del item["draft"]
            report = prompts_import(
                project=project, source=ImportSource(name="demo", items=items), user=None
            )
            if report.status != "imported":
                raise CommandError("; ".join(report.all_messages()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: project {project.slug!r}, {project.prompts.count()} prompts."
            )
        )
