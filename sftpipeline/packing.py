"""Greedy packing of tokenized conversations into fixed-length sequences.

Next-fit, in input order: a conversation goes into the open sequence if it
fits, otherwise the open sequence is padded and emitted and a new one starts.
That needs memory for one sequence only and is deterministic for a given input
order. Each sequence carries ``position_ids`` that restart at 0 for every
conversation, and ``sequence_lengths`` / ``cu_seqlens`` for variable-length
attention (e.g. flash-attention ``cu_seqlens``) so that no conversation
attends to another. Padding (``pad_id``, label -100, mask 0) forms its own
final segment with positions restarting at 0, so ``cu_seqlens[-1]`` is always
the sequence length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .render import IGNORE_INDEX, OverflowPolicy, OverflowStatus, TokenizedExample, apply_max_tokens


@dataclass(frozen=True, slots=True)
class PackedSequence:
    """One packed training row of exactly ``seq_len`` tokens."""

    input_ids: list[int]
    labels: list[int]
    loss_mask: list[int]
    position_ids: list[int]
    #: Length of each packed conversation, in order (padding excluded).
    sequence_lengths: list[int]
    #: Cumulative segment boundaries starting at 0; includes the padding segment.
    cu_seqlens: list[int]
    #: Ids of the packed conversations, in order.
    example_ids: list[str]
    num_padding: int


@dataclass(slots=True)
class Packer:
    """Streaming next-fit packer; counts what the overflow policy truncated or dropped.

    Call :meth:`add` per conversation and :meth:`finish` once at the end; both
    return the sequences completed by that call.
    """

    seq_len: int
    pad_id: int
    overflow: OverflowPolicy | str = OverflowPolicy.TRUNCATE
    truncated: int = 0
    dropped: int = 0
    _open: list[tuple[str, TokenizedExample]] = field(default_factory=list)
    _open_tokens: int = 0

    def __post_init__(self) -> None:
        if self.seq_len < 1:
            raise ValueError("seq_len must be at least 1")
        self.overflow = OverflowPolicy(self.overflow)

    def add(self, example_id: str, example: TokenizedExample) -> list[PackedSequence]:
        """Add one conversation; returns the sequence it closed, if any."""
        kept, status = apply_max_tokens(example, self.seq_len, self.overflow)
        if status is OverflowStatus.TRUNCATED:
            self.truncated += 1
        if kept is None:
            self.dropped += 1
            return []
        completed = []
        if self._open and self._open_tokens + kept.num_tokens > self.seq_len:
            completed.append(self._emit())
        if kept.num_tokens:
            self._open.append((str(example_id), kept))
            self._open_tokens += kept.num_tokens
        return completed

    def finish(self) -> list[PackedSequence]:
        """Emit the last, partly filled sequence (if any)."""
        return [self._emit()] if self._open else []

    def _emit(self) -> PackedSequence:
        input_ids: list[int] = []
        labels: list[int] = []
        loss_mask: list[int] = []
        position_ids: list[int] = []
        lengths: list[int] = []
        cu_seqlens = [0]
        for _, example in self._open:
            input_ids += example.input_ids
            labels += example.labels
            loss_mask += example.loss_mask
            position_ids += range(example.num_tokens)
            lengths.append(example.num_tokens)
            cu_seqlens.append(cu_seqlens[-1] + example.num_tokens)
        padding = self.seq_len - len(input_ids)
        if padding:
            input_ids += [self.pad_id] * padding
            labels += [IGNORE_INDEX] * padding
            loss_mask += [0] * padding
            position_ids += range(padding)
            cu_seqlens.append(self.seq_len)
        sequence = PackedSequence(
            input_ids=input_ids,
            labels=labels,
            loss_mask=loss_mask,
            position_ids=position_ids,
            sequence_lengths=lengths,
            cu_seqlens=cu_seqlens,
            example_ids=[example_id for example_id, _ in self._open],
            num_padding=padding,
        )
        self._open = []
        self._open_tokens = 0
        return sequence


def pack_examples(
    examples: Iterable[tuple[str, TokenizedExample]],
    *,
    seq_len: int,
    pad_id: int,
    overflow: OverflowPolicy | str = OverflowPolicy.TRUNCATE,
) -> Iterator[PackedSequence]:
    """Pack ``(id, example)`` pairs into ``seq_len`` sequences (see :class:`Packer`)."""
    packer = Packer(seq_len=seq_len, pad_id=pad_id, overflow=overflow)
    for example_id, example in examples:
        yield from packer.add(example_id, example)
    yield from packer.finish()
