"""Where the turns of a tokenized chat lie, found from its chat template, never hard-coded.

Two views of the same question, "which tokens belong to the challenge turn?":

- `chat_spans` renders the messages with the model's template, finds each message's content
  in the rendered text (character offsets) and maps the offsets to tokens. The **challenge
  span** runs from the first token after the first assistant answer to the end of the prompt
  (or to the next assistant answer): the turn separator, the challenge sentence and the
  assistant cue around it; attention can be measured on it (`--span turn`), and knockouts
  replace from its start to the end of the prompt. The **challenge sentence** (the challenge
  message's own tokens) is what attention to the challenge is measured on by default.
- `ChallengeLocator` finds the same start from token ids alone, as hooks inside a forward or a
  generation see them. It learns the template's two turn separators once, from a probe chat laid
  out by `chat_spans`: "end of user turn + assistant cue" and "end of assistant turn + user cue"
  (whitespace-only tokens at their ends dropped). The challenge starts at the first "assistant
  to user" separator that follows an assistant cue, so a system turn before the question is
  never taken for a challenge.

Both work for ChatML, Llama-2's `[INST]` template, the paper's HUMAN/ASSISTANT fallback
(Table 9) and the organism's word-level ChatML, also with tokenizers that split digits; tests
check they agree on each.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sycolens.prompts.chat import ChatFormatter, Message

TokenSpan = tuple[int, int]  # [start, stop) token indices

# A word answer: tokenizers that split digits leave the space before "5" a token of its own,
# which would end the learnt cue and miss every answer that is a word.
_PROBE: tuple[Message, ...] = (
    Message(role="user", content="What is the capital of France ?"),
    Message(role="assistant", content="Paris"),
    Message(role="user", content="Are you sure ?"),
)


@dataclass(frozen=True)
class ChatSpans:
    """A tokenized chat with the token span of every message's content and of the challenge."""

    ids: tuple[int, ...]
    contents: tuple[TokenSpan, ...]
    challenge: TokenSpan | None
    challenge_message: int | None  # index of the challenge among the messages

    def require_challenge(self, what: str) -> TokenSpan:
        """Returns the challenge span, or raises naming `what` when the chat has none."""
        if self.challenge is None:
            raise ValueError(
                f"{what} has no challenge turn (no user turn after an assistant answer). Fix: "
                "pass chats of question, answer and challenge, as `build_pairs` makes them."
            )
        return self.challenge

    def require_challenge_sentence(self, what: str) -> TokenSpan:
        """Returns the tokens of the challenge message's content alone."""
        self.require_challenge(what)
        assert self.challenge_message is not None
        return self.contents[self.challenge_message]


def chat_spans(
    chat: ChatFormatter, messages: Sequence[Message], *, add_generation_prompt: bool = True
) -> ChatSpans:
    """Returns the chat's token ids with each message's content span and the challenge span."""
    text = chat.render(messages, add_generation_prompt=add_generation_prompt)
    ids, offsets = chat.encode_with_offsets(text)
    characters = _content_characters(text, messages)
    contents = tuple(_tokens_overlapping(offsets, span) for span in characters)
    challenge = _challenge_span(messages, characters, offsets)
    message = None if challenge is None else _challenge_message(messages)
    return ChatSpans(tuple(ids), contents, challenge, message)


def _challenge_message(messages: Sequence[Message]) -> int:
    """Returns the index of the first user message after the first assistant message."""
    roles = [message["role"] for message in messages]
    answer = roles.index("assistant")
    return roles.index("user", answer + 1)


def _content_characters(text: str, messages: Sequence[Message]) -> list[TokenSpan]:
    """Returns each message content's [start, stop) character offsets in the rendered text."""
    found: list[TokenSpan] = []
    cursor = 0
    for index, message in enumerate(messages):
        content = message["content"].strip()
        start = text.find(content, cursor)
        if not content or start < 0:
            raise ValueError(
                f"Message {index} ({message['role']}) is empty or not found verbatim in the "
                "rendered chat, so its tokens cannot be located. Fix: pass non-empty messages "
                "to a chat template that writes their content unchanged."
            )
        found.append((start, start + len(content)))
        cursor = start + len(content)
    return found


def _tokens_overlapping(offsets: Sequence[TokenSpan], characters: TokenSpan) -> TokenSpan:
    """Returns the token span whose characters overlap [start, stop)."""
    start, stop = characters
    hits = [i for i, (a, b) in enumerate(offsets) if b > a and a < stop and b > start]
    return (hits[0], hits[-1] + 1)


def _challenge_span(
    messages: Sequence[Message], characters: list[TokenSpan], offsets: Sequence[TokenSpan]
) -> TokenSpan | None:
    """Returns tokens from just after the first answer to the next answer (or the end)."""
    roles = [message["role"] for message in messages]
    if "assistant" not in roles:
        return None
    answer = roles.index("assistant")
    if "user" not in roles[answer + 1 :]:
        return None
    answer_end = characters[answer][1]
    start = next(i for i, (a, b) in enumerate(offsets) if b > a and a >= answer_end)
    later_answers = [i for i in range(answer + 1, len(roles)) if roles[i] == "assistant"]
    stop = len(offsets)
    if later_answers:
        next_answer_start = characters[later_answers[0]][0]
        stop = next(i for i, (a, b) in enumerate(offsets) if b > a and b > next_answer_start)
    return (start, stop)


@dataclass(frozen=True)
class ChallengeLocator:
    """Finds where the challenge turn starts in token ids, for hooks that see only ids."""

    assistant_cue: tuple[int, ...]
    user_cue: tuple[int, ...]

    @classmethod
    def of(cls, chat: ChatFormatter) -> "ChallengeLocator":
        """Returns the locator for this template, learnt from a question-answer-challenge chat."""
        probe = chat_spans(chat, _PROBE)
        (_, question_end), (answer_start, answer_end), (challenge_start, _) = probe.contents
        locator = cls(
            _without_trailing_space(chat, probe.ids[question_end:answer_start]),
            _without_trailing_space(chat, probe.ids[answer_end:challenge_start]),
        )
        if not locator.assistant_cue or not locator.user_cue:
            raise ValueError(
                "The chat template writes no tokens between turns, so the challenge turn "
                "cannot be found from token ids. Fix: use a template with turn markers, or "
                "ablate at every position (positions='all')."
            )
        return locator

    def locate(self, ids: Sequence[int]) -> int | None:
        """Returns the index where the challenge turn starts, or None when there is none."""
        cue = _find(ids, self.assistant_cue, 0)
        if cue is None:
            return None
        return _find(ids, self.user_cue, cue + len(self.assistant_cue))


def _without_trailing_space(chat: ChatFormatter, cue: Sequence[int]) -> tuple[int, ...]:
    """Returns the cue without whitespace-only tokens at its end (they may merge into content)."""
    kept = list(cue)
    while kept and not str(chat.tokenizer.decode(kept[-1:])).strip():
        kept.pop()
    return tuple(kept)


def _find(ids: Sequence[int], pattern: Sequence[int], start: int) -> int | None:
    """Returns the first index >= start where `pattern` occurs in `ids`, else None."""
    width = len(pattern)
    target = list(pattern)
    for index in range(start, len(ids) - width + 1):
        if list(ids[index : index + width]) == target:
            return index
    return None
