"""A model's tokenizer and chat formatter alone, for checks that run before any weights load."""

from transformers import AutoTokenizer

from sycolens.models.sources import resolve_checkpoint
from sycolens.prompts.chat import ChatFormatter


def load_chat_formatter(source: str) -> ChatFormatter:
    """Returns the chat formatter of the model named by `source`, reading its tokenizer only."""
    return ChatFormatter(AutoTokenizer.from_pretrained(resolve_checkpoint(source)))
