import os

from django.core.management.base import BaseCommand, CommandError

from labeling.models import Role
from labeling.services import member_save, member_token
from labeling.services.members import MemberError


class Command(BaseCommand):
    help = (
        "Create or update a person with roles and domains. The password comes from "
        "MEMBER_PASSWORD when set; --token prints the API token as the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            choices=Role.values,
            required=True,
            help="labeler, reviewer or admin; repeat for several",
        )
        parser.add_argument(
            "--domain", action="append", default=[], help="a labeler domain; repeat"
        )
        parser.add_argument(
            "--reviewer-domain", action="append", default=[], help="a reviewer domain; repeat"
        )
        parser.add_argument("--email")
        parser.add_argument("--token", action="store_true", help="print the API token last")

    def handle(self, *args, **options):
        try:
            user, created = member_save(
                username=options["username"],
                roles=options["role"],
                labeler_domains=options["domain"],
                reviewer_domains=options["reviewer_domain"],
                email=options["email"],
                password=os.environ.get("MEMBER_PASSWORD") or None,
            )
        except MemberError as error:
            raise CommandError(str(error)) from error
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {user.username}: roles {', '.join(user.roles)}")
        if options["token"]:
            self.stdout.write(member_token(user=user))
