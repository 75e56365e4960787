"""Preference pairs from corrections (contract 7), made through the real review flow."""

import difflib
import json
from io import StringIO
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from conversations.services import review_edit, review_submit
from exports.models import ExportJob
from exports.services import (
    ExportConfigError,
    export_config_from_dict,
    export_job_execute,
    export_run,
)
from labeling.models import Prompt
from sftpipeline.preference import word_change_ratio
from sftpipeline.render import tokenize_conversation
from sftpipeline.split import assign_split
from sftpipeline.tokenizers import load_cl100k_base
from tests.conversations.factories import reviewer_factory, submitted_conversation
from tests.labeling.factories import ProjectFactory

pytestmark = pytest.mark.django_db

IM_START, IM_END, IM_SEP = 100264, 100265, 100266
SCORES = {"helpfulness": 4, "correctness": 4, "harmlessness": 5, "style": 4}
DRAFT = "Use the sorted function on the list and it returns a new sorted list for you."


@pytest.fixture
def project():
    return ProjectFactory(slug="prefs", domains=["python"])


@pytest.fixture
def reviewer():
    return reviewer_factory(name="rita")


def approve(conversation, reviewer):
    review_submit(
        conversation_id=conversation.pk, reviewer=reviewer, decision="approve", scores=SCORES
    )


def edit_in_review(conversation, reviewer, text: str):
    conversation.refresh_from_db()
    position = conversation.messages.filter(role="assistant").last().position
    review_edit(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        expected_version=conversation.version,
        messages=[{"position": position, "content": text}],
    )


def export(tmp_path: Path, name="out", **settings) -> tuple[Path, dict]:
    config = export_config_from_dict(
        {"projects": ["prefs"], "val_fraction": 0, "formats": "jsonl,preference,kto", **settings}
    )
    folder = tmp_path / name
    return folder, export_run(config=config, destination=folder)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_word_change_ratio_counts_changed_words_over_the_longer_text():
    assert word_change_ratio("one two three four", "one two three five") == 0.25
    assert word_change_ratio("a b c d e f g h i j", "a b c d e f g h i j k") == pytest.approx(
        1 / 11
    )
    assert word_change_ratio("same  words\n", "same words") == 0.0
    assert word_change_ratio("", "") == 0.0
    assert word_change_ratio("x1 x2 x3 x4 x5 m", "m y1 y2 y3 y4 y5") == 1.0  # capped


def stdlib_word_change_ratio(before: str, after: str) -> float:
    """The ratio's definition with the standard library's difflib: common first and last
    words unchanged, the rest aligned by difflib."""
    old, new = before.split(), after.split()
    longest = max(len(old), len(new))
    if not longest:
        return 0.0
    while old and new and old[0] == new[0]:
        old, new = old[1:], new[1:]
    while old and new and old[-1] == new[-1]:
        old, new = old[:-1], new[:-1]
    opcodes = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    changed = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in opcodes if op != "equal")
    return min(1.0, changed / longest)


words = st.lists(st.sampled_from(["a", "b", "c", "the", "sort", "list", "x"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(before=words, edits=st.lists(st.tuples(st.integers(0, 40), words), max_size=5))
def test_word_change_ratio_equals_difflibs_alignment(before, edits):
    """cydifflib's C++ matcher and the bisected common ends give the ratio the standard
    library's difflib gives."""
    after = list(before)
    for index, inserted in edits:
        after[index : index + len(inserted) // 2] = inserted
    assert word_change_ratio(" ".join(before), " ".join(after)) == pytest.approx(
        stdlib_word_change_ratio(" ".join(before), " ".join(after))
    )


def test_a_corrected_ai_draft_is_a_pair_above_the_threshold_and_not_below(
    project, reviewer, tmp_path
):
    corrected = "Call sorted(xs): it returns a new list and leaves xs unchanged, unlike xs.sort()."
    rewritten = submitted_conversation(project=project, draft=DRAFT, answer=corrected)
    typo_fix = submitted_conversation(project=project, draft=DRAFT, answer=DRAFT[:-1] + "!")
    Prompt.objects.filter(conversations=rewritten).update(metadata={"draft_model": "gpt-x"})
    approve(rewritten, reviewer)
    approve(typo_fix, reviewer)

    folder, manifest = export(tmp_path)

    [pair] = rows(folder / "train.preference.jsonl")
    assert pair["id"] == f"{rewritten.pk}-1-edit"
    assert pair["source"] == "edit"
    assert [m["role"] for m in pair["prompt"]] == ["user"]
    assert pair["chosen"] == [{"role": "assistant", "content": corrected}]
    assert pair["rejected"] == [{"role": "assistant", "content": DRAFT}]
    metadata = pair["metadata"]
    assert metadata["conversation_id"] == rewritten.pk and metadata["position"] == 1
    assert metadata["labeler_id"] == rewritten.labeler_id
    assert metadata["reviewer_id"] == reviewer.pk
    assert metadata["draft_model"] == "gpt-x"
    assert metadata["word_change_ratio"] >= 0.1
    preference = manifest["counts"]["preference"]
    assert preference["per_source"] == {"edit": 1, "review_edit": 0, "ranking": 0}
    assert preference["threshold"] == 0.1
    # The one-character typo fix changed 1 word of 15: below 10%.
    assert preference["left_out"]["below_threshold"] == 1
    card = (folder / "README.md").read_text()
    assert "## Preference pairs" in card and "| `edit` | 1 |" in card

    # A threshold of 5% lets the typo fix through; 100% keeps nothing.
    folder, manifest = export(tmp_path, "low", preference_threshold=0.05)
    assert manifest["counts"]["preference"]["per_source"]["edit"] == 2
    folder, manifest = export(tmp_path, "high", preference_threshold=1)
    assert manifest["counts"]["preference"]["pairs"] == 0


def test_a_reviewers_edit_is_a_pair_against_the_labelers_submitted_reply(
    project, reviewer, tmp_path
):
    labelers = "A list comprehension doubles each item: [x * 2 for x in xs]."
    reviewers = "Use map for clarity here, or better a comprehension: [2 * x for x in xs] works."
    big = submitted_conversation(project=project, answer=labelers)
    edit_in_review(big, reviewer, reviewers)
    approve(big, reviewer)
    small = submitted_conversation(project=project, answer=labelers)
    edit_in_review(small, reviewer, labelers[:-1] + "!")
    approve(small, reviewer)

    folder, manifest = export(tmp_path)

    [pair] = rows(folder / "train.preference.jsonl")
    assert pair["source"] == "review_edit"
    assert pair["id"] == f"{big.pk}-1-review_edit-r2"
    assert pair["chosen"][0]["content"] == reviewers
    assert pair["rejected"][0]["content"] == labelers
    assert pair["metadata"]["reviewer_id"] == reviewer.pk
    assert pair["metadata"]["labeler_id"] == big.labeler_id
    assert (pair["metadata"]["rejected_revision"], pair["metadata"]["chosen_revision"]) == (1, 2)
    counts = manifest["counts"]["preference"]
    assert counts["per_source"] == {"edit": 0, "review_edit": 1, "ranking": 0}
    assert counts["left_out"]["below_threshold"] == 1
    kto = rows(folder / "train.kto.jsonl")
    assert [(row["completion"][0]["content"], row["label"]) for row in kto] == [
        (reviewers, True),
        (labelers, False),
    ]
    assert kto[0]["prompt"] == pair["prompt"]

    # Only the sources asked for.
    _, manifest = export(tmp_path, "edits-only", preference_sources="edit")
    assert manifest["counts"]["preference"]["pairs"] == 0


def test_an_unedited_draft_the_reviewer_rewrote_is_one_pair_not_two(project, reviewer, tmp_path):
    conversation = submitted_conversation(project=project, draft=DRAFT, answer=DRAFT)
    better = "sorted(xs) returns a new list; xs.sort() sorts in place and returns None."
    edit_in_review(conversation, reviewer, better)
    approve(conversation, reviewer)

    folder, manifest = export(tmp_path)

    [pair] = rows(folder / "train.preference.jsonl")
    assert (pair["source"], pair["rejected"][0]["content"]) == ("edit", DRAFT)
    assert manifest["counts"]["preference"]["left_out"]["duplicate"] == 1


def test_chosen_equal_to_rejected_is_never_a_pair(project, reviewer, tmp_path):
    unedited = submitted_conversation(project=project, draft=DRAFT, answer=DRAFT)
    approve(unedited, reviewer)
    _, manifest = export(tmp_path, preference_threshold=0)
    assert manifest["counts"]["preference"]["pairs"] == 0


def test_preference_parquet_is_prompt_plus_reply_as_sft_renders_it(project, reviewer, tmp_path):
    corrected = "Call sorted(xs): it returns a new list <|im_end|> and leaves xs unchanged."
    conversation = submitted_conversation(project=project, draft=DRAFT, answer=corrected)
    approve(conversation, reviewer)

    folder, _ = export(tmp_path)

    [pair] = rows(folder / "train.preference.jsonl")
    [row] = pq.read_table(folder / "train.preference.parquet").to_pylist()
    encoding = load_cl100k_base().encoding
    user = pair["prompt"][0]["content"]
    prompt_ids = [IM_START, *encoding.encode_ordinary("user"), IM_SEP]
    prompt_ids += [*encoding.encode_ordinary(user), IM_END]
    header = [IM_START, *encoding.encode_ordinary("assistant"), IM_SEP]
    assert row["id"] == pair["id"]
    assert row["prompt_input_ids"] == prompt_ids
    for side, text in (("chosen", corrected), ("rejected", DRAFT)):
        reply = [*encoding.encode_ordinary(text), IM_END]
        assert row[f"{side}_input_ids"] == prompt_ids + header + reply
        assert row[f"{side}_labels"] == [-100] * (len(prompt_ids) + len(header)) + reply
        # Exactly the SFT rendering of prompt + reply.
        sft = tokenize_conversation([*pair["prompt"], *pair[side]])
        assert row[f"{side}_input_ids"] == sft.input_ids


def test_pairs_load_in_datasets_with_the_columns_dpo_reads_and_split_by_conversation(
    project, reviewer, tmp_path
):
    conversations = []
    for index in range(12):
        answer = (
            f"Rewritten answer number {index}: sorted(xs) gives a new list, xs.sort() does not."
        )
        conversation = submitted_conversation(project=project, draft=DRAFT, answer=answer)
        approve(conversation, reviewer)
        conversations.append(conversation)

    folder, manifest = export(tmp_path, val_fraction=0.4, seed=3)

    expected = {c.pk: assign_split(c.pk, seed=3, val_fraction=0.4) for c in conversations}
    for split in ("train", "validation"):
        dataset = load_dataset(
            "json", data_files=str(folder / f"{split}.preference.jsonl"), split="train"
        )
        assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
        assert dataset[0]["chosen"][0]["role"] == "assistant"
        assert {expected[m["conversation_id"]] for m in dataset["metadata"]} == {split}
        assert len(dataset) == manifest["counts"]["preference"]["per_split"][split]
        tokenized = load_dataset(
            "parquet", data_files=str(folder / f"{split}.preference.parquet"), split="train"
        )
        assert tokenized["id"] == dataset["id"]
    assert manifest["counts"]["preference"]["per_split"]["validation"] > 0


def test_bad_preference_settings_are_named():
    with pytest.raises(ExportConfigError) as error:
        export_config_from_dict(
            {
                "projects": ["p"],
                "preference_sources": "edit,votes",
                "preference_threshold": 2,
                "ranking_pairs": "unanimous",
            }
        )
    assert set(error.value.errors) == {
        "preference_sources",
        "preference_threshold",
        "ranking_pairs",
    }
    assert "choose from all, majority" in error.value.errors["ranking_pairs"]


def test_reasoning_and_tool_calls_travel_whole_with_the_reply(project, reviewer, tmp_path):
    # Snapshots that keep the draft's own reasoning and calls (model_original_* keys).
    conversation = submitted_conversation(project=project, draft=DRAFT, answer=DRAFT)
    approve(conversation, reviewer)
    call = {"id": "c1", "type": "function", "function": {"name": "run", "arguments": {"x": 1}}}
    revision = conversation.current_revision
    revision.refresh_from_db()
    messages = revision.messages
    messages[-1] |= {
        "content": "Checked by running it: sorted(xs) is new, xs.sort() sorts in place.",
        "origin": "model_edited",
        "reasoning": "Run it to be sure.",
        "tool_calls": [call],
        "model_original_reasoning": "Guess.",
    }
    revision.messages = messages
    revision.save(update_fields=["messages"])

    folder, _ = export(tmp_path)

    [pair] = rows(folder / "train.preference.jsonl")
    assert pair["chosen"][0]["reasoning_content"] == "Run it to be sure."
    assert pair["chosen"][0]["tool_calls"] == [call]
    assert pair["rejected"] == [
        {"role": "assistant", "content": DRAFT, "reasoning_content": "Guess."}
    ]


def test_the_token_preview_shows_a_pair(project, reviewer, client, admin_user):
    conversation = submitted_conversation(
        project=project, draft=DRAFT, answer="A different reply entirely, written by the expert."
    )
    approve(conversation, reviewer)
    client.force_login(admin_user)
    response = client.get(
        reverse("exports:export-preview"),
        {
            "projects": "prefs",
            "val_fraction": "0",
            "seed": "0",
            "formats": ["preference"],
            "template": "chatml-sep",
            "tokenizer": "cl100k_base",
            "overflow": "drop",
            "date_field": "decided_at",
            "license": "other",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Preference pair {conversation.pk}-1-edit" in html
    assert "<strong>Chosen</strong>" in html and "<strong>Rejected</strong>" in html


def test_cli_and_api_take_the_preference_settings(project, reviewer, tmp_path, admin_user):
    conversation = submitted_conversation(
        project=project, draft=DRAFT, answer="A different reply entirely, written by the expert."
    )
    approve(conversation, reviewer)
    out = StringIO()
    call_command(
        "export_dataset",
        "--project",
        "prefs",
        "--out",
        str(tmp_path / "cli"),
        "--format",
        "preference,kto",
        "--preference-threshold",
        "0.5",
        "--preference-sources",
        "edit",
        stdout=out,
        stderr=StringIO(),
    )
    assert "Preference pairs: 1 (1 edit)" in out.getvalue()
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == [
        "README.md",
        "manifest.json",
        "train.kto.jsonl",
        "train.preference.jsonl",
        "train.preference.parquet",
        "validation.kto.jsonl",
        "validation.preference.jsonl",
        "validation.preference.parquet",
    ]
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.post(
        "/api/exports/",
        {"projects": ["prefs"], "formats": ["preference"], "preference_threshold": 3},
        format="json",
    )
    assert response.status_code == 400
    assert "preference_threshold" in response.json()["error"]["fields"]


def test_a_finished_job_page_counts_its_pairs(project, reviewer, client, admin_user):
    conversation = submitted_conversation(
        project=project, draft=DRAFT, answer="A different reply entirely, written by the expert."
    )
    approve(conversation, reviewer)
    config = export_config_from_dict({"projects": ["prefs"], "formats": "jsonl,preference"})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin_user)
    export_job_execute(job_id=job.id)
    client.force_login(admin_user)

    html = client.get(reverse("exports:export-detail", args=[job.id])).content.decode()

    assert "preference pairs (1 edit, 0 review_edit, 0 ranking)" in html
    assert "train.preference.parquet" in html


def test_sharded_pairs_are_the_single_shard_pairs_under_shard_names(project, reviewer, tmp_path):
    for index in range(5):
        answer = f"Rewritten answer {index}: sorted(xs) gives a new list, xs.sort() does not."
        approve(submitted_conversation(project=project, draft=DRAFT, answer=answer), reviewer)
    config = export_config_from_dict(
        {"projects": ["prefs"], "val_fraction": 0, "formats": "preference,kto"}
    )
    one = export_run(config=config, destination=tmp_path / "one", shard_size=100)
    three = export_run(config=config, destination=tmp_path / "three", shard_size=2)

    assert three["counts"]["shards"] == 3
    assert three["counts"]["preference"] == one["counts"]["preference"]
    assert one["counts"]["preference"]["pairs"] == 5
    for kind in ("preference.jsonl", "kto.jsonl"):
        sharded = [
            row
            for index in range(3)
            for row in rows(tmp_path / "three" / f"train-{index:05d}-of-00003.{kind}")
        ]
        assert sharded == rows(tmp_path / "one" / f"train.{kind}")
    names = {entry["name"] for entry in three["files"]}
    assert "train-00002-of-00003.preference.parquet" in names
    assert "train.preference.jsonl" not in names
    card = (tmp_path / "three" / "README.md").read_text()
    assert "pairs come in 3 shards" in card
    assert "train-00001-of-00003.preference.jsonl" in card


def test_a_pairs_only_export_reads_only_what_can_pair_and_writes_the_same_pairs(
    project, reviewer, tmp_path
):
    corrected = submitted_conversation(
        project=project, draft=DRAFT, answer="A different reply entirely, written by the expert."
    )
    approve(corrected, reviewer)
    for index in range(3):
        approve(submitted_conversation(project=project, answer=f"Human reply {index}."), reviewer)

    both, with_sft = export(tmp_path, "both")
    alone, pairs_only = export(tmp_path, "alone", formats="preference,kto")

    assert with_sft["counts"]["read"] == 4
    # On PostgreSQL the human replies are not read at all (SQLite reads every row).
    can_look_into_json = connection.features.supports_json_field_contains
    assert pairs_only["counts"]["read"] == (1 if can_look_into_json else 4)
    for name in ("train.preference.jsonl", "train.preference.parquet", "train.kto.jsonl"):
        assert (alone / name).read_bytes() == (both / name).read_bytes()
    assert pairs_only["counts"]["preference"] == with_sft["counts"]["preference"]
