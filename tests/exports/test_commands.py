import io
import json

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_projects():
    reviewer = UserFactory(roles=["reviewer"])
    first, second = ProjectFactory(slug="alpha"), ProjectFactory(slug="beta")
    for index in range(3):
        approved_conversation(first, chat(f"alpha {index}", "ok " * 40), reviewer=reviewer)
    approved_conversation(second, chat("beta", "fine"), reviewer=reviewer)
    return first, second


def test_export_dataset_writes_the_export_and_reports_progress(two_projects, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "export_dataset",
        "--project",
        "alpha",
        "--project",
        "beta",
        "--out",
        str(tmp_path / "ds"),
        "--max-tokens",
        "30",
        "--truncate",
        "--val-fraction",
        "0",
        "--seed",
        "3",
        "--format",
        "parquet",
        "--pack-length",
        "128",
        "--no-dedupe",
        stdout=out,
        stderr=err,
    )
    assert "Exported 4 of 4 approved conversations" in out.getvalue()
    assert "4/4 conversations" in err.getvalue()
    assert "\r" not in err.getvalue()  # not a terminal: plain lines
    names = sorted(p.name for p in (tmp_path / "ds").iterdir())
    assert names == [
        "README.md",
        "manifest.json",
        "train.packed.parquet",
        "train.parquet",
        "validation.packed.parquet",
        "validation.parquet",
    ]
    manifest = json.loads((tmp_path / "ds/manifest.json").read_text())
    assert manifest["config"]["projects"] == ["alpha", "beta"]
    assert manifest["config"]["overflow"] == "truncate"
    assert manifest["config"]["dedupe"] is False
    assert manifest["counts"]["truncated"] == 3
    assert max(pq.read_table(tmp_path / "ds/train.parquet").column("num_tokens").to_pylist()) == 30


def test_export_dataset_refuses_an_unknown_project_and_an_existing_folder(two_projects, tmp_path):
    with pytest.raises(CommandError, match="no project with the slug gamma"):
        call_command("export_dataset", "--project", "gamma", "--out", str(tmp_path / "x"))
    (tmp_path / "taken").mkdir()
    with pytest.raises(CommandError, match="already exists"):
        call_command("export_dataset", "--project", "alpha", "--out", str(tmp_path / "taken"))
    assert not (tmp_path / "x").exists()
