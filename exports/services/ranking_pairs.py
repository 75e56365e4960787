"""Preference pairs from approved rankings (design.md contract 7, source `ranking`).

Each approved ranking orders its prompt's candidates in tie groups, a written better
reply above them all; every strictly ordered pair of replies is a pair (ties give none).
With `ranking_pairs = "majority"`, a prompt ranked several times gives only the pairs
more than half of its rankings state (a better reply is one labeler's own text, so it
never reaches a majority of two rankings or more).

All of a prompt's pairs take the split of its first approved ranking's conversation, so
one prompt never straddles train and validation. Rankings are few beside conversations
(each is a person's explicit comparison): the export reads them in one pass, written
by the first shard.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from conversations.selectors.ranking import ApprovedRanking
from exports.selectors import export_prompts_without_ranking, export_rankings
from sftpipeline.preference import RANKING, PreferencePair, same_reply
from sftpipeline.ranking import RANKING_PAIRS_MAJORITY, majority_pairs, ranked_pairs
from sftpipeline.turns import ASSISTANT, export_message

from .config import ExportConfig

BETTER = "better"


def _groups(ranking: ApprovedRanking) -> list[list[Hashable]]:
    """The ranking's tie groups, best first; a better reply is keyed by its conversation
    (it is that labeler's own text) and ranks first."""
    groups: list[list[Hashable]] = [list(group) for group in ranking["order"]]
    if ranking["better_reply"].strip():
        groups.insert(0, [(BETTER, ranking["conversation_id"])])
    return groups


def _reply(ranking: ApprovedRanking, key: Hashable) -> tuple[dict[str, Any], str]:
    """(the reply as the pair files write it, the model that wrote it or "")."""
    if isinstance(key, tuple):
        return export_message(ASSISTANT, ranking["better_reply"]), ""
    candidate = next(c for c in ranking["candidates"] if c["id"] == key)
    return export_message(ASSISTANT, candidate["content"]), candidate["model"]


def ranking_pairs(config: ExportConfig, left_out: Counter[str]) -> tuple[list[PreferencePair], int]:
    """The export's pairs from rankings, in prompt then ranking order, and the number of
    prompts of its ranking projects with no approved ranking (they yield no pairs)."""
    by_prompt: dict[int, list[ApprovedRanking]] = defaultdict(list)
    for ranking in export_rankings(config):
        by_prompt[ranking["prompt_id"]].append(ranking)
    pairs: list[PreferencePair] = []
    for rankings in by_prompt.values():
        pairs += _prompt_pairs(rankings, config, left_out)
    return pairs, export_prompts_without_ranking(config)


def _prompt_pairs(
    rankings: Sequence[ApprovedRanking], config: ExportConfig, left_out: Counter[str]
) -> Iterator[PreferencePair]:
    split_by = rankings[0]["conversation_id"]
    if config.ranking_pairs == RANKING_PAIRS_MAJORITY:
        groups = [_groups(ranking) for ranking in rankings]
        stated = {pair for ranking_groups in groups for pair in ranked_pairs(ranking_groups)}
        agreed = majority_pairs(groups)
        left_out["no_majority"] += len(stated) - len(agreed)
        # Majority pairs are the prompt's, not one labeler's: provenance lists every ranking.
        yield from _pairs(rankings[0], agreed, split_by, left_out, rankings=rankings)
        return
    for ranking in rankings:
        yield from _pairs(ranking, ranked_pairs(_groups(ranking)), split_by, left_out)


def _pairs(
    ranking: ApprovedRanking,
    keys: Sequence[tuple[Hashable, Hashable]],
    split_by: int,
    left_out: Counter[str],
    *,
    rankings: Sequence[ApprovedRanking] = (),
) -> Iterator[PreferencePair]:
    """`ranking`'s replies as pairs for `keys` (better, worse); `split_by` is the
    conversation whose split they take (the prompt's first ranking)."""
    for chosen_key, rejected_key in keys:
        chosen, chosen_model = _reply(ranking, chosen_key)
        rejected, rejected_model = _reply(ranking, rejected_key)
        if same_reply(chosen, rejected):
            left_out["identical"] += 1
            continue
        name = f"{_key_name(chosen_key)}-over-{_key_name(rejected_key)}"
        yield PreferencePair(
            id=f"{ranking['conversation_id']}-{RANKING}-{name}",
            conversation_id=split_by,
            position=len(ranking["prompt"]),
            source=RANKING,
            prompt=[dict(message) for message in ranking["prompt"]],
            chosen=chosen,
            rejected=rejected,
            metadata=_provenance(ranking, rankings, chosen_model, rejected_model),
        )


def _key_name(key: Hashable) -> str:
    return BETTER if isinstance(key, tuple) else f"c{key}"


def _provenance(
    ranking: ApprovedRanking,
    rankings: Sequence[ApprovedRanking],
    chosen_model: str,
    rejected_model: str,
) -> dict[str, Any]:
    """The keys every pair's metadata has, and the ranking's own."""
    return {
        "conversation_id": ranking["conversation_id"],
        "position": len(ranking["prompt"]),
        "project": ranking["project"],
        "domain": ranking["domain"],
        "labeler_id": ranking["labeler_id"],
        "reviewer_id": min(ranking["reviewer_ids"]) if ranking["reviewer_ids"] else None,
        "draft_model": rejected_model or None,
        "word_change_ratio": None,
        "chosen_revision": None,
        "rejected_revision": None,
        "ranking": {
            "prompt_id": ranking["prompt_id"],
            "conversation_ids": [r["conversation_id"] for r in rankings]
            or [ranking["conversation_id"]],
            "chosen_model": chosen_model or None,
            "rejected_model": rejected_model or None,
            "reordered_by_id": ranking["reordered_by_id"],
        },
    }
