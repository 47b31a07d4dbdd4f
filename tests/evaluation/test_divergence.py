"""KL on general text: batched and padded against one unpadded text at a time."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from sycolens.data.sets import question_set
from sycolens.data.texts import TextCorpus, bundled_text_corpus
from sycolens.evaluation.divergence import kl_on_texts, next_token_kl, tokenize_texts
from sycolens.models import LoadedModel
from sycolens.models.tiny import TinyFamily

ORGANISM_TEXTS = question_set("organism").load_texts().head(12)


def kl_reference(base: LoadedModel, tuned: LoadedModel, texts: TextCorpus, max_tokens: int):
    """Per text, unpadded, KL summed by hand from the two softmaxes."""
    per_text: list[float] = []
    total, count = 0.0, 0
    for text in texts.texts:
        ids = torch.tensor([list(base.tokenizer(text)["input_ids"])[:max_tokens]])
        with torch.no_grad():
            p = base.hf_model(input_ids=ids).logits[0, :-1].double().softmax(-1)
            q = tuned.hf_model(input_ids=ids).logits[0, :-1].double().softmax(-1)
        kl = (p * (p.log() - q.log())).sum(-1)
        per_text.append(float(kl.mean()))
        total, count = total + float(kl.sum()), count + kl.numel()
    return total / count, per_text


@pytest.fixture(scope="module")
def base_and_control(organisms: dict[str, LoadedModel]) -> tuple[LoadedModel, LoadedModel]:
    return organisms["organism-mha"], organisms["organism-control"]


def test_batched_kl_matches_the_per_text_reference(
    base_and_control: tuple[LoadedModel, LoadedModel],
):
    base, tuned = base_and_control
    result = kl_on_texts(base, tuned, ORGANISM_TEXTS, max_tokens=20, batch_size=5)
    mean, per_text = kl_reference(base, tuned, ORGANISM_TEXTS, 20)
    assert result.mean_kl > 0.01
    assert result.mean_kl == pytest.approx(mean, rel=1e-4)
    assert result.per_text == pytest.approx(per_text, rel=1e-4)
    assert result.n_texts == 12 and result.n_truncated == 12  # world texts exceed 20 tokens
    assert result.n_tokens == 12 * 19


def test_texts_of_every_length_in_batches_of_different_widths(
    base_and_control: tuple[LoadedModel, LoadedModel],
):
    """Each batch is padded only to its own longest text; padding never counts."""
    base, tuned = base_and_control
    texts = tuple(" ".join(t.split()[: 4 + 5 * i]) for i, t in enumerate(ORGANISM_TEXTS.texts))
    corpus = TextCorpus("mixed lengths", texts)
    result = kl_on_texts(base, tuned, corpus, max_tokens=128, batch_size=5)
    mean, per_text = kl_reference(base, tuned, corpus, 128)
    assert result.n_truncated == 0 and len({len(t.split()) for t in texts}) == 12
    assert result.mean_kl == pytest.approx(mean, rel=1e-4)
    assert result.per_text == pytest.approx(per_text, rel=1e-4)


def test_kl_of_a_model_from_itself_is_zero(tiny_models: dict[TinyFamily, LoadedModel]):
    model = tiny_models["llama"]
    result = kl_on_texts(model, model, bundled_text_corpus().head(4), max_tokens=32)
    assert result.mean_kl == pytest.approx(0.0, abs=1e-7)


def test_kl_rises_when_the_tuned_model_moves(
    tiny_checkpoints: dict[TinyFamily, Path], fresh_model: Callable[..., LoadedModel]
):
    base = fresh_model(str(tiny_checkpoints["llama"]))
    tuned = fresh_model(str(tiny_checkpoints["llama"]))
    with torch.no_grad():
        tuned.hf_parameters()["model.layers.1.self_attn.o_proj.weight"].mul_(3.0)
    moved = kl_on_texts(base, tuned, bundled_text_corpus().head(4), max_tokens=32).mean_kl
    assert moved > 1e-4


def test_next_token_kl_is_kl_per_position():
    base = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])
    tuned = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    p = torch.tensor([2.0, 0.0]).softmax(-1)
    expected = float((p * (p.log() - torch.tensor([0.5, 0.5]).log())).sum())
    torch.testing.assert_close(next_token_kl(base, tuned), torch.tensor([[0.0, expected]]))


def test_one_token_texts_are_counted_and_unknown_words_refused(
    base_and_control: tuple[LoadedModel, LoadedModel],
):
    base, _ = base_and_control
    tokenized = tokenize_texts(base, ["zorp", "the zorp is red ."])
    assert tokenized.n_too_short == 1 and tokenized.batch.tokens.shape[0] == 1
    with pytest.raises(ValueError, match=r"longer than one token"):
        tokenize_texts(base, ["zorp"])
    with pytest.raises(ValueError, match=r"Text 0 has words 'organism-mha' does not know"):
        tokenize_texts(base, ["The kettle had been whistling"])


def test_models_with_other_vocabularies_are_refused(
    base_and_control: tuple[LoadedModel, LoadedModel], tiny_models: dict[TinyFamily, LoadedModel]
):
    with pytest.raises(ValueError, match=r"have different vocabularies"):
        kl_on_texts(base_and_control[0], tiny_models["llama"], ORGANISM_TEXTS)
