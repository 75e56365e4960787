from django.db.models import QuerySet

from .models import Domain, User


def member_list() -> QuerySet[User]:
    return User.objects.order_by("username").prefetch_related("labeler_domains", "reviewer_domains")


def domain_list() -> QuerySet[Domain]:
    return Domain.objects.order_by("slug")
