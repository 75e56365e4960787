"""The dataset card (``README.md``): YAML front matter for the Hugging Face Hub, then statistics.

Deterministic: the same stats and config give the same text. It names no
people; how the data was collected is told in counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .render import CHATML, CHATML_SEP
from .split import SPLITS
from .stats import Stats, histogram_labels
from .turns import THINK_CLOSE, THINK_OPEN, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOLS_CLOSE, TOOLS_OPEN
from .writers import FileKind, split_filename

_SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
_BAR_WIDTH = 30


@dataclass(frozen=True)
class CardConfig:
    """What the card says about how the export was made."""

    title: str
    template: str
    tokenizer: str
    tokenizer_sha256: str
    special_token_ids: Mapping[str, int]
    license: str = "other"
    languages: Sequence[str] = ("en",)
    description: str = ""
    formats: Sequence[str] = ("jsonl", "parquet")
    #: Assistant reasoning was left out of every file (for a model that does not think).
    drop_reasoning: bool = False
    packed_seq_len: int | None = None
    #: The splits that have a packed file (packing is often done for train only).
    packed_splits: Sequence[str] = SPLITS
    max_tokens: int | None = None
    overflow: str = "drop"
    seed: int | str = 0
    val_fraction: float = 0.0
    #: The filters the export used, e.g. ``{"state": "approved", "domains": ["python"]}``.
    filters: Mapping[str, Any] = field(default_factory=dict)
    #: How the data was collected, as counts, e.g. ``{"labelers": 12, "reviews": 840}``.
    collection: Mapping[str, int] = field(default_factory=dict)
    #: Files per split and format: one keeps ``train.jsonl``, more are ``train-00000-of-00004.jsonl``…
    shards: int = 1
    #: Preference pairs (contract 7): ``{"sources", "threshold", "pairs", "per_source",
    #: "per_split", "left_out", "kto_rows"?}``; empty when no pair file was written.
    preference: Mapping[str, Any] = field(default_factory=dict)


def size_category(count: int) -> str:
    """The Hugging Face ``size_categories`` value for ``count`` rows."""
    for bound, label in _SIZE_CATEGORIES:
        if count < bound:
            return label
    return "n>1T" if count >= 1_000_000_000_000 else "1B<n<10B"


def _q(value: Any) -> str:
    # A JSON scalar is valid YAML and quotes anything YAML would misread.
    return json.dumps(value, ensure_ascii=False)


def _front_matter(stats: Stats, config: CardConfig) -> list[str]:
    splits = [s for s in SPLITS if stats.per_split.get(s)] or [SPLITS[0]]
    lines = ["---", f"license: {_q(config.license)}", "language:"]
    lines += [f"- {_q(language)}" for language in config.languages]
    lines += ["size_categories:", f"- {_q(size_category(stats.conversations))}"]
    lines += ["task_categories:", "- text-generation", f"pretty_name: {_q(config.title)}"]
    lines += ["tags:", "- sft", "- conversational", "configs:"]
    kinds: list[tuple[str, FileKind]] = [
        ("default", "jsonl"),
        ("tokenized", "parquet"),
        ("openai", "openai"),
        ("preference", "preference"),
        ("preference_tokenized", "preference_parquet"),
        ("kto", "kto"),
    ]
    formats = {*config.formats}
    if "preference" in formats:
        formats.add("preference_parquet")
    if config.packed_seq_len:
        kinds.append(("packed", "packed"))
    for name, kind in kinds:
        if kind != "packed" and kind not in formats:
            continue
        lines += [f"- config_name: {name}", "  data_files:"]
        for split in splits if kind != "packed" else config.packed_splits:
            lines.append(f"  - split: {split}")
            if config.shards == 1:
                lines.append(f"    path: {_q(split_filename(split, kind))}")
                continue
            lines.append("    path:")
            lines += [
                f"    - {_q(split_filename(split, kind, shard=index, shards=config.shards))}"
                for index in range(config.shards)
            ]
    if "parquet" in config.formats:
        lines += ["dataset_info:", "- config_name: tokenized", "  features:"]
        lines += ["  - name: id", "    dtype: string"]
        for name, dtype in (("input_ids", "int32"), ("labels", "int32"), ("loss_mask", "int8")):
            lines += [f"  - name: {name}", f"    sequence: {dtype}"]
        lines += ["  - name: num_tokens", "    dtype: int32", "  splits:"]
        for split in splits:
            lines += [f"  - name: {split}", f"    num_examples: {stats.per_split.get(split, 0)}"]
    lines.append("---")
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _cell(value: Any) -> str:
    # A pipe ends a table cell even inside a code span unless escaped.
    return str(value).replace("|", "\\|")


def _template_example(template: str) -> str:
    if template == CHATML_SEP:
        return "<|im_start|>{role}<|im_sep|>{content}<|im_end|>"
    if template == CHATML:
        return "<|im_start|>{role}\\n{content}<|im_end|>\\n"
    return "the tokenizer's own chat template"


def render_dataset_card(stats: Stats, config: CardConfig) -> str:
    """The dataset card as markdown with YAML front matter (ends with a newline)."""
    lines = _front_matter(stats, config)
    lines += ["", f"# {config.title}", ""]
    if config.description:
        lines += [config.description, ""]
    lines += [
        "Supervised fine-tuning conversations written and reviewed by domain experts "
        "in SFT Studio.",
        "",
        "## Statistics",
        "",
    ]
    lines += _table(
        ["", "count"],
        [
            ("conversations", stats.conversations),
            ("messages", stats.messages),
            ("tokens", stats.tokens),
            ("trained tokens (loss mask 1)", stats.trained_tokens),
            ("tokens per conversation (min / mean / max)", _min_mean_max(stats)),
            ("dropped as too long", stats.dropped),
            ("truncated", stats.truncated),
            ("exact duplicates removed", stats.duplicates),
        ],
    )
    lines += ["", "### Splits", ""]
    lines += _table(["split", "conversations"], sorted(stats.per_split.items()))
    lines += ["", "### Domains", ""]
    lines += _table(
        ["domain", "conversations", "tokens", "trained tokens"],
        [
            (domain, c["conversations"], c["tokens"], c["trained_tokens"])
            for domain, c in sorted(stats.per_domain.items())
        ],
    )
    lines += ["", "### Length (tokens per conversation)", ""]
    peak = max(stats.token_histogram) or 1
    lines += _table(
        ["tokens", "conversations", ""],
        [
            (label, count, "█" * round(_BAR_WIDTH * count / peak))
            for label, count in zip(histogram_labels(), stats.token_histogram, strict=True)
        ],
    )
    lines += _structured_section(stats, config)
    lines += _preference_section(config.preference, config.shards)
    lines += _format_section(config, structured=stats.has_structured_turns)
    lines += ["", "## How the data was collected", ""]
    collection = dict(config.collection)
    collection.update({f"{k} messages": v for k, v in stats.messages_by_origin.items()})
    collection.update({f"{k} messages (role)": v for k, v in stats.messages_by_role.items()})
    lines += _table(["", "count"], sorted(collection.items()))
    lines += ["", "## Filters", ""]
    if config.filters:
        lines += [f"- `{key}`: `{_q(value)}`" for key, value in sorted(config.filters.items())]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _format_section(config: CardConfig, *, structured: bool = False) -> list[str]:
    lines = ["", "## Format", ""]
    lines += [
        f"Template `{config.template}`: each message is rendered as "
        f"`{_template_example(config.template)}`. The loss mask is 1 on every token of "
        "an assistant message's content and on the `<|im_end|>` that closes it, 0 "
        "elsewhere; `labels` is `input_ids` with -100 where the mask is 0.",
        "",
    ]
    if structured:
        lines += _structured_format(config)
    lines += _table(
        ["special token", "id"],
        [(f"`{token}`", token_id) for token, token_id in sorted(config.special_token_ids.items())],
    )
    lines += [
        "",
        f"Tokenizer `{config.tokenizer}`, vocabulary sha256 `{config.tokenizer_sha256}`.",
        "",
        f"Split: validation fraction {config.val_fraction} by sha256 of seed and "
        f"conversation id (seed `{config.seed}`).",
    ]
    if "openai" in config.formats:
        lines += [
            "",
            f"`{split_filename('train', 'openai')}` (and validation): OpenAI's fine-tuning "
            "chat format in the same order as the JSONL, arguments as JSON strings, no "
            "reasoning; `weight` 0 on an assistant message the token files do not train "
            "(cut by the length limit), 1 on the others.",
            "",
        ]
    if config.max_tokens:
        lines.append(f"Longest conversation: {config.max_tokens} tokens ({config.overflow}).")
    if config.packed_seq_len:
        lines.append(
            f"Packed into sequences of {config.packed_seq_len} tokens; `position_ids` "
            "restart at 0 for every conversation and `cu_seqlens` keeps attention "
            "inside each conversation."
        )
        if config.shards > 1:
            lines.append(
                f"The export was written in {config.shards} shards and packing happens "
                "within each shard: a packed sequence never holds conversations of two "
                "shards, so the last sequence of each shard may carry more padding."
            )
    return lines


_LEFT_OUT_WORDS = {
    "below_threshold": "fewer words changed than the threshold",
    "identical": "chosen equal to rejected",
    "prompt_changed": "the prompt itself was edited between the two replies",
    "duplicate": "the same pair from another source",
    "no_majority": "ranked so by too few of the prompt's rankings (majority asked)",
    "too_long": "longer than the maximum tokens",
}


def _preference_section(preference: Mapping[str, Any], shards: int = 1) -> list[str]:
    """Pairs per source and split, the threshold, and what was left out and why."""
    if not preference:
        return []
    threshold = preference["threshold"]
    lines = [
        "",
        "## Preference pairs",
        "",
        f"{preference['pairs']} pairs (prompt, chosen reply, rejected reply) from the "
        "corrections people made: `edit` = an approved reply against the AI draft it began "
        "as, `review_edit` = a reviewer's reply against the labeler's submitted one. A "
        f"correction is a pair when at least {threshold:.0%} of its words changed (word-level "
        "edit distance over the longer reply's words). A pair's split is its conversation's.",
        "",
    ]
    if "prompts_without_approved_ranking" in preference:
        keep = (
            "only the pairs more than half of a prompt's rankings state"
            if preference["ranking_pairs"] == "majority"
            else "every ranking's pairs"
        )
        lines += [
            "`ranking` = every strictly ordered pair of an approved ranking of candidate "
            "replies (tied candidates give none; a reply the labeler wrote ranks first; no "
            f"threshold); with several rankings of one prompt the export keeps {keep}. A "
            "prompt's pairs take the split of its first ranking, and the first shard's files "
            f"hold them. {preference['prompts_without_approved_ranking']} prompts of the "
            "ranking projects had no approved ranking and gave no pairs.",
            "",
        ]
    if shards > 1:
        lines += [
            f"Like the other files, the pairs come in {shards} shards: each shard holds the "
            "pairs of its own conversations (e.g. "
            f"`{split_filename('train', 'preference', shard=0, shards=shards)}`).",
            "",
        ]
    lines += _table(
        ["source", "pairs"], [(f"`{name}`", n) for name, n in preference["per_source"].items()]
    )
    lines += [""]
    lines += _table(["split", "pairs"], list(preference["per_split"].items()))
    lines += ["", "Left out:", ""]
    lines += _table(
        ["reason", "candidates"],
        [(_LEFT_OUT_WORDS.get(r, r), n) for r, n in preference["left_out"].items()],
    )
    if "kto_rows" in preference:
        kto = preference["kto_rows"]
        lines += [
            "",
            f"`{split_filename('train', 'kto')}` (and validation): one row per distinct reply, "
            f"{kto['true']} labelled true (chosen, never rejected) and {kto['false']} false.",
        ]
    return lines


def _escaped(text: str) -> str:
    return text.replace("\n", "\\n")


def _structured_section(stats: Stats, config: CardConfig) -> list[str]:
    """Tool calls per tool, reasoning and answer tokens; only for data that has them."""
    if not (stats.has_structured_turns or config.drop_reasoning):
        return []
    lines = ["", "### Tool use and reasoning", ""]
    if config.drop_reasoning:
        lines += [
            "**Reasoning dropped:** this export was made for a model that does not think; "
            "the assistants' reasoning was left out of every file and trains nothing.",
            "",
        ]
    rows: list[tuple[str, Any]] = [
        ("conversations with reasoning", stats.conversations_with_reasoning),
        ("conversations with tool calls", stats.conversations_with_tool_calls),
        ("tool results (role tool)", stats.messages_by_role.get("tool", 0)),
    ]
    if config.template in (CHATML_SEP, CHATML):
        rows += [
            ("reasoning tokens (trained)", stats.reasoning_tokens),
            ("answer tokens (trained)", stats.answer_tokens),
            ("tool-call tokens (trained)", stats.tool_call_tokens),
            ("tool-result tokens (not trained)", stats.tool_result_tokens),
        ]
    lines += _table(["", "count"], rows)
    if stats.tool_calls_by_tool:
        lines += ["", "#### Tool calls per tool", ""]
        lines += _table(
            ["tool", "calls"], [(f"`{name}`", n) for name, n in stats.tool_calls_by_tool.items()]
        )
    return lines


def _structured_format(config: CardConfig) -> list[str]:
    if config.template not in (CHATML_SEP, CHATML):
        return [
            "Tools, `reasoning_content` and `tool_calls` go to the tokenizer's chat template; "
            "the loss mask is its `{% generation %}` blocks.",
            "",
        ]
    return [
        "Inside an assistant message, as ordinary text: "
        f"`{_escaped(THINK_OPEN)}{{reasoning}}{_escaped(THINK_CLOSE)}` (when there is "
        "reasoning), the content, then each tool call as "
        f'`{_escaped(TOOL_CALL_OPEN)}{{"name": …, "arguments": {{…}}}}'
        f"{_escaped(TOOL_CALL_CLOSE)}`, `\\n` between the content and each call. A tool "
        "result is a message with role `tool`. Declared tools open the system message as "
        f"`{_escaped(TOOLS_OPEN)}{{one spec per line}}{_escaped(TOOLS_CLOSE)}`, then `\\n\\n` "
        "and the system text. Trained: the reasoning, content and tool calls of assistant "
        "messages; never tool results, the tools block, system or user text.",
        "",
    ]


def _min_mean_max(stats: Stats) -> str:
    if not stats.conversations or stats.min_tokens is None:
        return "–"
    return f"{stats.min_tokens} / {stats.mean_tokens:.1f} / {stats.max_tokens}"
