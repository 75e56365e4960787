"""Pairs from rankings (contract 7, source `ranking`): the pure part, no database."""

from sftpipeline.ranking import majority_pairs, ranked_pairs


def test_a_strict_order_of_k_candidates_gives_k_times_k_minus_one_halves_pairs():
    pairs = ranked_pairs([[3], [1], [4], [2]])
    assert pairs == [(3, 1), (3, 4), (3, 2), (1, 4), (1, 2), (4, 2)]
    assert len(ranked_pairs([[key] for key in range(6)])) == 6 * 5 // 2


def test_tied_candidates_give_no_pair_between_them():
    pairs = ranked_pairs([[1], [2, 3], [4]])
    assert (2, 3) not in pairs and (3, 2) not in pairs
    assert pairs == [(1, 2), (1, 3), (1, 4), (2, 4), (3, 4)]
    assert ranked_pairs([[1, 2, 3]]) == []


def test_a_written_better_reply_ranks_above_every_candidate():
    pairs = ranked_pairs([["better"], [2], [1]])
    assert pairs[:2] == [("better", 2), ("better", 1)]


def test_majority_keeps_only_the_pairs_more_than_half_of_the_rankings_state():
    rankings = [[[1], [2], [3]], [[1], [3], [2]], [[2], [1], [3]], [[3], [2], [1]]]
    assert majority_pairs(rankings) == [(1, 3)]
    assert majority_pairs(rankings[:3]) == [(1, 2), (1, 3), (2, 3)]
    # One ranking against one: no majority either way; a tie counts against both orders.
    assert majority_pairs([[[1], [2]], [[2], [1]]]) == []
    assert majority_pairs([[[1], [2]], [[1, 2]]]) == []
    assert majority_pairs([[[1], [2]], [[1], [2]], [[1, 2]]]) == [(1, 2)]
