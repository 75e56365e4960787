"""One import point for every app's factories."""

from tests.labeling.factories import DomainFactory, ProjectFactory, PromptFactory, UserFactory

__all__ = ["DomainFactory", "ProjectFactory", "PromptFactory", "UserFactory"]
