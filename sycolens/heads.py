"""The `Head` address shared by diagnosis, knockouts and tuning."""

from typing import NamedTuple


class Head(NamedTuple):
    """One attention head: layer index and query-head index, both 0-based (as in the paper)."""

    layer: int
    head: int
