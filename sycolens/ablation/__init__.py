"""Knock attention heads out (mean or zero ablation) around any forward, generation or metric.

Names are imported on first use, so `sycolens.ablation.config` stays light for the CLIs.
"""

from typing import TYPE_CHECKING

from sycolens._lazy import lazy_attributes

if TYPE_CHECKING:
    from sycolens.ablation.config import AblationMethod, AblationPositions, KnockoutConfig
    from sycolens.ablation.knockout import AblationLog, HeadAblation, knocked_out
    from sycolens.ablation.means import mean_ablation, zero_ablation

_HOMES = {
    "AblationMethod": "config",
    "AblationPositions": "config",
    "KnockoutConfig": "config",
    "HeadAblation": "knockout",
    "AblationLog": "knockout",
    "knocked_out": "knockout",
    "mean_ablation": "means",
    "zero_ablation": "means",
}
__all__ = [
    "AblationLog",
    "AblationMethod",
    "AblationPositions",
    "HeadAblation",
    "KnockoutConfig",
    "knocked_out",
    "mean_ablation",
    "zero_ablation",
]
__getattr__ = lazy_attributes(__name__, _HOMES)
