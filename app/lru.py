"""A least-recently-used map bounded in entries and in bytes: the render cache (app.rendering) and the
response cache (app.http.script_cache) hold whole scripts, so a count alone would not bound memory."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """At most ``max_entries`` values whose sizes (given to ``store``) add up to at most ``max_bytes``."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0  # the stored values' sizes, added up
        self.entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        found = self.entries.get(key)
        if found is None:
            return None
        self.entries.move_to_end(key)
        return found[0]

    def store(self, key: Hashable, value: V, size: int) -> None:
        """Keep ``value``, dropping the least recently used ones over a bound; one that alone is over
        the bounds is not kept."""
        if size > self.max_bytes or self.max_entries < 1:
            return
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self.entries[key] = (value, size)
        self.size += size
        while len(self.entries) > self.max_entries or self.size > self.max_bytes:
            _, (_, dropped) = self.entries.popitem(last=False)
            self.size -= dropped
