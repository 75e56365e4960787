"""Deterministic split, duplicate keys and packing boundaries."""

import random
from itertools import pairwise

import pytest

from sftpipeline.packing import Packer, pack_examples
from sftpipeline.render import IGNORE_INDEX, TokenizedExample, tokenize_conversations
from sftpipeline.split import TRAIN, VALIDATION, Deduplicator, assign_split, dedup_key
from sftpipeline.tokenizers import load_cl100k_base


def test_same_seed_same_split_regardless_of_order_and_size():
    ids = [f"conv-{i}" for i in range(2000)]
    first = {i: assign_split(i, seed=7, val_fraction=0.1) for i in ids}
    shuffled = ids[:]
    random.Random(3).shuffle(shuffled)
    assert {i: assign_split(i, seed=7, val_fraction=0.1) for i in shuffled} == first
    # A grown dataset keeps every old conversation on its side.
    assert all(assign_split(i, seed=7, val_fraction=0.1) == first[i] for i in ids[:100])
    share = sum(1 for s in first.values() if s == VALIDATION) / len(ids)
    assert 0.08 < share < 0.12
    other_seed = {i: assign_split(i, seed=8, val_fraction=0.1) for i in ids}
    assert other_seed != first


def test_split_fraction_edges_and_monotonicity():
    ids = range(500)
    assert {assign_split(i, seed=1, val_fraction=0.0) for i in ids} == {TRAIN}
    assert {assign_split(i, seed=1, val_fraction=1.0) for i in ids} == {VALIDATION}
    small = {i for i in ids if assign_split(i, seed=1, val_fraction=0.1) == VALIDATION}
    large = {i for i in ids if assign_split(i, seed=1, val_fraction=0.3) == VALIDATION}
    assert small < large
    with pytest.raises(ValueError):
        assign_split(1, seed=1, val_fraction=1.5)


def test_duplicate_key_sees_only_roles_and_contents():
    a = [{"role": "user", "content": "hi", "origin": "human"}]
    b = [{"content": "hi", "role": "user", "origin": "model"}]
    assert dedup_key(a) == dedup_key(b)
    assert dedup_key(a) != dedup_key([{"role": "user", "content": "hi "}])
    dedup = Deduplicator()
    assert [dedup.is_duplicate(m) for m in (a, b, [{"role": "user", "content": "x"}])] == [
        False,
        True,
        False,
    ]
    assert dedup.duplicates == 1


def example(length: int, start: int = 1) -> TokenizedExample:
    ids = list(range(start, start + length))
    mask = [i % 2 for i in range(length)]
    return TokenizedExample.from_ids_and_mask(ids, mask)


def test_packing_restarts_positions_and_never_mixes_conversations():
    examples = [(f"c{i}", example(n, start=100 * i)) for i, n in enumerate([5, 4, 3, 7, 2])]
    packed = list(pack_examples(examples, seq_len=10, pad_id=0))
    assert [p.example_ids for p in packed] == [["c0", "c1"], ["c2", "c3"], ["c4"]]
    first = packed[0]
    assert first.sequence_lengths == [5, 4]
    assert first.cu_seqlens == [0, 5, 9, 10]
    assert first.position_ids == [0, 1, 2, 3, 4, 0, 1, 2, 3, 0]
    assert first.input_ids == [*range(0, 5), *range(100, 104), 0]
    assert first.labels[-1] == IGNORE_INDEX and first.loss_mask[-1] == 0
    assert packed[1].cu_seqlens == [0, 3, 10]  # exactly full: no padding segment
    assert packed[1].num_padding == 0
    assert packed[2].num_padding == 8
    for sequence in packed:
        assert all(
            len(getattr(sequence, name)) == 10
            for name in ("input_ids", "labels", "loss_mask", "position_ids")
        )
        # Every segment starts at position 0 and counts up by one.
        for start, end in pairwise(sequence.cu_seqlens):
            assert sequence.position_ids[start:end] == list(range(end - start))


def test_packing_carries_the_labels_of_each_conversation():
    cl100k = load_cl100k_base()
    conversations = [
        [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": f"A{i}"}]
        for i in range(6)
    ]
    tokenized = tokenize_conversations(conversations, "chatml-sep", cl100k)
    packed = list(pack_examples(enumerate(tokenized), seq_len=40, pad_id=100257))
    for sequence in packed:
        for k, (start, end) in enumerate(pairwise(sequence.cu_seqlens)):
            if k < len(sequence.example_ids):
                source = tokenized[int(sequence.example_ids[k])]
                assert sequence.input_ids[start:end] == source.input_ids
                assert sequence.labels[start:end] == source.labels
    assert sum(len(p.example_ids) for p in packed) == 6


def test_overlong_examples_follow_the_overflow_policy():
    items = [("a", example(3)), ("long", example(25)), ("b", example(4))]
    packer = Packer(seq_len=10, pad_id=0, overflow="drop")
    packed = [s for i, e in items for s in packer.add(i, e)] + packer.finish()
    assert [p.example_ids for p in packed] == [["a", "b"]]
    assert (packer.dropped, packer.truncated) == (1, 0)

    packer = Packer(seq_len=10, pad_id=0, overflow="truncate")
    packed = [s for i, e in items for s in packer.add(i, e)] + packer.finish()
    assert [p.example_ids for p in packed] == [["a"], ["long"], ["b"]]
    assert packed[1].input_ids == list(range(1, 11)) and packed[1].num_padding == 0
    assert (packer.dropped, packer.truncated) == (0, 1)


def test_packing_is_deterministic():
    items = [(str(i), example(1 + (i * 7) % 9)) for i in range(50)]
    assert list(pack_examples(items, seq_len=16, pad_id=0)) == list(
        pack_examples(items, seq_len=16, pad_id=0)
    )
