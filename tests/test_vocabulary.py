from __future__ import annotations

import pytest

from ktriage.engine.vocabulary import Term, Vocabulary, normalise

VOCAB = Vocabulary(
    {
        "fatigue": Term("fatigue", "Fatigue", ("tired", "no energy", "wiped out")),
        "mood_swings": Term("mood_swings", "Mood swings", ("ups and downs",)),
    }
)


@pytest.mark.parametrize(
    ("word", "key"),
    [
        ("No energy", "noenergy"),
        ("no-energy", "noenergy"),
        ("NO_ENERGY", "noenergy"),
        ("  wiped   out ", "wipedout"),
        ("can't sleep", "cantsleep"),
        ("", ""),
    ],
)
def test_normalise(word: str, key: str) -> None:
    assert normalise(word) == key


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("tired", "fatigue"),
        ("TIRED", "fatigue"),
        ("Wiped-Out", "fatigue"),
        ("fatigue", "fatigue"),
        ("Fatigue", "fatigue"),
        ("mood_swings", "mood_swings"),
        ("Mood swings", "mood_swings"),
        ("ups & downs", None),  # '&' is not 'and'
        ("ups-and-downs", "mood_swings"),
        ("purple toes", None),
    ],
)
def test_lookup(name: str, code: str | None) -> None:
    assert VOCAB.lookup(name) == code
    assert VOCAB.lookup(name) == code  # served from the memo the second time


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("tird", "tired"), ("wipedout!", "wiped out"), ("fatigeu", "fatigue"), ("xyz", None)],
)
def test_suggest(name: str, suggestion: str | None) -> None:
    assert VOCAB.suggest(name) == suggestion
