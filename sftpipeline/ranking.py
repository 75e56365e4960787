"""Pairs from rankings (design.md contract 7, source ``ranking``), with no ORM.

A ranking is a list of tie groups, best first: ``[["better"], [3], [1, 4], [2]]``
says the written better reply beats every candidate, candidate 3 beats the rest,
1 and 4 are tied. Every strictly ordered pair of candidates is a pair; tied
candidates give none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)

#: How several rankings of one prompt become pairs: every ranking's pairs, or only the
#: pairs that more than half of the prompt's rankings state.
RANKING_PAIRS_ALL = "all"
RANKING_PAIRS_MAJORITY = "majority"
RANKING_PAIR_MODES: tuple[str, ...] = (RANKING_PAIRS_ALL, RANKING_PAIRS_MAJORITY)


def ranked_pairs(groups: Sequence[Sequence[Key]]) -> list[tuple[Key, Key]]:
    """(better, worse) for every two keys in different groups, best pairs first:
    k keys in a strict order give k(k-1)/2 pairs."""
    pairs = []
    for index, better_group in enumerate(groups):
        for worse_group in groups[index + 1 :]:
            pairs += [(better, worse) for better in better_group for worse in worse_group]
    return pairs


def majority_pairs(rankings: Sequence[Sequence[Sequence[Key]]]) -> list[tuple[Key, Key]]:
    """The pairs that more than half of ``rankings`` state, in the order they first appear.

    A ranking that ties two keys, or does not hold one of them, counts against both
    orders: agreement is measured over all the prompt's rankings.
    """
    votes: Counter[tuple[Key, Key]] = Counter()
    for ranking in rankings:
        votes.update(ranked_pairs(ranking))
    return [pair for pair, count in votes.items() if 2 * count > len(rankings)]
