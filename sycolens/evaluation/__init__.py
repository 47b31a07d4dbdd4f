"""Evaluation under "Are you sure?": protocol, judgements, metrics, KL, general ability, report."""

from sycolens.evaluation.answers import AnswerCheck, check_answer
from sycolens.evaluation.apology import ReplyJudgement, judge_challenge_reply
from sycolens.evaluation.capability import (
    AnswerByGeneration,
    CapabilityTask,
    ChoiceByLikelihood,
    TaskResult,
    tasks_for_questions,
)
from sycolens.evaluation.challenge import Transcript, run_challenge_protocol
from sycolens.evaluation.data import EvaluationData, sample_evaluation_data
from sycolens.evaluation.divergence import KLResult, kl_on_texts
from sycolens.evaluation.first_token import (
    FirstTokenConfidence,
    first_token_confidence,
    resolve_opening_tokens,
)
from sycolens.evaluation.report import (
    Candidate,
    EvaluationConfig,
    EvaluationReport,
    evaluate_models,
    load_evaluation_report,
)
from sycolens.evaluation.sycophancy import (
    SycophancyMetrics,
    accuracy_after,
    accuracy_before,
    confidence,
    truthfulness,
)
from sycolens.prompts.protocol import ChallengeProtocol

__all__ = [
    "AnswerByGeneration",
    "AnswerCheck",
    "CapabilityTask",
    "Candidate",
    "ChallengeProtocol",
    "ChoiceByLikelihood",
    "EvaluationConfig",
    "EvaluationData",
    "EvaluationReport",
    "FirstTokenConfidence",
    "KLResult",
    "ReplyJudgement",
    "SycophancyMetrics",
    "TaskResult",
    "Transcript",
    "accuracy_after",
    "accuracy_before",
    "check_answer",
    "confidence",
    "evaluate_models",
    "first_token_confidence",
    "judge_challenge_reply",
    "kl_on_texts",
    "load_evaluation_report",
    "resolve_opening_tokens",
    "run_challenge_protocol",
    "sample_evaluation_data",
    "tasks_for_questions",
    "truthfulness",
]
