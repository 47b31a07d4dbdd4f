"""KL divergence of a tuned model from its base on general text (the paper's "Dist. Dev.").

For each text, truncated to `max_tokens` tokens (the paper: 1,000 OpenWebText texts, 128
tokens), both models predict every next token; the KL(base || tuned) of the two next-token
distributions is averaged over every predicted position of every text (token-weighted), and
also reported per text. How many texts were truncated, and how many were too short to predict
anything (one token), is counted, never hidden. Texts run right-padded in batches through
both HF models; padding positions are masked out.
"""

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from sycolens.data.texts import TextCorpus
from sycolens.evaluation.config import PAPER_MAX_TOKENS
from sycolens.models.load import LoadedModel
from sycolens.prompts.batch import TokenBatch, pad_sequences


@dataclass(frozen=True)
class TokenizedTexts:
    """Right-padded texts and what was cut or left out."""

    batch: TokenBatch
    n_truncated: int
    n_too_short: int


@dataclass(frozen=True)
class KLResult:
    """Mean per-token KL(base || tuned), per-text means, and the counts behind them."""

    mean_kl: float
    per_text: tuple[float, ...]
    n_texts: int
    n_tokens: int
    n_truncated: int
    n_too_short: int
    max_tokens: int
    source: str


def tokenize_texts(
    model: LoadedModel, texts: Sequence[str], *, max_tokens: int = PAPER_MAX_TOKENS
) -> TokenizedTexts:
    """Returns the texts tokenized as plain text, truncated to `max_tokens`, right-padded.

    Texts of a single token predict nothing and are left out (counted in `n_too_short`).
    """
    encoded = [list(model.tokenizer(text)["input_ids"]) for text in texts]
    unk = model.tokenizer.unk_token_id
    for index, ids in enumerate(encoded):
        if unk is not None and unk in ids:
            raise ValueError(
                f"Text {index} has words {model.model_id!r} does not know (unknown token id "
                f"{unk}). Fix: use a corpus in the model's vocabulary (for the organism: its "
                "own world text, `--texts organism`)."
            )
    usable = [ids[:max_tokens] for ids in encoded if len(ids) >= 2]
    if not usable:
        raise ValueError(
            f"None of the {len(texts)} texts is longer than one token, so no next token can be "
            "predicted. Fix: use longer texts."
        )
    return TokenizedTexts(
        pad_sequences(usable, model.pad_token_id, side="right"),
        n_truncated=sum(len(ids) > max_tokens for ids in encoded),
        n_too_short=len(encoded) - len(usable),
    )


def next_token_kl(
    base_logits: Float[Tensor, "batch pos d_vocab"],
    tuned_logits: Float[Tensor, "batch pos d_vocab"],
) -> Float[Tensor, "batch pos"]:
    """Returns KL(base || tuned) of the next-token distributions at every position."""
    base_log_probs = base_logits.float().log_softmax(-1)
    tuned_log_probs = tuned_logits.float().log_softmax(-1)
    return (base_log_probs.exp() * (base_log_probs - tuned_log_probs)).sum(-1)


def kl_on_texts(
    base: LoadedModel,
    tuned: LoadedModel,
    corpus: TextCorpus,
    *,
    max_tokens: int = PAPER_MAX_TOKENS,
    batch_size: int = 8,
    show_progress: bool = False,
    tuned_intervention: Callable[[], AbstractContextManager[object]] | None = None,
) -> KLResult:
    """Returns the mean per-token KL(base || tuned) over the corpus (see the module doc).

    `tuned_intervention` is entered around the tuned model's forwards only, so a knockout of a
    model that is also the base leaves the base's forwards untouched.
    """
    _check_same_vocabulary(base, tuned)
    texts = tokenize_texts(base, corpus.texts, max_tokens=max_tokens)
    text_kl_sums: list[Tensor] = []
    text_counts: list[Tensor] = []
    starts = range(0, len(texts.batch.lengths), batch_size)
    for start in tqdm(starts, desc="KL on general text", disable=not show_progress):
        batch = texts.batch.select(slice(start, start + batch_size))
        base_logits = _logits(base, batch)
        with tuned_intervention() if tuned_intervention else nullcontext():
            tuned_logits = _logits(tuned, batch).to(base_logits.device)
        kl = next_token_kl(base_logits, tuned_logits)
        # Position t predicts token t+1: it counts when both t and t+1 are real tokens.
        has_next = (batch.mask[:, :-1] & batch.mask[:, 1:]).to(kl.device)
        text_kl_sums.append((kl[:, :-1] * has_next).sum(-1).cpu())
        text_counts.append(has_next.sum(-1).cpu())
    kl_sums = torch.cat(text_kl_sums)
    counts = torch.cat(text_counts)
    return KLResult(
        mean_kl=float(kl_sums.sum() / counts.sum()),
        per_text=tuple((kl_sums / counts).tolist()),
        n_texts=int(counts.shape[0]),
        n_tokens=int(counts.sum()),
        n_truncated=texts.n_truncated,
        n_too_short=texts.n_too_short,
        max_tokens=max_tokens,
        source=corpus.source,
    )


def _logits(model: LoadedModel, batch: TokenBatch) -> Float[Tensor, "batch pos d_vocab"]:
    with torch.no_grad():
        batch = batch.to(model.device)
        return model.hf_model(input_ids=batch.tokens, attention_mask=batch.mask.long()).logits


def _check_same_vocabulary(base: LoadedModel, tuned: LoadedModel) -> None:
    if base.tokenizer.get_vocab() != tuned.tokenizer.get_vocab():
        raise ValueError(
            f"{tuned.model_id!r} and {base.model_id!r} have different vocabularies, so their "
            "next-token distributions cannot be compared. Fix: compare a tuned model with the "
            "base it was tuned from."
        )
