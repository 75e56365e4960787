from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from core.columns import max_length
from core.exceptions import ApplicationError
from labeling.models import Domain, Role, User
from labeling.slugs import slug_that_fits

USERNAME_MAX_LENGTH = max_length(User, "username")
EMAIL_MAX_LENGTH = max_length(User, "email")
DOMAIN_NAME_MAX_LENGTH = max_length(Domain, "name")


class MemberError(ApplicationError):
    """A member could not be saved; `field` names the field, the message why."""


def domain_get_or_create(*, name: str) -> Domain:
    """Domains are expertise tags; unknown ones are created on first use."""
    if len(name.strip()) > DOMAIN_NAME_MAX_LENGTH:
        raise MemberError(f'domain "{name[:40]}…": at most {DOMAIN_NAME_MAX_LENGTH} characters')
    slug = slug_that_fits(name, max_length(Domain, "slug"))
    if not slug:
        raise MemberError(f'domain "{name}": use letters, digits or dashes')
    domain, _ = Domain.objects.get_or_create(slug=slug, defaults={"name": name.strip()})
    return domain


@transaction.atomic
def member_save(
    *,
    username: str,
    roles: Iterable[str],
    labeler_domains: Iterable[str] = (),
    reviewer_domains: Iterable[str] = (),
    email: str | None = None,
    password: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    is_active: bool | None = None,
) -> tuple[User, bool]:
    """Create or update a person with exactly these roles and domains. Returns (user, created)."""
    username = username.strip()
    if not username:
        raise MemberError("required", field="username")
    roles = set(roles)
    unknown = roles - set(Role.values)
    if unknown:
        raise MemberError(
            f"unknown role {', '.join(sorted(unknown))}; use {', '.join(Role.values)}",
            field="role",
        )

    user = User.objects.filter(username=username).first()
    created = user is None
    if user is None:
        # Django's own rule (letters, digits and @.+-_); people saved before it was checked
        # here keep their names.
        try:
            User.username_validator(username)
        except ValidationError as error:
            raise MemberError(" ".join(error.messages), field="username") from None
        if len(username) > USERNAME_MAX_LENGTH:
            raise MemberError(f"at most {USERNAME_MAX_LENGTH} characters", field="username")
        user = User(username=username)
    user.is_labeler = Role.LABELER in roles
    user.is_reviewer = Role.REVIEWER in roles
    user.is_project_admin = Role.ADMIN in roles
    # Admins also get the Django admin site.
    user.is_staff = user.is_project_admin
    if email is not None:
        user.email = email
    if first_name is not None:
        user.first_name = first_name
    if last_name is not None:
        user.last_name = last_name
    if is_active is not None:
        user.is_active = is_active
    if password:
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.save()
    user.labeler_domains.set([domain_get_or_create(name=d) for d in labeler_domains])
    user.reviewer_domains.set([domain_get_or_create(name=d) for d in reviewer_domains])
    return user, created


def member_token(*, user: User) -> str:
    """The person's API token, created on first request."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
