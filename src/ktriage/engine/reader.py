"""TextReading what people type: free text becomes symptom readings.

Runs before facts are made (``facts.extract``) for every symptom name, wherever it came
from: the library, the CLI, batch, the service, CDS Hooks, FHIR free text. A text such as
"no chest pain but a really bad headache, tierd" is read as tokens, not as one string:

1. tokens: case, apostrophes and clinical shorthand normalised ("SOB" -> "shortness of
   breath"), each word stemmed (Snowball English: "pains" = "pain");
2. phrases: every vocabulary phrase is found as a word sequence inside the text, filler
   words skipped ("tightness in my chest" = "tight chest"); red-flag phrases first, then
   longer ones; a word belongs to one phrase at most;
3. typos: a word no phrase knows, that is not an English word near a vocabulary word, is
   repaired to the one vocabulary word one edit away (words of 5+ letters; 4-letter words
   only by swapping two letters), and the repair is shown;
4. context: NegEx-style cues negate the phrases in their scope ("denies SI", "dizziness
   gone"), ConText-style cues label them (hypothetical, historical) without dropping
   them, intensity words raise a phrase's severity;
5. the safety net: a red-flag word outside any known phrase and not negated makes the
   reading a possible red flag (the pack's ``safety_net`` code, an emergency);
6. leftovers: words that carry meaning and were not read are returned as unread, so the
   text is never dropped silently.

The word lists are data in the rule pack (``reader.yaml``); this module only reads them.
Readings are cached per distinct text.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import Stemmer

from .textvalues import TextValue, read_values
from .vocabulary import Vocabulary, normalise

_STEMMER = Stemmer.Stemmer("english")
_STEM_LOCK = threading.Lock()  # a PyStemmer object is not safe to share between threads
_CACHE_MAX = 8192
_SQUASH_MAX = 6  # words run together when looking for "light headed" = "lightheaded"
# after a backward negation cue, words that still end its clause ("the dizziness has gone
# now"); any other word means the cue is not a negation ("my arm has gone weak")
# words after a backward cue that still end its clause ("gone since my last infusion")
_CLAUSE_END = frozenset(
    {"now", "complet", "alreadi", "thank", "again", "today", "overnight", "sinc"}
)
_SKIP_MAX = 2  # quiet or intensity words allowed between two words of a phrase
_PUNCT = frozenset(".,;:!?()")
_SENTENCE_END = frozenset(".;:!?()")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*(?:[/&][a-z0-9]+)*/?|[.,;:!?()/&+]")


@functools.lru_cache(maxsize=16384)
def stem(word: str) -> str:
    """The Snowball English stem of a word, apostrophes dropped ("can't" -> "cant")."""
    plain = word.replace("'", "")
    with _STEM_LOCK:
        return str(_STEMMER.stemWord(plain))


class Token(NamedTuple):
    surface: str  # as typed (for display)
    norm: str  # lower case, apostrophes kept
    stem: str
    start: int  # offsets into the original text
    end: int
    punct: bool


def tokenize(
    text: str,
    shorthand: dict[str, tuple[str, ...]] | None = None,
    whole: frozenset[str] = frozenset(),
) -> list[Token]:
    """Split ``text`` into word and punctuation tokens, expanding shorthand.

    A word with "/" or "&" inside is split ("tired/dizzy") unless it is shorthand or in
    ``whole`` ("c/o").
    """
    folded, lowered = _normalised(text)
    out: list[Token] = []
    for m in _TOKEN.finditer(lowered):
        word = m.group()
        start, end = m.start(), m.end()
        surface = folded[start:end]
        if word in ("&", "+"):
            out.append(Token(surface, "and", "and", start, end, False))
            continue
        if word in _PUNCT or word == "/":
            out.append(Token(surface, word, word, start, end, True))
            continue
        parts = [(word, start, end)]
        if ("/" in word or "&" in word) and word not in whole and word not in (shorthand or ()):
            # "tired/dizzy": two words; "c/o", "n/v" are kept whole when they are shorthand
            parts = []
            pos = start
            for piece in re.split(r"([/&])", word):
                if piece:
                    parts.append((piece, pos, pos + len(piece)))
                pos += len(piece)
        for piece, s, e in parts:
            if piece == "&":
                out.append(Token(folded[s:e], "and", "and", s, e, False))
                continue
            if piece == "/":
                out.append(Token(folded[s:e], piece, piece, s, e, True))
                continue
            expansion = shorthand.get(piece) if shorthand else None
            if expansion is not None:
                for w in expansion:
                    out.append(Token(folded[s:e], w, stem(w), s, e, False))
            else:
                out.append(Token(folded[s:e], piece, stem(piece), s, e, False))
    return out


def _normalised(text: str) -> tuple[str, str]:
    """``text`` in NFKC with plain apostrophes, and that lower-cased (same offsets)."""
    folded = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    lowered = folded.casefold()
    if len(lowered) != len(folded):  # casefold changed lengths (e.g. "ß"): keep offsets
        lowered = folded.lower()
    return folded, lowered


def stems_of(phrase: str) -> tuple[str, ...]:
    return tuple(t.stem for t in tokenize(phrase) if not t.punct)


# -- the pack's reading data ---------------------------------------------------------------


@dataclass(frozen=True)
class ReaderExample:
    text: str
    read: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    severe: tuple[str, ...] = ()
    leftover: tuple[str, ...] | None = None
    possible_red_flag: bool = False
    line: int | None = None


@dataclass(frozen=True)
class ReaderData:
    """The word lists of ``reader.yaml``, as surface words and phrases."""

    safety_net: str | None = None
    denied_red_flag: str | None = None
    filler: tuple[str, ...] = ()
    quiet: tuple[str, ...] = ()
    intensity: tuple[str, ...] = ()
    negation_scope: int = 6
    negation_forward: tuple[str, ...] = ()
    negation_backward: tuple[str, ...] = ()
    negation_pseudo: tuple[str, ...] = ()
    terminators: tuple[str, ...] = ()
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shorthand: dict[str, str] = field(default_factory=dict)
    red_flag_words: tuple[str, ...] = ()
    idioms: tuple[str, ...] = ()
    whole_only: tuple[str, ...] = ()
    severe_phrases: tuple[str, ...] = ()
    never_repair: tuple[str, ...] = ()
    examples: tuple[ReaderExample, ...] = ()


# -- what a reading says -----------------------------------------------------------------


class Found(NamedTuple):
    """One symptom read in a text."""

    code: str
    matched: str  # the words as typed
    severe: bool  # an intensity word raised it
    corrections: tuple[str, ...]  # "read 'tierd' as 'tired'"
    context: str | None  # hypothetical, historical


class Absent(NamedTuple):
    """A symptom the text says is not there ("no chest pain")."""

    code: str
    matched: str
    cue: str


class TextReading(NamedTuple):
    text: str
    found: tuple[Found, ...]
    absent: tuple[Absent, ...]
    leftover: tuple[str, ...]  # unread words, runs joined as typed
    possible_red_flag: str | None  # the words that looked like a red flag
    values: tuple[TextValue, ...] = ()  # measurements typed in the text ("BP 200/125")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.found)


class _Phrase(NamedTuple):
    key: tuple[str, ...]
    code: str
    red_flag: bool
    surface: str
    severe: bool = False  # the phrase itself says the severe form ("talking nonsense")


class _Match(NamedTuple):
    indexes: tuple[int, ...]
    phrase: _Phrase
    corrections: tuple[str, ...]


class CueSet:
    """Word sequences (stemmed) to find in a text, indexed by their first word."""

    def __init__(self, phrases: Iterable[str]) -> None:
        keys = {stems_of(p) for p in phrases}
        self.cues = tuple(sorted((k for k in keys if k), key=len, reverse=True))
        self._by_first: dict[str, list[tuple[str, ...]]] = {}
        for cue in self.cues:
            self._by_first.setdefault(cue[0], []).append(cue)

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self.cues)

    def find(self, tokens: Sequence[Token], taken: set[int]) -> list[tuple[int, ...]]:
        """Where the cues occur on tokens not yet taken: longest first, then leftmost, no
        two overlapping; returned in text order."""
        by_first = self._by_first
        found: list[tuple[int, int, tuple[int, ...]]] = []
        n = len(tokens)
        for i in range(n):
            cues = by_first.get(tokens[i].stem)
            if not cues or i in taken:
                continue
            for cue in cues:
                size = len(cue)
                if i + size > n:
                    continue
                idx = tuple(range(i, i + size))
                if all(
                    tokens[k].stem == cue[k - i] and not tokens[k].punct and k not in taken
                    for k in idx
                ):
                    found.append((-size, i, idx))
        found.sort()
        spans: list[tuple[int, ...]] = []
        seen: set[int] = set()
        for _, _, idx in found:
            if seen.isdisjoint(idx):
                spans.append(idx)
                seen.update(idx)
        spans.sort()
        return spans


class Reader:
    """Reads symptom text with one pack's vocabulary and reading data. Thread-safe."""

    def __init__(self, vocabulary: Vocabulary, data: ReaderData) -> None:
        self.vocabulary = vocabulary
        self.data = data
        self.safety_net = data.safety_net if data.safety_net in vocabulary.terms else None
        self.denied_red_flag = (
            data.denied_red_flag if data.denied_red_flag in vocabulary.terms else None
        )
        self.red_flag_codes = frozenset(
            t.code for t in vocabulary.terms.values() if t.red_flag and t.code != self.safety_net
        )
        self._shorthand = {
            k.casefold(): tuple(t.norm for t in tokenize(v) if not t.punct)
            for k, v in data.shorthand.items()
        }
        self._filler = frozenset(stem(w) for w in data.filler) | frozenset(data.filler)
        self._whole = frozenset(w for w in data.filler if "/" in w or "&" in w)
        self._quiet = frozenset(stem(w) for w in data.quiet)
        self._intensity = CueSet(data.intensity)
        self._intensity_words = frozenset(w for k in self._intensity for w in k)
        self._forward = CueSet(data.negation_forward)
        self._backward = CueSet(data.negation_backward)
        self._pseudo = CueSet(data.negation_pseudo)
        self._terminators = frozenset(stem(w) for w in data.terminators)
        self._contexts = {name: CueSet(cues) for name, cues in data.context.items()}
        self._flag_phrases = CueSet(data.red_flag_words)
        self._flag_words = frozenset(k[0] for k in self._flag_phrases if len(k) == 1)
        self._flag_surface = tuple(
            sorted({w for w in data.red_flag_words if len(w) >= 4 and w.isalpha()})
        )
        cue_words = {
            w
            for keys in (self._forward, self._backward, self._pseudo, self._intensity)
            for k in keys
            for w in k
        }
        self._known_stems = self._filler | self._quiet | frozenset(cue_words)

        # every phrase of the vocabulary, keyed on its first word (fillers dropped)
        self._phrases: dict[str, list[_Phrase]] = {}
        self._whole_only = frozenset(stem(w) for w in data.whole_only)
        self._severe_phrases = frozenset(normalise(w) for w in data.severe_phrases)
        self._squashed: dict[str, _Phrase] = {}
        self._vocab_words: dict[str, str] = {}  # surface word -> its stem, for repairs
        for term in vocabulary.terms.values():
            label = re.sub(r"\([^)]*\)", " ", term.label)
            words = (term.code.replace("_", " "), term.label, label, *term.synonyms)
            for phrase in dict.fromkeys(words):
                self._add(phrase, term.code, term.red_flag)
        # idioms: word for word, filler included ("dying to go" must not hide "dying")
        self._idioms = CueSet(data.idioms)
        for phrases in self._phrases.values():
            phrases.sort(key=lambda p: (not p.red_flag, -len(p.key)))
        self._never_repair = frozenset(w.casefold() for w in data.never_repair)
        self._vocab_list = list(self._vocab_words)
        self._repairs: dict[str, tuple[str, str] | None] = {}
        self._near_words: dict[str, bool] = {}
        self._cache: dict[str, TextReading] = {}

    def _add(self, phrase: str, code: str, red_flag: bool) -> None:
        tokens = [t for t in tokenize(phrase) if not t.punct]
        key = tuple(t.stem for t in tokens if t.stem not in self._filler)
        if not key:
            return
        entry = _Phrase(key, code, red_flag, phrase, normalise(phrase) in self._severe_phrases)
        # A one-word key is read anywhere unless it is too common (whole_only) or is all
        # that is left of a longer phrase once filler is dropped ("out of it" is not "out"):
        # those are read only word for word (below) or as the whole text.
        collapsed = len(key) == 1 and len(tokens) > 1
        if not collapsed and not (len(key) == 1 and key[0] in self._whole_only):
            self._phrases.setdefault(key[0], []).append(entry)
        # the same words run together or hyphenated ("light-headed", "light headed")
        self._squashed.setdefault(normalise(phrase), entry)
        for t in tokens:
            if t.norm.isalpha():
                self._vocab_words.setdefault(t.norm.replace("'", ""), t.stem)

    def phrase_owner(self) -> dict[tuple[str, ...], set[str]]:
        """Each phrase key with the codes it reads as (more than one is a clash)."""
        owners: dict[tuple[str, ...], set[str]] = {}
        for phrases in self._phrases.values():
            for p in phrases:
                owners.setdefault(p.key, set()).add(p.code)
        return owners

    # -- reading -------------------------------------------------------------------------

    def read(self, text: str) -> TextReading:
        """How ``text`` is read. Deterministic; cached per distinct text."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        reading = self._read(text)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()  # a backstop: people use a few thousand phrasings
        self._cache[text] = reading
        return reading

    def prime(self, texts: Iterable[str]) -> None:
        """Read ``texts`` now, so that they are in the cache (kept with a compiled pack:
        the vocabulary's own words are what people type most)."""
        for text in texts:
            if len(self._cache) >= _CACHE_MAX // 2:
                break  # leave room for what people really type
            self.read(text)

    def _read(self, text: str) -> TextReading:
        tokens = tokenize(text, self._shorthand, self._whole)
        n = len(tokens)
        used: set[int] = set()

        # 1. phrases, on the tokens that are not filler
        stream = [i for i, t in enumerate(tokens) if t.punct or t.stem not in self._filler]
        alternatives = self._alternatives(tokens, stream)
        candidates: list[_Match] = []
        for pos in range(len(stream)):
            i = stream[pos]
            if tokens[i].punct:
                continue
            for stem_i, fix_i in alternatives.get(i, ()):
                for phrase in self._phrases.get(stem_i, ()):
                    rest = self._match_rest(tokens, stream, pos, phrase, alternatives)
                    if rest is not None:
                        indexes, fixes = rest
                        corrections = tuple(c for c in (fix_i, *fixes) if c)
                        candidates.append(_Match((i, *indexes), phrase, corrections))
        whole = self._squashed.get(normalise(text))
        if whole is not None:  # the whole text is one vocabulary phrase
            words = tuple(i for i, t in enumerate(tokens) if not t.punct)
            if words:
                candidates.append(_Match(words, whole, ()))
        for i in range(n):
            joined = ""
            for k in range(i, min(n, i + _SQUASH_MAX)):
                if tokens[k].punct:
                    break
                joined += normalise(tokens[k].norm)
                phrase_k = self._squashed.get(joined)
                if phrase_k is not None and k > i:
                    candidates.append(_Match(tuple(range(i, k + 1)), phrase_k, ()))
        candidates.sort(
            key=lambda m: (
                -len(m.indexes),  # longest first: "feel faint" is not "fainted"
                not m.phrase.red_flag,  # then red flags
                len(m.corrections),
                m.indexes[0],
            )
        )
        chosen: list[_Match] = []
        for m in candidates:
            if used.isdisjoint(m.indexes):
                chosen.append(m)
                used.update(m.indexes)
        chosen.sort(key=lambda m: m.indexes[0])
        # measurements typed in the text: their words are read (a phrase keeps its own:
        # "low sugar 2.8" is low blood sugar and a glucose of 50 mg/dL)
        values: tuple[TextValue, ...] = ()
        if any(c.isdigit() for c in text):
            folded, lowered = _normalised(text)
            values = read_values(lowered, text if len(text) == len(folded) else folded)
            for v in values:
                used.update(i for i, t in enumerate(tokens) if v.start <= t.start < v.end)
        for span in self._idioms.find(tokens, used):
            used.update(span)
        # red-flag words and phrases no phrase took ("never wake up", "chest"): taken now,
        # so that the cues inside them ("never") are not read as cues
        hints = self._flag_phrases.find(tokens, used)
        for span in hints:
            used.update(span)

        # 2. cues, on what no phrase took
        # pseudo-negations and intensity first: "not better", "can't stop" negate nothing
        pseudo = self._pseudo.find(tokens, used)
        blocked = {i for span in pseudo for i in span}
        intensity = self._intensity.find(tokens, used | blocked)
        blocked.update(i for span in intensity for i in span)
        cue_used = set(blocked)
        forward = self._forward.find(tokens, used | blocked)
        backward = self._backward.find(tokens, used | blocked)
        contexts = {
            name: cues.find(tokens, used | blocked) for name, cues in self._contexts.items()
        }
        for spans in (forward, backward, intensity, *contexts.values()):
            for span in spans:
                cue_used.update(span)

        negated_idx: set[int] = set()  # token indexes inside a negation's scope
        negated_by: dict[int, str] = {}
        for span in forward:
            cue = " ".join(tokens[i].surface for i in span)
            for i in self._scope(tokens, span[-1] + 1, 1):
                negated_idx.add(i)
                negated_by.setdefault(i, cue)
        for span in backward:
            after = span[-1] + 1
            if (
                after < len(tokens)
                and not tokens[after].punct
                and tokens[after].stem not in self._terminators
                and tokens[after].stem not in _CLAUSE_END
            ):
                continue  # "my arm's gone weak" is a change, not an absence
            cue = " ".join(tokens[i].surface for i in span)
            for i in self._scope(tokens, span[0] - 1, -1):
                negated_idx.add(i)
                negated_by.setdefault(i, cue)
        context_of: dict[int, str] = {}
        for name, spans in contexts.items():
            for span in spans:
                for i in self._scope(tokens, span[-1] + 1, 1):
                    context_of.setdefault(i, name)

        # 3. which phrases are present, absent, raised
        severe_at = self._intensity_targets(tokens, chosen, intensity)
        found: dict[str, Found] = {}
        absent: dict[str, Absent] = {}
        for k, m in enumerate(chosen):
            code = m.phrase.code
            matched = text_span(text, tokens, m.indexes)
            negation = next((negated_by[i] for i in m.indexes if i in negated_by), None)
            if negation is not None:
                absent.setdefault(code, Absent(code, matched, negation))
                continue
            severe = k in severe_at or m.phrase.severe
            ctx = context_of.get(m.indexes[0])
            old = found.get(code)
            if old is None:
                found[code] = Found(code, matched, severe, m.corrections, ctx)
            elif severe and not old.severe:
                found[code] = old._replace(severe=True)
        for code in found:
            absent.pop(code, None)  # said present somewhere: present wins

        # 4. the safety net and the leftovers
        flagged: list[int] = []
        for span in hints:
            if not any(i in negated_idx for i in span):
                flagged.extend(span)
        leftover: list[int] = []
        for i, t in enumerate(tokens):
            if t.punct or i in used or i in cue_used:
                continue
            if t.stem in self._filler or t.stem in self._known_stems or _has_digit(t.norm):
                continue
            if self._near_red_flag(t.norm):
                if i not in negated_idx:
                    flagged.append(i)
                continue
            if t.stem in self._terminators:
                continue
            leftover.append(i)
        flag = None
        if flagged:
            flag = text_span(text, tokens, sorted(flagged))
        leftovers = tuple(_runs(text, tokens, leftover))
        if not found and not absent and flag is None and not values:
            leftovers = (text,)  # nothing read at all: the whole text, exactly as given
        return TextReading(
            text, tuple(found.values()), tuple(absent.values()), leftovers, flag, values
        )

    # -- helpers -------------------------------------------------------------------------

    def _alternatives(
        self, tokens: Sequence[Token], stream: Sequence[int]
    ) -> dict[int, list[tuple[str, str | None]]]:
        """For each token: its stem, and a repaired stem where a typo is likely."""
        out: dict[int, list[tuple[str, str | None]]] = {}
        for i in stream:
            t = tokens[i]
            if t.punct:
                continue
            alts: list[tuple[str, str | None]] = [(t.stem, None)]
            repair = self._repair(t)
            if repair is not None:
                word, stem_of = repair
                alts.append((stem_of, f"read {t.surface!r} as {word!r}"))
            out[i] = alts
        return out

    def _repair(self, t: Token) -> tuple[str, str] | None:
        word = t.norm.replace("'", "")
        if (
            len(word) < 4
            or not word.isalpha()
            or t.stem in self._phrases
            or word in self._vocab_words
            or word in self._never_repair
            or t.stem in self._known_stems
            or t.stem in self._flag_words
        ):
            return None
        memo = self._repairs
        if word not in memo:
            if len(memo) >= _CACHE_MAX:
                memo.clear()
            memo[word] = _repair_word(word, self._vocab_list, self._vocab_words)
        return memo[word]

    def _near_vocab(self, word: str) -> bool:
        memo = self._near_words
        if word not in memo:
            from rapidfuzz.distance import OSA
            from rapidfuzz.process import extractOne

            if len(memo) >= _CACHE_MAX:
                memo.clear()
            found = extractOne(word, self._vocab_list, scorer=OSA.distance, score_cutoff=1)
            memo[word] = found is not None
        return memo[word]

    def _near_red_flag(self, word: str) -> bool:
        """A word that is no English word but a near miss of a red-flag word ("kil",
        "sucidal"): one edit from one of 4+ letters, or two when both have 6+."""
        if len(word) < 3 or not word.isalpha() or word in self._vocab_words:
            return False
        if word in self._never_repair:
            # an English word counts only as two neighbouring letters of a red-flag word
            # swapped ("overdoes" for "overdose"): a typo far likelier than the word
            return len(word) >= 6 and _swapped_any(word, self._flag_surface)
        distance = _flag_distance(word, self._flag_surface)
        if distance == 1:
            return True
        # two edits from a red-flag word, but one from a symptom word ("blurrd" is a typo of
        # "blurred", not of "slurred"): not a possible red flag
        return distance == 2 and not self._near_vocab(word)

    def _match_rest(
        self,
        tokens: Sequence[Token],
        stream: Sequence[int],
        pos: int,
        phrase: _Phrase,
        alternatives: dict[int, list[tuple[str, str | None]]],
    ) -> tuple[tuple[int, ...], tuple[str | None, ...]] | None:
        indexes: list[int] = []
        fixes: list[str | None] = []
        j = pos + 1
        for want in phrase.key[1:]:
            skipped = 0
            while True:
                if j >= len(stream):
                    return None
                i = stream[j]
                t = tokens[i]
                if t.punct:
                    return None
                hits = [fix for s, fix in alternatives.get(i, ()) if s == want]
                if hits:
                    indexes.append(i)
                    fixes.append(hits[0])
                    j += 1
                    break
                if skipped < _SKIP_MAX and (
                    t.stem in self._quiet or t.stem in self._intensity_words
                ):
                    skipped += 1
                    j += 1
                    continue
                return None
        return tuple(indexes), tuple(fixes)

    def _scope(self, tokens: Sequence[Token], start: int, step: int) -> list[int]:
        """The tokens a cue reaches from ``start`` in direction ``step``."""
        out: list[int] = []
        words = 0
        i = start
        while 0 <= i < len(tokens) and words < self.data.negation_scope:
            t = tokens[i]
            if t.punct and t.norm != "/":
                break
            if t.stem in self._terminators:
                break
            out.append(i)
            if not t.punct and t.stem not in self._filler:
                words += 1
            i += step
        return out

    def _intensity_targets(
        self,
        tokens: Sequence[Token],
        chosen: Sequence[_Match],
        spans: Sequence[tuple[int, ...]],
    ) -> set[int]:
        """Which chosen phrases an intensity word raises: the nearest in its clause,
        or, in a clause with no symptom ("headache, bad one"), the last one before it."""
        if not spans:
            return set()
        clause_of = []
        clause = 0
        for t in tokens:
            if t.punct or t.stem in self._terminators:
                clause += 1
            clause_of.append(clause)
        targets: set[int] = set()
        for span in spans:
            here = clause_of[span[0]]
            same = [
                (min(abs(i - span[0]) for i in m.indexes), k)
                for k, m in enumerate(chosen)
                if clause_of[m.indexes[0]] == here
            ]
            if same:
                targets.add(min(same)[1])
                continue
            before = [k for k, m in enumerate(chosen) if m.indexes[-1] < span[0]]
            if before:
                targets.add(before[-1])
        return targets


def _has_digit(word: str) -> bool:
    """Numbers and counts ("3", "x2", "2days") say how much or how long, not what."""
    return any(c.isdigit() for c in word)


def text_span(text: str, tokens: Sequence[Token], indexes: Iterable[int]) -> str:
    """The words at ``indexes`` as typed: one slice when they are together."""
    return " … ".join(_runs(text, tokens, sorted(set(indexes)), gap_ok=True))


def _runs(
    text: str, tokens: Sequence[Token], indexes: Sequence[int], gap_ok: bool = False
) -> list[str]:
    """Consecutive token indexes as slices of the original text."""
    out: list[str] = []
    run: list[int] = []
    for i in indexes:
        if run and i != run[-1] + 1 and not (gap_ok and tokens[i].start == tokens[run[-1]].start):
            if gap_ok and _only_words_between(tokens, run[-1], i):
                run.append(i)
                continue
            out.append(text[tokens[run[0]].start : tokens[run[-1]].end])
            run = []
        run.append(i)
    if run:
        out.append(text[tokens[run[0]].start : tokens[run[-1]].end])
    return list(dict.fromkeys(out))


def _only_words_between(tokens: Sequence[Token], a: int, b: int) -> bool:
    return all(not tokens[k].punct for k in range(a + 1, b)) and b - a <= 4


# -- typo repair (rapidfuzz is imported only here, on the first word that needs it) ------


def _repair_word(word: str, words: list[str], stems: dict[str, str]) -> tuple[str, str] | None:
    """The one vocabulary word ``word`` is a typo of, with its stem, or None.

    Words of 5+ letters: one edit (insert, delete, replace, swap two neighbours). 4-letter
    words: only a swap ("pian" -> "pain"). Two candidates with different stems: no repair.
    """
    from rapidfuzz.distance import OSA, Levenshtein
    from rapidfuzz.process import extract

    found = extract(word, words, scorer=OSA.distance, score_cutoff=1, limit=None)
    picks: dict[str, str] = {}
    for candidate, _score, _ in found:
        if len(word) < 5 and (
            len(candidate) != len(word) or Levenshtein.distance(word, candidate) != 2
        ):
            continue  # a 4-letter word is repaired only by a swap
        picks.setdefault(stems[candidate], candidate)
    if len(picks) != 1:
        return None
    stem_of, candidate = next(iter(picks.items()))
    return candidate, stem_of


@functools.lru_cache(maxsize=4096)
def _flag_distance(word: str, targets: tuple[str, ...]) -> int | None:
    """1 when ``word`` is one edit from a red-flag word, 2 when two edits from one and
    both have 6+ letters, else None."""
    from rapidfuzz.distance import OSA
    from rapidfuzz.process import extract

    best = None
    for target, distance, _ in extract(word, targets, scorer=OSA.distance, score_cutoff=2):
        if distance <= 1:
            return 1
        if len(word) >= 6 and len(target) >= 6:
            best = 2
    return best


@functools.lru_cache(maxsize=4096)
def _swapped_any(word: str, targets: tuple[str, ...]) -> bool:
    """``word`` is one of ``targets`` with two neighbouring letters swapped."""
    for target in targets:
        if len(target) == len(word) and target != word:
            diff = [i for i in range(len(word)) if word[i] != target[i]]
            if len(diff) == 2 and diff[1] == diff[0] + 1:
                a, b = diff
                if word[a] == target[b] and word[b] == target[a]:
                    return True
    return False


def reading_example_problems(reader: Reader, example: ReaderExample) -> list[str]:
    """What a reading example expects and did not get (empty: it passes)."""
    got = reader.read(example.text)
    problems = []
    if set(got.codes) != set(example.read):
        problems.append(f"read {sorted(got.codes)}, expected {sorted(example.read)}")
    absent = {a.code for a in got.absent}
    if absent != set(example.absent):
        problems.append(f"absent {sorted(absent)}, expected {sorted(example.absent)}")
    severe = {f.code for f in got.found if f.severe}
    if not set(example.severe) <= severe:
        problems.append(f"severe {sorted(severe)}, expected {sorted(example.severe)}")
    if example.leftover is not None and list(got.leftover) != list(example.leftover):
        problems.append(f"left over {list(got.leftover)}, expected {list(example.leftover)}")
    if (got.possible_red_flag is not None) != example.possible_red_flag:
        problems.append(
            "possible red flag: "
            + ("yes" if got.possible_red_flag else "no")
            + f", expected {'yes' if example.possible_red_flag else 'no'}"
        )
    return problems
