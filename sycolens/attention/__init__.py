"""Attention to the challenge (Fig. 2c): per-head shares, the top-vs-rest test, circuitsvis views.

Names are imported on first use, so `python -m sycolens.attention --help` stays light.
"""

from typing import TYPE_CHECKING

from sycolens._lazy import call_through_api, lazy_attributes, lazy_dir

if TYPE_CHECKING:
    from sycolens.attention.compare import AttentionComparison, compare_top_heads
    from sycolens.attention.config import AttentionJob, AttentionSpan
    from sycolens.attention.patterns import ChallengeAttention, challenge_attention
    from sycolens.attention.run import AttentionResult, attention_model, run_attention
    from sycolens.attention.views import attention_view

_HOMES = {
    "AttentionComparison": "compare",
    "compare_top_heads": "compare",
    "AttentionJob": "config",
    "AttentionSpan": "config",
    "ChallengeAttention": "patterns",
    "challenge_attention": "patterns",
    "AttentionResult": "run",
    "attention_model": "run",
    "run_attention": "run",
    "attention_view": "views",
}
__all__ = [
    "AttentionComparison",
    "AttentionJob",
    "AttentionResult",
    "AttentionSpan",
    "ChallengeAttention",
    "attention_model",
    "attention_view",
    "challenge_attention",
    "compare_top_heads",
    "run_attention",
]
__getattr__ = lazy_attributes(__name__, _HOMES)
__dir__ = lazy_dir(globals(), _HOMES)

# `sycolens.attention(model, heads)` is the notebook call (`sycolens.api.attention`).
call_through_api(__name__)
