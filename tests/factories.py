"""One import point for every app's factories."""

from tests.labeling.factories import (
    DomainFactory,
    ImportBatchFactory,
    ProjectFactory,
    PromptFactory,
    UserFactory,
    prompts_imported,
)

__all__ = [
    "DomainFactory",
    "ImportBatchFactory",
    "ProjectFactory",
    "PromptFactory",
    "UserFactory",
    "prompts_imported",
]
