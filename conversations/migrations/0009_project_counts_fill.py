"""Fill the maintained project counts (labeling.ProjectCount) from the rows that exist, so
the dashboard and the project list read the same figures as before. From here on the
services keep them (labeling.services.counters)."""

from django.db import migrations
from django.db.models import Count


def _rows(apps):
    Prompt = apps.get_model("labeling", "Prompt")
    Assignment = apps.get_model("labeling", "Assignment")
    Conversation = apps.get_model("conversations", "Conversation")
    counted = [
        (Prompt.objects.all(), "domain_id", None),
        (Prompt.objects.filter(retired_at__isnull=False), "domain_id", "retired"),
        (Assignment.objects.filter(status="submitted"), "prompt__domain_id", "written"),
    ]
    for queryset, domain, name in counted:
        for row in queryset.values("project_id", domain).annotate(n=Count("id")).order_by():
            yield row["project_id"], row[domain] or 0, name or "prompts", row["n"]
    states = (
        Conversation.objects.values("project_id", "prompt__domain_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in states:
        yield row["project_id"], row["prompt__domain_id"] or 0, row["state"], row["n"]


def fill(apps, schema_editor):
    ProjectCount = apps.get_model("labeling", "ProjectCount")
    ProjectCount.objects.all().delete()
    ProjectCount.objects.bulk_create(
        (
            ProjectCount(project_id=project_id, domain_key=domain_key, name=name, value=n)
            for project_id, domain_key, name, n in _rows(apps)
        ),
        batch_size=5000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0008_revision_content_hash"),
        ("labeling", "0008_project_counts"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
