import factory

from labeling.models import Domain, ImportBatch, Project, ProjectStatus, Prompt, User
from labeling.services import domain_get_or_create, member_save, text_key


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"domain-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.Factory):
    """People are made through `member_save`, the service every entry point uses."""

    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"person-{n}")
    roles = ("labeler",)
    labeler_domains = ()
    reviewer_domains = ()
    password = "secret-pass-123"

    @classmethod
    def _create(cls, model_class, **kwargs):
        user, _ = member_save(
            username=kwargs["username"],
            roles=kwargs["roles"],
            labeler_domains=kwargs["labeler_domains"],
            reviewer_domains=kwargs["reviewer_domains"],
            email=f"{kwargs['username']}@example.com",
            password=kwargs["password"],
        )
        return user


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    status = ProjectStatus.ACTIVE

    @factory.post_generation
    def domains(self, create, extracted, **kwargs):
        if create and extracted:
            self.domains.set([domain_get_or_create(name=name) for name in extracted])


fold_text_key = text_key


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    text = factory.Sequence(lambda n: f"Question number {n}: how does this work?")
    text_key = factory.LazyAttribute(lambda o: fold_text_key(o.text))


class ImportBatchFactory(factory.django.DjangoModelFactory):
    """A finished import as the project page's history lists it."""

    class Meta:
        model = ImportBatch

    project = factory.SubFactory(ProjectFactory)
    status = ImportBatch.Status.IMPORTED
    file_name = factory.Sequence(lambda n: f"prompts-{n}.jsonl")


def prompts_imported(project, rows) -> list[Prompt]:
    """Prompts made the way an admin makes them, through the import service (so the
    project's maintained counts follow): `rows` are texts or {"prompt", "domain", …}."""
    from labeling.services import ImportSource, prompts_import

    before = set(project.prompts.values_list("pk", flat=True))
    report = prompts_import(
        project=project, source=ImportSource(name="rows.json", items=list(rows)), user=None
    )
    assert report.status == "imported", report.all_messages()
    return list(project.prompts.exclude(pk__in=before).order_by("pk"))
