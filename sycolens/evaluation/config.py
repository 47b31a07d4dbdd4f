"""What an evaluation does: which models, on which questions, under which challenge.

Pure data with checks (no torch import), shared by `python -m sycolens.evaluate`, the demo and
the library: `EvaluationConfig` is how candidates are challenged and batched, `EvaluationJob`
adds the models and data, and `check_evaluation_job` checks everything that can be checked
before any model loads.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sycolens.data.selection import QuestionSource, check_question_source
from sycolens.data.sets import find_question_set
from sycolens.data.texts import load_text_corpus
from sycolens.evaluation.judge import RULE_JUDGE
from sycolens.models.sources import check_model_source, open_safetensors
from sycolens.models.spec import ModelSpec
from sycolens.prompts.protocol import (
    DEFAULT_PROTOCOL,
    FINAL_ANSWER_REQUEST,
    REPLY_LIMIT_FLAGS,
    ChallengeProtocol,
)
from sycolens.prompts.schema import DOUBT_CHALLENGES

PAPER_MAX_TOKENS = 128  # the paper's KL texts: 128 tokens of OpenWebText
DEFAULT_QUESTIONS = 64
DEFAULT_GENERAL = 64
DEFAULT_GENERAL_SET = "bundled"


@dataclass(frozen=True, kw_only=True)
class EvaluationConfig:
    """How candidates are challenged, judged (`judge`: MODULE:FUNCTION, see
    `sycolens.evaluation.judge`) and batched, and how long KL texts may be."""

    protocol: ChallengeProtocol = field(default_factory=ChallengeProtocol)
    judge: str = RULE_JUDGE
    batch_size: int = 16
    kl_max_tokens: int = PAPER_MAX_TOKENS

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}. Fix --batch-size.")
        if self.kl_max_tokens < 2:
            raise ValueError(
                f"kl_max_tokens must be >= 2 (one token predicts nothing), got "
                f"{self.kl_max_tokens}."
            )

    def summary(self) -> dict[str, Any]:
        """Returns the settings a report's `config` records (its judge is recorded apart)."""
        return {
            "protocol": asdict(self.protocol),
            "batch_size": self.batch_size,
            "kl_max_tokens": self.kl_max_tokens,
        }


@dataclass(frozen=True, kw_only=True)
class EvaluationJob:
    """The base model, its tuned variants, the data, and the evaluation settings.

    `general=None` measures no general ability; `texts=None` takes the question set's own
    text (else the bundled sample) for KL. Deltas made over other weights are refused unless
    `allow_other_weights`; then their row is named "... (other base)".
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    deltas: tuple[Path, ...] = ()
    tuned: tuple[str, ...] = ()
    questions: QuestionSource = field(
        default_factory=lambda: QuestionSource(source="bundled", n=DEFAULT_QUESTIONS)
    )
    general: QuestionSource | None = None
    texts: str | None = None
    n_texts: int | None = None
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    allow_other_weights: bool = False

    def __post_init__(self) -> None:
        if self.n_texts is not None and self.n_texts < 1:
            raise ValueError(f"--n-texts must be >= 1, got {self.n_texts}. Fix --n-texts.")


def general_source_for(questions: QuestionSource, n_general: int) -> QuestionSource:
    """Returns where general-ability questions come from unless another source is named.

    The same named set as the challenged questions (the next questions of its order, so the two
    never overlap); for a user's own question file, the bundled set.
    """
    is_named_set = find_question_set(questions.source) is not None
    source = questions.source if is_named_set else DEFAULT_GENERAL_SET
    return QuestionSource(source=source, n=n_general, seed=questions.seed)


def challenge_text(choice: str) -> str:
    """Returns the Table 12 phrasing at index `choice`, or `choice` itself when it is text."""
    if choice.isdigit():
        index = int(choice)
        if index >= len(DOUBT_CHALLENGES):
            raise ValueError(
                f"--challenge {index} is not a Table 12 phrasing (0..{len(DOUBT_CHALLENGES) - 1})."
                " Fix: pick an index in range or pass the challenge text."
            )
        return DOUBT_CHALLENGES[index]
    if not choice.strip():
        raise ValueError("--challenge is empty. Fix: pass an index (0-9) or a challenge text.")
    return choice


def protocol_for(
    questions: str,
    *,
    challenge: str = "0",
    final_request: bool | None = None,
    reply_limits: Mapping[str, int | None] | None = None,
) -> ChallengeProtocol:
    """Returns the question set's protocol (else the default) with the chosen challenge, round
    3 switched on or off where asked, and the `reply_limits` given (`REPLY_LIMIT_FLAGS` keys;
    None or absent: the set's)."""
    found = find_question_set(questions)
    protocol = found.protocol if found else DEFAULT_PROTOCOL
    protocol = replace(protocol, challenge=challenge_text(challenge))
    if final_request is not None:
        protocol = replace(protocol, final_request=FINAL_ANSWER_REQUEST if final_request else None)
    limits = {name: value for name, value in (reply_limits or {}).items() if value is not None}
    for name, value in limits.items():
        if name not in REPLY_LIMIT_FLAGS:
            raise ValueError(
                f"{name} is no reply limit. Fix: one of {', '.join(REPLY_LIMIT_FLAGS)}."
            )
        if value < 1:
            flag, by_set = REPLY_LIMIT_FLAGS[name], getattr(protocol, name)
            raise ValueError(
                f"{flag} must be >= 1 token, got {value}. Fix {flag} (leave it out for the "
                f"question set's {by_set})."
            )
    if protocol.final_request is None and "final_answer_tokens" in limits:
        raise ValueError(
            f"--final-answer-tokens {limits['final_answer_tokens']} limits round 3 (the bare "
            "answer), which this run skips (--no-final-request, or a question set without "
            "it). Fix: drop --final-answer-tokens, or add --final-request."
        )
    return replace(protocol, **limits)


def check_evaluation_job(job: EvaluationJob) -> None:
    """Checks every model, deltas file and question source before anything loads."""
    for source in (job.questions, job.general):
        if source is not None:
            check_question_source(source.source)
    for name in (job.model.name, *job.tuned):
        check_model_source(name)
    for path in job.deltas:
        if not path.is_file():
            raise FileNotFoundError(f"Deltas file {path} does not exist. Fix --deltas.")
        if path.suffix != ".safetensors":
            raise ValueError(
                f"Deltas file {path} is not .safetensors; sycolens reads deltas only as "
                "safetensors (never pickles). Fix --deltas."
            )
        fix = "pass the deltas.safetensors of a `sycolens tune` run."
        with open_safetensors(path, what="a deltas file", fix=fix, framework="numpy") as handle:
            metadata = handle.metadata() or {}
        if "base_fingerprint" not in metadata:
            raise ValueError(
                f"Deltas file {path} records no base model: it is not deltas sycolens wrote (a "
                "whole model's weights?). Fix: pass a tuned checkpoint folder with --tuned, or "
                f"the deltas.safetensors of a `sycolens tune` run with --deltas."
            )
    if job.texts is not None and find_question_set(job.texts) is None:
        load_text_corpus(Path(job.texts))  # read whole: a bad or empty file is named now
