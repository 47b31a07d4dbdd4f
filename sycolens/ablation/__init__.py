"""Knock attention heads out (mean or zero ablation) around any forward, generation or metric.

Names are imported on first use, so `sycolens.ablation.config` stays light for the CLIs.
"""

from typing import TYPE_CHECKING

from sycolens._lazy import lazy_attributes, lazy_dir

if TYPE_CHECKING:
    from sycolens.ablation.config import AblationMethod, AblationPositions, KnockoutConfig
    from sycolens.ablation.curve import KnockoutCurve, knockout_curve
    from sycolens.ablation.job import KnockoutJob
    from sycolens.ablation.knockout import AblationLog, HeadAblation, knocked_out
    from sycolens.ablation.means import mean_ablation, zero_ablation
    from sycolens.ablation.run import KnockoutResult, knockout_model, run_knockout

_HOMES = {
    "AblationMethod": "config",
    "AblationPositions": "config",
    "KnockoutConfig": "config",
    "HeadAblation": "knockout",
    "AblationLog": "knockout",
    "knocked_out": "knockout",
    "KnockoutCurve": "curve",
    "knockout_curve": "curve",
    "KnockoutJob": "job",
    "KnockoutResult": "run",
    "knockout_model": "run",
    "run_knockout": "run",
    "mean_ablation": "means",
    "zero_ablation": "means",
}
__all__ = [
    "AblationLog",
    "AblationMethod",
    "AblationPositions",
    "HeadAblation",
    "KnockoutConfig",
    "KnockoutCurve",
    "KnockoutJob",
    "KnockoutResult",
    "knockout_curve",
    "knockout_model",
    "knocked_out",
    "mean_ablation",
    "run_knockout",
    "zero_ablation",
]
__getattr__ = lazy_attributes(__name__, _HOMES)
__dir__ = lazy_dir(globals(), _HOMES)
