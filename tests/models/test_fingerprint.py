"""Weights fingerprint: exact sample positions, also past 2^24 elements."""

import torch

from sycolens.models.fingerprint import SAMPLES_PER_TENSOR, sample_positions, tensors_fingerprint

BIG = 2**24 + 3  # float32 cannot represent every index past 2^24


def test_positions_are_exact_evenly_spaced_integers():
    positions = sample_positions(BIG)
    assert positions.dtype == torch.long and len(positions) == SAMPLES_PER_TENSOR
    assert int(positions[0]) == 0 and int(positions[-1]) == BIG - 1
    expected = [i * (BIG - 1) // (SAMPLES_PER_TENSOR - 1) for i in range(SAMPLES_PER_TENSOR)]
    assert positions.tolist() == expected


def test_small_tensors_are_read_whole():
    assert sample_positions(5).tolist() == [0, 1, 2, 3, 4]
    assert sample_positions(1).tolist() == [0]
    assert sample_positions(0).tolist() == []


def test_fingerprint_of_a_tensor_larger_than_2_to_the_24():
    weight = torch.zeros(BIG)
    before = tensors_fingerprint({"embed": weight})
    weight[-1] = 1.0  # the last element is always sampled
    assert tensors_fingerprint({"embed": weight}) != before
