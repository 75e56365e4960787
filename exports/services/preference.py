"""Preference pairs from corrections (design.md contract 7), found at export time.

Sources `edit` and `review_edit`, each a function from one exported conversation to
candidate pairs (`ranking` pairs come from approved rankings: `ranking_pairs`):

- `edit`: an approved assistant message that began as an AI draft (origin
  `model_edited`): chosen = the approved reply, rejected = the draft (`model_original`,
  with `model_original_reasoning` / `model_original_tool_calls` where the snapshot
  keeps them);
- `review_edit`: a reviewer's edit: after each submitted (or imported) revision, the
  last revision of the reviewers' edits that follow it against that submitted one,
  message by message: chosen = the reviewer's reply, rejected = the labeler's.

A candidate becomes a pair only when at least `preference_threshold` of its words
changed (`sftpipeline.preference.word_change_ratio`); a chosen equal to its rejected
never does. The same pair from two sources is kept once (the first source in
`PREFERENCE_SOURCES` order). Everything left out is counted with its reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from conversations.models import MessageOrigin, Revision
from exports.selectors import (
    ExportRow,
    RevisionRow,
    export_draft_models,
    export_reviewed_revisions,
)
from sftpipeline.preference import (
    EDIT,
    RANKING,
    REVIEW_EDIT,
    KtoJsonlWriter,
    PreferenceJsonlWriter,
    PreferencePair,
    PreferenceParquetWriter,
    TokenizedPair,
    kto_rows,
    reply_text,
    same_reply,
    tokenize_pairs,
    word_change_ratio,
)
from sftpipeline.split import SPLITS, assign_split
from sftpipeline.tokenizers import ChatTokenizer, TokenizerError
from sftpipeline.turns import ASSISTANT, export_message
from sftpipeline.writers import FileKind, split_filename

from .config import ExportConfig
from .ranking_pairs import ranking_pairs
from .rows import ExportError, Selection, clean_messages

#: Why a candidate pair was left out, in the order the card lists them.
LEFT_OUT_REASONS = (
    "below_threshold",
    "identical",
    "prompt_changed",
    "duplicate",
    "no_majority",
    "too_long",
)


@dataclasses.dataclass(frozen=True)
class _Candidate:
    source: str
    position: int
    prompt: list[dict[str, Any]]
    chosen: dict[str, Any]
    rejected: dict[str, Any]
    reviewer_id: int | None
    chosen_revision: int | None
    rejected_revision: int | None
    from_draft: bool


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    """The message as the pair files write it (the export shape, without `origin`)."""
    return {key: value for key, value in message.items() if key != "origin"}


def _edit_candidates(
    row: ExportRow, messages: list[dict[str, Any]], *, drop_reasoning: bool, **_: Any
) -> Iterator[_Candidate]:
    for position, (raw, message) in enumerate(zip(row.messages, messages, strict=True)):
        if message["role"] != ASSISTANT or raw.get("origin") != MessageOrigin.MODEL_EDITED:
            continue
        reasoning = "" if drop_reasoning else raw.get("model_original_reasoning") or ""
        draft = export_message(
            ASSISTANT,
            raw.get("model_original") or "",
            reasoning=reasoning,
            tool_calls=raw.get("model_original_tool_calls") or [],
        )
        if not reply_text(draft):
            continue  # no draft was kept for this message
        yield _Candidate(
            source=EDIT,
            position=position,
            prompt=[_plain(m) for m in messages[:position]],
            chosen=_plain(message),
            rejected=draft,
            reviewer_id=min(row.reviewer_ids) if row.reviewer_ids else None,
            chosen_revision=None,
            rejected_revision=None,
            from_draft=True,
        )


def _review_runs(history: Sequence[RevisionRow]) -> Iterator[tuple[RevisionRow, list[RevisionRow]]]:
    """(submitted revision, the reviewer edits that followed it) for every such run."""
    base: RevisionRow | None = None
    run: list[RevisionRow] = []
    for revision in history:
        if revision.kind == Revision.Kind.REVIEW_EDIT:
            run.append(revision)
            continue
        if base is not None and run:
            yield base, run
        base, run = revision, []
    if base is not None and run:
        yield base, run


def _review_edit_candidates(
    row: ExportRow,
    messages: list[dict[str, Any]],
    *,
    drop_reasoning: bool,
    history: Sequence[RevisionRow] = (),
    left_out: Counter[str],
    **_: Any,
) -> Iterator[_Candidate]:
    def clean(revision: RevisionRow) -> list[dict[str, Any]]:
        return clean_messages(
            dataclasses.replace(row, messages=revision.messages), drop_reasoning=drop_reasoning
        )

    for base, run in _review_runs(history):
        before = clean(base)
        edits = [clean(revision) for revision in run]
        after = edits[-1]
        for position, message in enumerate(after):
            if message["role"] != ASSISTANT or position >= len(before):
                continue
            labelers = before[position]
            if labelers["role"] != ASSISTANT or same_reply(_plain(labelers), _plain(message)):
                continue
            prompt = [_plain(m) for m in after[:position]]
            if prompt != [_plain(m) for m in before[:position]]:
                left_out["prompt_changed"] += 1
                continue
            # The reviewer whose edit last changed this message.
            editor, previous = run[-1].created_by_id, before
            for revision, edited in zip(run, edits, strict=True):
                if position < len(previous) and previous[position] != edited[position]:
                    editor = revision.created_by_id
                previous = edited
            yield _Candidate(
                source=REVIEW_EDIT,
                position=position,
                prompt=prompt,
                chosen=_plain(message),
                rejected=_plain(labelers),
                reviewer_id=editor,
                chosen_revision=run[-1].number,
                rejected_revision=base.number,
                from_draft=labelers.get("origin") == MessageOrigin.MODEL,
            )


_EXTRACTORS: dict[str, Callable[..., Iterator[_Candidate]]] = {
    EDIT: _edit_candidates,
    REVIEW_EDIT: _review_edit_candidates,
}


@dataclasses.dataclass
class PairCounts:
    """What the card and the manifest say about the pairs."""

    per_source: Counter[str] = dataclasses.field(default_factory=Counter)
    per_split: Counter[str] = dataclasses.field(default_factory=Counter)
    left_out: Counter[str] = dataclasses.field(default_factory=Counter)
    kto: Counter[str] = dataclasses.field(default_factory=Counter)
    #: Prompts of the export's ranking projects with no approved ranking (no pairs).
    unranked_prompts: int = 0

    def to_dict(self, config: ExportConfig) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "sources": list(config.preference_sources),
            "threshold": config.preference_threshold,
            "pairs": sum(self.per_source.values()),
            "per_source": {name: self.per_source[name] for name in config.preference_sources},
            "per_split": {split: self.per_split[split] for split in SPLITS},
            "left_out": {reason: self.left_out[reason] for reason in LEFT_OUT_REASONS},
        }
        if RANKING in config.preference_sources:
            summary["ranking_pairs"] = config.ranking_pairs
            summary["prompts_without_approved_ranking"] = self.unranked_prompts
        if "kto" in config.formats:
            summary["kto_rows"] = {"true": self.kto["true"], "false": self.kto["false"]}
        return summary

    def to_result(self) -> dict[str, Any]:
        """The raw counts of one shard, JSON-ready, for `merge` in the final step."""
        return {
            "per_source": dict(self.per_source),
            "per_split": dict(self.per_split),
            "left_out": dict(self.left_out),
            "kto": dict(self.kto),
            "unranked_prompts": self.unranked_prompts,
        }

    def merge(self, result: dict[str, Any]) -> None:
        self.per_source.update(result["per_source"])
        self.per_split.update(result["per_split"])
        self.left_out.update(result["left_out"])
        self.kto.update(result["kto"])
        # A shard recorded before rankings were exported has no such count.
        self.unranked_prompts += result.get("unranked_prompts", 0)


def conversation_pairs(
    row: ExportRow,
    messages: list[dict[str, Any]],
    config: ExportConfig,
    *,
    history: Sequence[RevisionRow] = (),
    draft_model: str | None = None,
    counts: PairCounts,
) -> list[PreferencePair]:
    """The pairs of one exported conversation (`messages`: its cleaned current revision)."""
    kept: list[_Candidate] = []
    pairs = []
    for source in config.preference_sources:
        if source not in _EXTRACTORS:
            continue  # not a conversation's source (rankings)
        candidates = _EXTRACTORS[source](
            row,
            messages,
            drop_reasoning=config.drop_reasoning,
            history=history,
            left_out=counts.left_out,
        )
        for candidate in candidates:
            if same_reply(candidate.chosen, candidate.rejected):
                counts.left_out["identical"] += 1
                continue
            ratio = word_change_ratio(reply_text(candidate.rejected), reply_text(candidate.chosen))
            if ratio < config.preference_threshold:
                counts.left_out["below_threshold"] += 1
                continue
            if any(_same_pair(candidate, earlier) for earlier in kept):
                counts.left_out["duplicate"] += 1
                continue
            kept.append(candidate)
            pairs.append(_pair(row, candidate, ratio, draft_model))
    return pairs


def _same_pair(first: _Candidate, second: _Candidate) -> bool:
    return (first.position, first.prompt, first.chosen, first.rejected) == (
        second.position,
        second.prompt,
        second.chosen,
        second.rejected,
    )


def _pair(
    row: ExportRow, candidate: _Candidate, ratio: float, draft_model: str | None
) -> PreferencePair:
    suffix = f"-r{candidate.chosen_revision}" if candidate.chosen_revision else ""
    return PreferencePair(
        id=f"{row.id}-{candidate.position}-{candidate.source}{suffix}",
        conversation_id=row.id,
        position=candidate.position,
        source=candidate.source,
        prompt=candidate.prompt,
        chosen=candidate.chosen,
        rejected=candidate.rejected,
        metadata={
            "conversation_id": row.id,
            "position": candidate.position,
            "project": row.project,
            "domain": row.domain,
            "labeler_id": row.labeler_id,
            "reviewer_id": candidate.reviewer_id,
            "draft_model": draft_model if candidate.from_draft else None,
            "word_change_ratio": round(ratio, 4),
            "chosen_revision": candidate.chosen_revision,
            "rejected_revision": candidate.rejected_revision,
        },
    )


def chunk_pairs(
    kept: Sequence[tuple[ExportRow, list[dict[str, Any]]]],
    config: ExportConfig,
    counts: PairCounts,
) -> list[PreferencePair]:
    """The pairs of a chunk of exported conversations, in conversation then position order.

    At most two queries whatever the chunk size (`kept` is in id order): the reviewed
    conversations' revisions and the prompts' draft models.
    """
    if not kept:
        return []
    ids = [row.id for row, _ in kept]
    histories = export_reviewed_revisions(ids) if REVIEW_EDIT in config.preference_sources else {}
    models = export_draft_models(ids)
    pairs = []
    for row, messages in kept:
        pairs += conversation_pairs(
            row,
            messages,
            config,
            history=histories.get(row.id, ()),
            draft_model=models.get(row.id),
            counts=counts,
        )
    return pairs


def tokenize_chunk_pairs(
    pairs: Sequence[PreferencePair],
    config: ExportConfig,
    tokenizer: ChatTokenizer,
    tools: Callable[[PreferencePair], Any],
) -> list[TokenizedPair]:
    """One batched tokenizer call for a chunk's pairs; ExportError names the conversations."""
    if not pairs:
        return []
    try:
        return tokenize_pairs(pairs, config.template, tokenizer, [tools(pair) for pair in pairs])
    except (TokenizerError, ValueError) as error:
        first, last = pairs[0].conversation_id, pairs[-1].conversation_id
        raise ExportError(
            f"Pairs of conversations {first}–{last} could not be tokenized with "
            f"{config.template}: {error}"
        ) from error


class PairOutput:
    """The pair files of one export and their counts; `add` takes each chunk's rows."""

    def __init__(
        self,
        folder: Path,
        config: ExportConfig,
        tokenizer: ChatTokenizer,
        selection: Selection,
        stack: contextlib.ExitStack,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        """With several shards, each shard writes its own conversations' pairs under the
        shard's name (``train-00001-of-00004.preference.jsonl``), like its SFT files."""
        self.config, self.tokenizer, self.selection = config, tokenizer, selection
        self.counts = PairCounts()
        self.jsonl: dict[str, PreferenceJsonlWriter] = {}
        self.parquet: dict[str, PreferenceParquetWriter] = {}
        self.kto: dict[str, KtoJsonlWriter] = {}
        index, shards = shard

        def name(split: str, kind: FileKind) -> Path:
            return folder / split_filename(split, kind, shard=index, shards=shards)

        for split in SPLITS:
            if "preference" in config.formats:
                self.jsonl[split] = stack.enter_context(
                    PreferenceJsonlWriter(name(split, "preference"))
                )
                self.parquet[split] = stack.enter_context(
                    PreferenceParquetWriter(name(split, "preference_parquet"))
                )
            if "kto" in config.formats:
                self.kto[split] = stack.enter_context(KtoJsonlWriter(name(split, "kto")))

    def paths(self) -> list[str]:
        """Every pair file this output writes."""
        return (
            [writer.path for writer in self.jsonl.values()]
            + [writer.path for writer in self.parquet.values()]
            + [writer.path for writer in self.kto.values()]
        )

    def _tools(self, pair: PreferencePair) -> Any:
        return self.selection.tools.get(pair.metadata["project"], [])

    def add(self, kept: Sequence[tuple[ExportRow, list[dict[str, Any]]]]) -> None:
        self.write(chunk_pairs(kept, self.config, self.counts))

    def add_rankings(self) -> None:
        """The pairs of the export's approved rankings (one shard writes them all)."""
        if RANKING not in self.config.preference_sources:
            return
        pairs, self.counts.unranked_prompts = ranking_pairs(self.config, self.counts.left_out)
        self.write(pairs)

    def write(self, pairs: Sequence[PreferencePair]) -> None:
        """Tokenize `pairs` (when asked for), leave out the too long, write the rest."""
        tokenized: list[TokenizedPair | None] = [None] * len(pairs)
        if self.parquet or self.config.max_tokens:
            tokenized = list(tokenize_chunk_pairs(pairs, self.config, self.tokenizer, self._tools))
        by_conversation: dict[int, list[PreferencePair]] = {}
        for pair, tokens in zip(pairs, tokenized, strict=True):
            if (
                tokens is not None
                and self.config.max_tokens
                and (tokens.num_tokens > self.config.max_tokens)
            ):
                self.counts.left_out["too_long"] += 1
                continue
            split = assign_split(
                pair.conversation_id, seed=self.config.seed, val_fraction=self.config.val_fraction
            )
            self.counts.per_source[pair.source] += 1
            self.counts.per_split[split] += 1
            if split in self.jsonl:
                self.jsonl[split].write(pair)
            if split in self.parquet and tokens is not None:
                self.parquet[split].write(pair.id, tokens)
            by_conversation.setdefault(pair.conversation_id, []).append(pair)
        if self.kto:
            for conversation_id, kept_pairs in by_conversation.items():
                split = assign_split(
                    conversation_id, seed=self.config.seed, val_fraction=self.config.val_fraction
                )
                for row in kto_rows(kept_pairs):
                    self.kto[split].write(row)
                    self.counts.kto["true" if row.label else "false"] += 1
