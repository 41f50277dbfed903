"""Which key and endpoint entries recently written aggregate documents hold, for the per-document caps.

A cap needs to know which names a document already has. Reading them before every batch would re-read
the busiest documents (the current hour of each API) every few seconds, so the sink reads a document's
names once and then adds what it writes. Names are never removed from a document, so what is remembered
lacks only what other pumps added since (which is why the caps are soft with several pumps, see
``pump/sinks/aggregate.py``); it may hold a name a skipped or refused write never stored, which only
makes the cap stricter.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class DocumentEntries:
    keys: set[str] = field(default_factory=set)
    endpoints: set[str] = field(default_factory=set)


class KnownEntries:
    """The names of up to ``max_documents`` documents, least recently used dropped first."""

    def __init__(self, max_documents: int):
        self.max_documents = max_documents
        self._documents: OrderedDict[tuple[str, str], DocumentEntries] = OrderedDict()

    def missing(self, granularity: str, doc_ids: list[str]) -> list[str]:
        return [doc_id for doc_id in doc_ids if (granularity, doc_id) not in self._documents]

    def remember(self, granularity: str, doc_id: str, entries: DocumentEntries) -> None:
        self._documents[(granularity, doc_id)] = entries
        self._documents.move_to_end((granularity, doc_id))
        while len(self._documents) > self.max_documents:
            self._documents.popitem(last=False)

    def of(self, granularity: str, doc_id: str) -> DocumentEntries:
        """The document's names (empty if not remembered), marked as recently used."""
        entries = self._documents.get((granularity, doc_id))
        if entries is None:
            entries = DocumentEntries()
            self.remember(granularity, doc_id, entries)
        else:
            self._documents.move_to_end((granularity, doc_id))
        return entries
