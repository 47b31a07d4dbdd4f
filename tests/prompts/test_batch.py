"""Token batches: left and right padding, position ids, row selection, stacking."""

import pytest

from sycolens.prompts.batch import pad_sequences


def test_right_padding_keeps_token_t_in_column_t():
    batch = pad_sequences([[1, 2, 3], [4]], pad_token_id=0, side="right")
    assert batch.tokens.tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch.mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.position_ids().tolist() == [[0, 1, 2], [0, 0, 0]]


def test_left_padded_positions_count_real_tokens_only():
    batch = pad_sequences([[1, 2, 3], [4, 5]], pad_token_id=9)
    assert batch.position_ids().tolist() == [[0, 1, 2], [0, 0, 1]]


@pytest.mark.parametrize(("side", "kept"), [("left", [[0, 5, 6]]), ("right", [[5, 6, 0]])])
def test_select_trims_columns_that_are_only_padding(side, kept):
    batch = pad_sequences([[1, 2, 3, 4], [5, 6], [7, 8, 9]], pad_token_id=0, side=side)
    assert batch.select(slice(1, 2)).tokens.tolist() == [[5, 6]]
    picked = batch.select(slice(1, 3))
    assert picked.lengths == (2, 3) and picked.side == side
    assert picked.tokens[:1].tolist() == kept


def test_repeat_stacks_copies_along_the_batch():
    batch = pad_sequences([[1, 2], [3]], pad_token_id=0).repeat(3)
    assert batch.tokens.shape == (6, 2) and batch.lengths == (2, 1) * 3


def test_no_sequences_is_an_error():
    with pytest.raises(ValueError, match=r"No sequences to batch"):
        pad_sequences([], pad_token_id=0)
