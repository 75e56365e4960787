"""Maintained per-project counts (`ProjectCount`): what the dashboard and the project list
read instead of counting rows. Every service that changes what is counted calls
`counts_add` in its own transaction, so a count never disagrees with the rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import connection

from labeling.models import ProjectCount

# What the labeling app counts; the conversations app counts its states by their values.
PROMPTS = "prompts"
RETIRED = "retired"
WRITTEN = "written"  # assignments submitted: with the leases, the slots taken

SHARDS = 8


def counts_add(
    *,
    project_id: int,
    changes: Iterable[tuple[int | None, str, int]],
    shard_by: int = 0,
) -> None:
    """Add each `(domain_id, name, delta)` of `changes` to the project's counts, in one
    statement whatever their number. `shard_by` (a person's id) spreads concurrent writers
    over rows. Caller runs inside the transaction of the change it counts.

    An upsert (`ON CONFLICT … DO UPDATE`, PostgreSQL and SQLite alike): a count's row is
    created the first time it moves. Rows are written in key order, so two writers never
    wait on each other in opposite orders.
    """
    shard = shard_by % SHARDS
    summed: dict[tuple[int, str], int] = defaultdict(int)
    for domain_id, name, delta in changes:
        summed[(domain_id or 0, name)] += delta
    rows = sorted((key, delta) for key, delta in summed.items() if delta)
    if not rows:
        return
    table = connection.ops.quote_name(ProjectCount._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params: list[int | str] = []
    for (domain_key, name), delta in rows:
        params += [project_id, domain_key, shard, name, delta]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (project_id, domain_key, shard, name, value) VALUES {values} "
            "ON CONFLICT (project_id, domain_key, shard, name) "
            f"DO UPDATE SET value = {table}.value + excluded.value",
            params,
        )
