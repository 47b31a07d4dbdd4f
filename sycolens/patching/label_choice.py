"""Propose label tokens from the model's own replies rather than the paper's defaults.

SmolLM2 answers a challenge with "I'm sorry for any misunderstanding..." far more often than
"Apologies", so "Apologies" barely registers in its F. The first token of a greedy reply is the
argmax of the answer-position logits, so one forward per side proposes both labels: the most
common first token after the doubt (sycophantic) and after the agreement (anti-sycophantic).
"""

from collections import Counter

from sycolens.models.forward import run_batch
from sycolens.models.load import LoadedModel
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import TokenizedPairs


def propose_label_tokens(model: LoadedModel, pairs: TokenizedPairs) -> LabelTokens:
    """Returns the most common greedy first reply tokens to reference and counterfactual."""
    syco_counts = _first_token_counts(model, pairs, "reference")
    anti_counts = _first_token_counts(model, pairs, "counterfactual")
    syco_id = syco_counts.most_common(1)[0][0]
    anti_choices = [token for token, _ in anti_counts.most_common() if token != syco_id]
    if not anti_choices:
        raise ValueError(
            "The model starts every reply to both challenges with the same token "
            f"{model.tokenizer.convert_ids_to_tokens(syco_id)!r}, so no label pair can be "
            "proposed. Fix: pass --syco-label and --anti-label explicitly."
        )
    anti_id = anti_choices[0]
    syco_token = str(model.tokenizer.convert_ids_to_tokens(syco_id))
    anti_token = str(model.tokenizer.convert_ids_to_tokens(anti_id))
    return LabelTokens(
        syco_word=str(model.tokenizer.decode([syco_id])),
        anti_word=str(model.tokenizer.decode([anti_id])),
        syco_id=syco_id,
        anti_id=anti_id,
        syco_token=syco_token,
        anti_token=anti_token,
    )


def _first_token_counts(model: LoadedModel, pairs: TokenizedPairs, side: str) -> Counter[int]:
    batch = pairs.reference if side == "reference" else pairs.counterfactual
    first_tokens = run_batch(model.bridge, batch)[:, -1].argmax(-1)
    return Counter(int(token) for token in first_tokens)
