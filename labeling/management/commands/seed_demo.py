from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from labeling.demo_data import (
    DEMO_GUIDELINES,
    DEMO_MEMBERS,
    DEMO_PASSWORD,
    DEMO_PROJECT,
    DEMO_PROMPTS,
    RANKING_GUIDELINES,
    RANKING_PROJECT,
    RANKING_PROMPTS,
    TOOLS_GUIDELINES,
    TOOLS_PROJECT,
    TOOLS_PROMPTS,
)
from labeling.models import Project, ProjectStatus
from labeling.services import (
    ImportReportStatus,
    ImportSource,
    domain_get_or_create,
    member_save,
    project_create,
    prompts_import,
)


class Command(BaseCommand):
    help = (
        "Load the demo: one person per role, a project with 30 prompts, a tool-use project "
        "(python and search tools) and a ranking project with candidate replies to order. "
        "Safe to run twice."
    )

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
        projects = [
            self._project(DEMO_PROJECT, DEMO_GUIDELINES, DEMO_PROMPTS),
            self._project(
                TOOLS_PROJECT, TOOLS_GUIDELINES, [(d, text, "") for d, text in TOOLS_PROMPTS]
            ),
            self._project(
                RANKING_PROJECT,
                RANKING_GUIDELINES,
                [(d, text, "") for d, text, _ in RANKING_PROMPTS],
                candidates=[candidates for _, _, candidates in RANKING_PROMPTS],
            ),
        ]
        summary = ", ".join(f"{p.slug!r} with {p.prompts.count()} prompts" for p in projects)
        self.stdout.write(self.style.SUCCESS(f"Demo ready: projects {summary}."))

    def _project(
        self, fields: dict, guidelines: str, prompts: list, candidates: list | None = None
    ) -> Project:
        """The project (created once, through the services) with its prompts (and, for a
        ranking project, each prompt's candidate replies)."""
        project = Project.objects.filter(slug=fields["slug"]).first()
        if project is not None:
            return project
        domains = [
            domain_get_or_create(name=slug) for slug in sorted({d for d, _, _ in prompts if d})
        ]
        project = project_create(
            created_by=None,
            domains=domains,
            guidelines=guidelines,
            status=ProjectStatus.ACTIVE,
            **fields,
        )
        items = []
        for index, (domain, text, draft) in enumerate(prompts, start=1):
            item = {"prompt": text, "id": f"demo-{fields['slug']}-{index}"}
            if domain:
                item["domain"] = domain
            if draft:
                item["draft"] = draft
            if candidates:
                item["candidates"] = [{"content": reply} for reply in candidates[index - 1]]
            items.append(item)
        report = prompts_import(
            project=project, source=ImportSource(name="demo", items=items), user=None
        )
        if report.status != ImportReportStatus.IMPORTED:
            raise CommandError("; ".join(report.all_messages()))
        return project
