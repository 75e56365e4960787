"""One import point for every app's factories."""

from tests.labeling.factories import (
    DomainFactory,
    ProjectFactory,
    PromptFactory,
    UserFactory,
    prompts_imported,
)

__all__ = ["DomainFactory", "ProjectFactory", "PromptFactory", "UserFactory", "prompts_imported"]
