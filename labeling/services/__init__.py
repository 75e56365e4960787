"""Every write in the labeling app. Import from here: `from labeling.services import member_save`."""

from .assignment import leases_expire
from .members import domain_get_or_create, member_save, member_token

__all__ = ["domain_get_or_create", "leases_expire", "member_save", "member_token"]
