"""The OpenAPI fuzzer: schemathesis sends generated requests to every operation of a live
server, as an admin and as a labeler, and checks each answer against /api/schema/.

Checks: no 5xx, every status code, content type, header and body as the schema says.
Path parameters are drawn mostly from the seeded objects (a project, its prompts, a
conversation, an import batch, a finished export and its files), so the operations reach
real rows and not only 404s. Deterministic (fixed seed, derandomized) and bounded by
`FUZZ_MAX_EXAMPLES` examples per operation.

Run alone: `pytest tests/test_api_fuzz.py` (add `-s` to watch schemathesis' own report).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conversations.services import next_task
from exports.models import ExportJob
from exports.services import export_config_from_dict, export_job_execute
from labeling.services import member_token, prompts_import
from labeling.services.imports import ImportSource
from tests.conversations.factories import (
    ranking_project,
    started_ranking,
    submitted_conversation,
    submitted_ranking,
)
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
SEED = 13
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture
def world(tmp_path):
    """Objects for the fuzzer to find: ids and slugs it draws path parameters from."""
    admin = UserFactory(
        username="fuzz-admin", roles=["admin", "reviewer"], reviewer_domains=["python"]
    )
    labeler = UserFactory(username="fuzz-labeler", labeler_domains=["python"])
    project = ProjectFactory(slug="fuzz-project", domains=["python"])
    # PATCH and DELETE get projects of their own: a renamed or deleted main project would
    # turn the rest of the run into 404s.
    ProjectFactory(slug="fuzz-patched", domains=["python"])
    ProjectFactory(slug="fuzz-doomed", domains=["python"])
    PromptFactory.create_batch(3, project=project)
    report = prompts_import(
        project=project,
        source=ImportSource(name="seed.json", items=["What is a tuple?", "What is a set?"]),
        user=admin,
        on_duplicate="skip",
    )
    task = next_task(labeler, project)
    # Someone else's submitted work: the admin (also a reviewer) may claim and review it.
    submitted = submitted_conversation(project=project)
    approved_conversation(project, chat("What is HTTP?", "A protocol."), reviewer=admin)
    # Rankings: the labeler's own to save and submit, someone else's for the admin to review.
    rankings = ranking_project(slug="fuzz-ranking")
    own_ranking = started_ranking(project=rankings, labeler=labeler)
    ranking_to_review = submitted_ranking(project=rankings)
    config = export_config_from_dict({"projects": ["fuzz-project"], "val_fraction": 0})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin)
    export_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return {
        "tokens": {
            "admin": member_token(user=admin),
            "labeler": member_token(user=labeler),
        },
        "values": {
            "slug": ["fuzz-project"],
            "conversation_id": [
                task.conversation_id,
                submitted.pk,
                own_ranking.pk,
                ranking_to_review.pk,
            ],
            "assignment_id": [task.assignment.pk],
            "batch_id": [report.batch_id],
            "draft_request_id": [1],
            "id": [job.pk],  # an export's; the schema names `<int:pk>` "id"
            "name": [artifact.name for artifact in job.artifacts.all()],
        },
    }


def _config(path: Path, values: dict[str, list]) -> Path:
    """schemathesis.toml: each path parameter drawn from the seeded values 8 times in 10."""
    lines = []
    for name, choices in values.items():
        rendered = ", ".join(repr(v) if isinstance(v, int) else f'"{v}"' for v in choices)
        lines += [f"[dictionaries.{name}]", f"values = [{rendered}]", ""]
    lines.append("[parameters]")
    for name in values:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.8 }}')
    for operation_id, slug in (
        ("projects_partial_update", "fuzz-patched"),
        ("projects_destroy", "fuzz-doomed"),
    ):
        lines += [
            "",
            "[[operations]]",
            f'include-operation-id = "{operation_id}"',
            f'parameters = {{ "path.slug" = "{slug}" }}',
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("role", ["admin", "labeler"])
def test_fuzzer_finds_no_server_error_and_no_schema_violation(
    role, world, live_server, settings, tmp_path
):
    # Generated requests may carry a malformed Authorization header; each counts as a
    # failed sign-in against 127.0.0.1, the address of every fuzz request, and the default
    # limit would lock the whole run out into 429s after ten.
    settings.AXES_FAILURE_LIMIT = 100_000
    config = _config(tmp_path / "schemathesis.toml", world["values"])
    # Fetched here, with time to spare: generating the schema can outlast schemathesis'
    # own 10-second read timeout on a busy machine.
    schema = tmp_path / "openapi.json"
    authorization = f"Token {world['tokens'][role]}"
    response = requests.get(
        f"{live_server.url}/api/schema/",
        headers={"Authorization": authorization, "Accept": "application/json"},
        timeout=120,
    )
    response.raise_for_status()
    schema.write_bytes(response.content)
    command = [
        str(Path(sys.executable).with_name("st")),
        *("--config-file", str(config), "--no-color"),
        "run",
        str(schema),
        *("--url", live_server.url),
        *("--header", f"Authorization: {authorization}"),
        *("--checks", CHECKS),
        *("--max-examples", str(MAX_EXAMPLES)),
        *("--seed", str(SEED)),
        "--generation-deterministic",
        *("--generation-with-security-parameters", "false"),
        *("--phases", "examples,fuzzing"),
        *("--workers", "1"),
        *("--request-timeout", "30"),
        "--continue-on-failure",
    ]
    # In tmp_path: schemathesis keeps its own files in the working directory.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]
