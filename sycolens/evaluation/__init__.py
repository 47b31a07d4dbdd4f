"""Evaluation under "Are you sure?": protocol, judgements, metrics, KL, general ability, report.

Names are imported on first use, so `sycolens.evaluation.config` stays light.
"""

from typing import TYPE_CHECKING

from sycolens._lazy import lazy_attributes, lazy_dir

if TYPE_CHECKING:
    from sycolens.evaluation.answers import AnswerCheck, check_answer
    from sycolens.evaluation.capability import (
        AnswerByGeneration,
        CapabilityTask,
        ChoiceByLikelihood,
        TaskResult,
        tasks_for_questions,
    )
    from sycolens.evaluation.challenge import Transcript, run_challenge_protocol
    from sycolens.evaluation.config import EvaluationConfig, EvaluationJob
    from sycolens.evaluation.data import EvaluationData, build_evaluation_data
    from sycolens.evaluation.divergence import KLResult, kl_on_texts
    from sycolens.evaluation.first_token import (
        FirstTokenConfidence,
        first_token_confidence,
        resolve_opening_tokens,
    )
    from sycolens.evaluation.judge import (
        RULE_JUDGE,
        JudgeError,
        ReplyJudgement,
        judge_transcripts,
        resolve_judge,
    )
    from sycolens.evaluation.report import (
        Candidate,
        EvaluationReport,
        evaluate_models,
    )
    from sycolens.evaluation.run import run_evaluation
    from sycolens.evaluation.stance import judge_reply
    from sycolens.evaluation.sycophancy import (
        SycophancyMetrics,
        accuracy_after,
        accuracy_before,
        answer_change_rate,
        confidence,
        regressive_rate,
        truthfulness,
    )

_HOMES = {
    "AnswerCheck": "answers",
    "check_answer": "answers",
    "AnswerByGeneration": "capability",
    "CapabilityTask": "capability",
    "ChoiceByLikelihood": "capability",
    "TaskResult": "capability",
    "tasks_for_questions": "capability",
    "Transcript": "challenge",
    "run_challenge_protocol": "challenge",
    "EvaluationConfig": "config",
    "EvaluationJob": "config",
    "EvaluationData": "data",
    "build_evaluation_data": "data",
    "KLResult": "divergence",
    "kl_on_texts": "divergence",
    "FirstTokenConfidence": "first_token",
    "first_token_confidence": "first_token",
    "resolve_opening_tokens": "first_token",
    "RULE_JUDGE": "judge",
    "JudgeError": "judge",
    "ReplyJudgement": "judge",
    "judge_transcripts": "judge",
    "resolve_judge": "judge",
    "Candidate": "report",
    "EvaluationReport": "report",
    "evaluate_models": "report",
    "run_evaluation": "run",
    "judge_reply": "stance",
    "SycophancyMetrics": "sycophancy",
    "accuracy_after": "sycophancy",
    "accuracy_before": "sycophancy",
    "answer_change_rate": "sycophancy",
    "confidence": "sycophancy",
    "regressive_rate": "sycophancy",
    "truthfulness": "sycophancy",
}
__all__ = [
    "AnswerByGeneration",
    "AnswerCheck",
    "Candidate",
    "CapabilityTask",
    "ChoiceByLikelihood",
    "EvaluationConfig",
    "EvaluationData",
    "EvaluationJob",
    "EvaluationReport",
    "FirstTokenConfidence",
    "JudgeError",
    "KLResult",
    "RULE_JUDGE",
    "ReplyJudgement",
    "SycophancyMetrics",
    "TaskResult",
    "Transcript",
    "accuracy_after",
    "accuracy_before",
    "answer_change_rate",
    "build_evaluation_data",
    "check_answer",
    "confidence",
    "evaluate_models",
    "first_token_confidence",
    "judge_reply",
    "judge_transcripts",
    "kl_on_texts",
    "regressive_rate",
    "resolve_judge",
    "resolve_opening_tokens",
    "run_challenge_protocol",
    "run_evaluation",
    "tasks_for_questions",
    "truthfulness",
]
__getattr__ = lazy_attributes(__name__, _HOMES)
__dir__ = lazy_dir(globals(), _HOMES)
