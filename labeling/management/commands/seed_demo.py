import hashlib
import re

from django.core.management.base import BaseCommand
from django.db import transaction

from labeling.demo_data import (
    DEMO_GUIDELINES,
    DEMO_MEMBERS,
    DEMO_PASSWORD,
    DEMO_PROJECT,
    DEMO_PROMPTS,
)
from labeling.models import GuidelineVersion, Project, ProjectStatus, Prompt
from labeling.services import domain_get_or_create, member_save


def _text_key(text: str) -> str:
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode()).hexdigest()


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
        project, created = Project.objects.get_or_create(
            slug=DEMO_PROJECT["slug"],
            defaults={
                **{k: v for k, v in DEMO_PROJECT.items() if k != "slug"},
                "status": ProjectStatus.ACTIVE,
            },
        )
        if created:
            domains = {
                slug: domain_get_or_create(name=slug)
                for slug in {d for d, _, _ in DEMO_PROMPTS if d}
            }
            project.domains.set(domains.values())
            GuidelineVersion.objects.create(project=project, version=1, body=DEMO_GUIDELINES)
            Prompt.objects.bulk_create(
                Prompt(
                    project=project,
                    text=text,
                    text_key=_text_key(text),
                    draft=draft,
                    domain=domains.get(domain),
                    source_id=f"demo-{index}",
                )
                for index, (domain, text, draft) in enumerate(DEMO_PROMPTS, start=1)
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: project {project.slug!r}, {project.prompts.count()} prompts."
            )
        )
