"""Pairs from approved rankings in the preference export (contract 7, source `ranking`)."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from django.core.management import call_command
from django.urls import reverse

from conversations.services import review_submit
from conversations.services.ranking import ranking_review_reorder
from exports.services import export_config_from_dict, export_run
from sftpipeline.render import tokenize_conversation
from sftpipeline.tokenizers import load_cl100k_base
from tests.conversations.factories import (
    CANDIDATE_TEXTS,
    candidate_ids,
    ranking_project,
    ranking_prompt,
    reviewer_factory,
    submitted_conversation,
    submitted_ranking,
)
from tests.labeling.factories import ProjectFactory

pytestmark = pytest.mark.django_db

IM_START, IM_END, IM_SEP = 100264, 100265, 100266
SCORES = {"helpfulness": 4, "correctness": 4, "harmlessness": 5, "style": 4}
BETTER = "Use `sorted(xs)` for a new list, or `xs.sort()` to sort the list in place."


@pytest.fixture
def project():
    return ranking_project(slug="ranks")


def approve(conversation, reviewer=None):
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer or reviewer_factory(),
        decision="approve",
        scores=SCORES,
    )


def export(tmp_path: Path, name="out", **settings) -> tuple[Path, dict]:
    config = export_config_from_dict(
        {"projects": ["ranks"], "val_fraction": 0, "formats": "preference,kto"} | settings
    )
    folder = tmp_path / name
    return folder, export_run(config=config, destination=folder)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def text(message: dict) -> str:
    return message["content"]


def test_a_strict_order_of_four_gives_six_pairs_best_first(project, tmp_path):
    conversation = submitted_ranking(project=project)
    approve(conversation)
    folder, manifest = export(tmp_path)

    pairs = rows(folder / "train.preference.jsonl")
    assert len(pairs) == 4 * 3 // 2
    order = list(CANDIDATE_TEXTS)
    for pair in pairs:
        assert pair["source"] == "ranking"
        assert pair["prompt"] == [{"role": "user", "content": conversation.prompt.text}]
        assert order.index(text(pair["chosen"][0])) < order.index(text(pair["rejected"][0]))
    assert pairs[0]["metadata"]["ranking"]["chosen_model"] == "model-0"
    assert pairs[0]["metadata"]["draft_model"] == "model-1"
    assert pairs[0]["metadata"]["conversation_id"] == conversation.pk
    summary = manifest["counts"]["preference"]
    assert summary["per_source"]["ranking"] == 6
    assert summary["prompts_without_approved_ranking"] == 0
    # No SFT row: a ranking's conversation holds only its prompt.
    assert not (folder / "train.jsonl").exists()


def test_ties_give_no_pair_and_a_written_better_reply_ranks_first(project, tmp_path):
    prompt = ranking_prompt(project)
    first, second, third, fourth = candidate_ids_of(prompt)
    conversation = submitted_ranking(
        prompt=prompt, order=[[first], [second, third], [fourth]], better_reply=BETTER
    )
    approve(conversation)
    folder, _ = export(tmp_path)

    pairs = rows(folder / "train.preference.jsonl")
    stated = {(text(p["chosen"][0]), text(p["rejected"][0])) for p in pairs}
    texts = dict(zip((first, second, third, fourth), CANDIDATE_TEXTS, strict=True))
    assert (texts[second], texts[third]) not in stated
    assert (texts[third], texts[second]) not in stated
    # 4 better-reply pairs, then 1→2, 1→3, 1→4, 2→4, 3→4.
    assert len(pairs) == 4 + 5
    assert all(text(p["chosen"][0]) == BETTER for p in pairs[:4])
    assert not any(text(p["rejected"][0]) == BETTER for p in pairs)
    kto = rows(folder / "train.kto.jsonl")
    assert [row["label"] for row in kto if text(row["completion"][0]) == BETTER] == [True]


def test_a_reviewers_reorder_is_the_order_that_counts(project, tmp_path):
    conversation = submitted_ranking(project=project)
    ids = candidate_ids(conversation)
    reviewer = reviewer_factory()
    revision = ranking_review_reorder(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        expected_version=conversation.version,
        order=[[ids[3]], [ids[0], ids[1], ids[2]]],
    )
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        decision="approve",
        scores=SCORES,
        revision_number=revision.number,
    )
    folder, _ = export(tmp_path)
    pairs = rows(folder / "train.preference.jsonl")
    assert {text(p["chosen"][0]) for p in pairs} == {CANDIDATE_TEXTS[3]}
    assert pairs[0]["metadata"]["ranking"]["reordered_by_id"] == reviewer.pk


def test_majority_keeps_only_the_pairs_most_rankings_of_a_prompt_state(project, tmp_path):
    prompt = ranking_prompt(project)
    a, b, c, d = candidate_ids_of(prompt)
    for order in ([[a], [b], [c], [d]], [[a], [c], [b], [d]], [[b], [a], [c], [d]]):
        approve(submitted_ranking(prompt=prompt, order=order))
    unranked = ranking_prompt(project, text="A prompt nobody ranked yet.")
    assert unranked.pk

    folder, manifest = export(tmp_path, "all")
    every = rows(folder / "train.preference.jsonl")
    assert len(every) == 3 * 6
    # One prompt: every pair takes the split of its first ranking's conversation.
    assert len({p["metadata"]["ranking"]["conversation_ids"][0] for p in every}) == 3

    folder, manifest = export(tmp_path, "majority", ranking_pairs="majority")
    agreed = rows(folder / "train.preference.jsonl")
    texts = dict(zip((a, b, c, d), CANDIDATE_TEXTS, strict=True))
    assert {(text(p["chosen"][0]), text(p["rejected"][0])) for p in agreed} == {
        (texts[a], texts[b]),
        (texts[a], texts[c]),
        (texts[a], texts[d]),
        (texts[b], texts[c]),
        (texts[b], texts[d]),
        (texts[c], texts[d]),
    }
    summary = manifest["counts"]["preference"]
    assert summary["ranking_pairs"] == "majority"
    # Stated by one ranking only: b over a, c over b.
    assert summary["left_out"]["no_majority"] == 2
    assert summary["prompts_without_approved_ranking"] == 1
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "1 prompts of the ranking projects had no approved ranking" in card
    assert "more than half of a prompt's rankings" in card


def test_ranking_pairs_are_tokenized_as_the_sft_rendering_with_the_prompt_masked(project, tmp_path):
    approve(submitted_ranking(project=project))
    folder, _ = export(tmp_path)
    pair = rows(folder / "train.preference.jsonl")[0]
    row = pq.read_table(folder / "train.preference.parquet").to_pylist()[0]
    encoding = load_cl100k_base().encoding
    prompt_ids = [IM_START, *encoding.encode_ordinary("user"), IM_SEP]
    prompt_ids += [*encoding.encode_ordinary(pair["prompt"][0]["content"]), IM_END]
    header = [IM_START, *encoding.encode_ordinary("assistant"), IM_SEP]
    assert row["id"] == pair["id"]
    assert row["prompt_input_ids"] == prompt_ids
    for side, reply_text in (("chosen", CANDIDATE_TEXTS[0]), ("rejected", CANDIDATE_TEXTS[1])):
        reply = [*encoding.encode_ordinary(reply_text), IM_END]
        assert row[f"{side}_input_ids"] == prompt_ids + header + reply
        assert row[f"{side}_labels"] == [-100] * (len(prompt_ids) + len(header)) + reply
        assert (
            row[f"{side}_input_ids"]
            == tokenize_conversation([*pair["prompt"], *pair[side]]).input_ids
        )


def test_the_sources_choice_leaves_rankings_out_and_the_cli_takes_the_majority_flag(
    project, tmp_path
):
    approve(submitted_ranking(project=project))
    folder, manifest = export(tmp_path, "edits", preference_sources="edit,review_edit")
    assert rows(folder / "train.preference.jsonl") == []
    assert "prompts_without_approved_ranking" not in manifest["counts"]["preference"]

    out = tmp_path / "cli"
    call_command(
        "export_dataset",
        "--project",
        "ranks",
        "--out",
        str(out),
        "--format",
        "preference",
        "--ranking-pairs",
        "majority",
        "--val-fraction",
        "0",
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["preference"]["per_source"]["ranking"] == 6
    assert manifest["counts"]["preference"]["ranking_pairs"] == "majority"


def test_the_token_preview_shows_a_ranking_pair(project, client, admin_user):
    conversation = submitted_ranking(project=project)
    approve(conversation)
    client.force_login(admin_user)
    response = client.get(
        reverse("exports:export-preview"),
        {
            "projects": "ranks",
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
    ids = candidate_ids(conversation)
    assert f"Preference pair {conversation.pk}-ranking-c{ids[0]}-over-c{ids[1]}" in html


def candidate_ids_of(prompt) -> list[int]:
    return list(prompt.candidates.order_by("position").values_list("pk", flat=True))


def test_ranking_and_correction_pairs_load_together_in_datasets(project, tmp_path):
    writing = ProjectFactory(slug="writing", domains=["python"])
    corrected = submitted_conversation(
        project=writing,
        draft="Use the sorted function on the list and it returns a new sorted list for you.",
        answer="Call sorted(xs) for a new list; xs.sort() sorts the list itself, in place.",
    )
    approve(corrected)
    approve(submitted_ranking(project=project))
    folder, manifest = export(tmp_path, projects=["ranks", "writing"])

    dataset = load_dataset("json", data_files=str(folder / "train.preference.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
    assert sorted(set(dataset["source"])) == ["edit", "ranking"]
    assert len(dataset) == manifest["counts"]["preference"]["pairs"] == 1 + 6
