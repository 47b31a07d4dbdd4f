"""Token batches: padding, masks and position ids, the one place sequences become a batch.

Prompts are LEFT-padded, so the answer (next-token) position is the last column of every row
whatever its length; texts and training sequences are RIGHT-padded, so column t holds token t
of every row. Position ids count real tokens only, so a padded row sees the positions it would
see alone. Prompts, patching, generation, KL on text and organism training all batch here.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Bool, Int
from torch import Tensor

PaddingSide = Literal["left", "right"]


def position_ids(mask: Bool[Tensor, "batch pos"]) -> Int[Tensor, "batch pos"]:
    """Returns 0-based positions counted over real tokens only (left padding gets 0)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


@dataclass(frozen=True)
class TokenBatch:
    """Padded token ids, the mask of real tokens, each row's length and the padding side."""

    tokens: Int[Tensor, "batch pos"]
    mask: Bool[Tensor, "batch pos"]
    lengths: tuple[int, ...]
    side: PaddingSide = "left"

    def to(self, device: torch.device | str) -> "TokenBatch":
        return TokenBatch(self.tokens.to(device), self.mask.to(device), self.lengths, self.side)

    def position_ids(self) -> Int[Tensor, "batch pos"]:
        """Returns each token's position within its own row (see the module doc)."""
        return position_ids(self.mask)

    def select(self, rows: slice) -> "TokenBatch":
        """Returns the rows in `rows`, with columns that hold only padding trimmed away."""
        lengths = self.lengths[rows]
        width = max(lengths, default=0)
        columns = (
            slice(self.tokens.shape[1] - width, None) if self.side == "left" else slice(0, width)
        )
        return TokenBatch(self.tokens[rows, columns], self.mask[rows, columns], lengths, self.side)

    def repeat(self, copies: int) -> "TokenBatch":
        """Returns the batch stacked `copies` times along the batch dimension."""
        return TokenBatch(
            self.tokens.repeat(copies, 1),
            self.mask.repeat(copies, 1),
            self.lengths * copies,
            self.side,
        )


def pad_sequences(
    sequences: Sequence[Sequence[int]], pad_token_id: int, *, side: PaddingSide = "left"
) -> TokenBatch:
    """Returns `sequences` padded to the longest on `side`, with the mask of real tokens."""
    if not sequences:
        raise ValueError("No sequences to batch. Fix: pass at least one token sequence.")
    width = max(len(s) for s in sequences)
    tokens = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        if not sequence:
            continue
        columns = slice(width - len(sequence), width) if side == "left" else slice(0, len(sequence))
        tokens[row, columns] = torch.tensor(list(sequence), dtype=torch.long)
        mask[row, columns] = True
    return TokenBatch(tokens, mask, tuple(len(s) for s in sequences), side)
