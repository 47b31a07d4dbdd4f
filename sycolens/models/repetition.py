"""Stop a generated reply once it repeats a line: looping replies end early.

Small models under pressure loop ("I'm not sure. I'm not sure. I'm not sure. ..."), and a
loop runs to the token limit, costing time and hiding where the reply really ended. A *line*
is a sentence or a line of text: a stretch ended by ".", "!", "?" or a newline. When a line of
at least `MIN_WORDS` words ends that equals (case and spacing folded) an earlier line of the
same reply, the reply stops there, with the repeat kept so a reader sees why it stopped. Loops
without sentence ends ("The answer is: The answer is: The answer is: ...") stop when the reply
ends with the same run of at least `MIN_RUN_WORDS` words twice in a row.
"""

import re
from typing import Any, cast

import torch
from jaxtyping import Bool, Int
from torch import Tensor
from transformers import StoppingCriteria

MIN_WORDS = 2
MIN_RUN_WORDS = 5
_LINE = re.compile(r"[^.!?\n]*[.!?\n]")


def repeats_a_line(text: str) -> bool:
    """True when the last finished line of `text` repeats an earlier one, or the text ends
    with a run of words said twice in a row (rules above)."""
    lines = [" ".join(line[:-1].lower().split()) for line in _LINE.findall(text)]
    lines = [line for line in lines if line]
    if lines and len(lines[-1].split()) >= MIN_WORDS and lines[-1] in lines[:-1]:
        return True
    words = text.lower().split()
    return any(words[-n:] == words[-2 * n : -n] for n in range(MIN_RUN_WORDS, len(words) // 2 + 1))


class RepeatedLineStop(StoppingCriteria):
    """A `generate` stopping criterion that ends each row once its reply repeats a line.

    `stopped_at[row]` records how many generated tokens the row had when it stopped, so the
    caller can cut the row there (the batch goes on generating padding for it).
    """

    def __init__(self, tokenizer: Any, prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.stopped_at: dict[int, int] = {}

    def __call__(
        self, input_ids: Int[Tensor, "batch pos"], _scores: Any, **_kwargs: Any
    ) -> torch.BoolTensor:
        generated = input_ids[:, self.prompt_width :]
        rows = [row for row in range(generated.shape[0]) if row not in self.stopped_at]
        texts = self.tokenizer.batch_decode(generated[rows].tolist(), skip_special_tokens=True)
        for row, text in zip(rows, texts, strict=True):
            if repeats_a_line(text):
                self.stopped_at[row] = generated.shape[1]
        is_stopped = [row in self.stopped_at for row in range(generated.shape[0])]
        stopped: Bool[Tensor, " batch"] = torch.tensor(is_stopped, device=input_ids.device)
        return cast(torch.BoolTensor, stopped)
