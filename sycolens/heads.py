"""The `Head` address shared by diagnosis, knockouts and tuning, and the roles a head's
weights play (pure data: importing it loads no torch)."""

from typing import Literal, NamedTuple

from sycolens._lazy import call_through_api

HeadRole = Literal["query", "key", "value", "output"]
HEAD_ROLES: tuple[HeadRole, ...] = ("query", "key", "value", "output")


class Head(NamedTuple):
    """One attention head: layer index and query-head index, both 0-based (as in the paper)."""

    layer: int
    head: int


# `sycolens.heads("3.3,2.0")` is the notebook call (`sycolens.api.heads`).
call_through_api(__name__)
