"""Diagnosis across processes: each process's block of the pairs, and refusals. That 2 launched
processes gather the ranking 1 process computes is `tests/test_launches.py`'s."""

import pytest

from sycolens.training.data_parallel import DataParallel


def test_blocks_cover_every_row_once_in_order():
    for n_rows in (3, 10, 11):
        blocks = [DataParallel(rank, 3).block(n_rows, "pairs") for rank in range(3)]
        rows = [row for block in blocks for row in range(n_rows)[block]]
        assert rows == list(range(n_rows))


def test_fewer_rows_than_processes_is_refused():
    with pytest.raises(ValueError, match=r"2 pairs cannot split over 3 processes.*Fix"):
        DataParallel(0, 3).block(2, "pairs")
