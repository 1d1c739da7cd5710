"""Symptom vocabulary: canonical codes and the lay words people use for them."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

_NOT_LETTERS = re.compile(r"[^0-9a-z]+")
_SEEN_MAX = 10_000


def normalise(word: str) -> str:
    """The matching key of a word: case, spaces, hyphens, underscores and punctuation ignored.

    "No energy", "no-energy" and "NO_ENERGY" all become "noenergy".
    """
    return _NOT_LETTERS.sub("", word.casefold())


@dataclass(frozen=True)
class Term:
    code: str
    label: str
    synonyms: tuple[str, ...] = ()
    red_flag: bool = False


@dataclass
class Vocabulary:
    """Maps whatever a person typed to a canonical symptom code."""

    terms: dict[str, Term]
    _index: dict[str, str] = field(default_factory=dict, repr=False)
    _seen: dict[str, str | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for term in self.terms.values():
            for word in (term.code, term.label, *term.synonyms):
                self._index.setdefault(normalise(word), term.code)

    def lookup(self, name: str) -> str | None:
        """The code ``name`` stands for, or None when the vocabulary does not know it."""
        try:
            return self._seen[name]
        except KeyError:
            pass
        code = self._index.get(normalise(name))
        if len(self._seen) >= _SEEN_MAX:
            self._seen.clear()  # people use a few hundred words; this bound is a backstop
        self._seen[name] = code
        return code

    def suggest(self, name: str) -> str | None:
        """The closest known word to an unknown ``name`` (for "did you mean")."""
        key = normalise(name)
        if not key:
            return None
        found = difflib.get_close_matches(key, list(self._index), n=1, cutoff=0.75)
        if not found:
            return None
        # Show a word the person would recognise, not the squashed key.
        code = self._index[found[0]]
        term = self.terms[code]
        for word in (term.code, term.label, *term.synonyms):
            if normalise(word) == found[0]:
                return word
        return code  # pragma: no cover - every key comes from one of the words above

    def label(self, code: str) -> str:
        return self.terms[code].label
