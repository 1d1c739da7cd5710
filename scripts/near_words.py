#!/usr/bin/env python3
"""List the English words the reader must never repair into a symptom word.

A typo is repaired to the one vocabulary word one edit away ("tierd" -> "tired"). A real
word one edit away ("tried") must not be: this script finds every dictionary word that a
repair would take (or that the red-flag near-miss check would flag) and prints the
``never_repair`` list for reader.yaml.

    python scripts/near_words.py [PACK] [--dict /usr/share/dict/words ...] [--check]

With ``--check`` it exits 1 when the pack's list misses a word (CI runs it; the word lists
come from Debian's wamerican and wbritish packages).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rapidfuzz.distance import OSA, Levenshtein
from rapidfuzz.process import extract

from ktriage.engine.pack import load_pack
from ktriage.engine.reader import Reader

DICTS = ["/usr/share/dict/american-english", "/usr/share/dict/british-english"]


def near_words(pack_path: str | None, dicts: list[str]) -> list[str]:
    pack = load_pack(pack_path)
    reader = Reader(pack.vocabulary, pack.reader)
    vocab = set(reader._vocab_words)
    flags = reader._flag_surface
    words: set[str] = set()
    for d in dicts:
        for line in Path(d).read_text(encoding="utf-8", errors="ignore").split():
            if line.isalpha() and line.islower() and line.isascii() and len(line) >= 3:
                words.add(line)
    out = set()
    targets = sorted(vocab)
    for w in sorted(words - vocab):
        for cand, _s, _ in extract(w, targets, scorer=OSA.distance, score_cutoff=1, limit=None):
            if len(w) >= 5 or (len(cand) == len(w) and Levenshtein.distance(w, cand) == 2):
                out.add(w)
                break
        for _cand, distance, _ in extract(w, flags, scorer=OSA.distance, score_cutoff=2):
            if distance <= 1 or (len(w) >= 6 and len(_cand) >= 6):
                out.add(w)
                break
    return sorted(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pack", nargs="?")
    ap.add_argument("--dict", action="append", dest="dicts")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    found = near_words(args.pack, args.dicts or DICTS)
    if args.check:
        pack = load_pack(args.pack)
        missing = sorted(set(found) - set(pack.reader.never_repair))
        if missing:
            print(f"never_repair misses {len(missing)} words: {' '.join(missing[:40])}")
            return 1
        print(f"never_repair covers all {len(found)} near words")
        return 0
    print(f"never_repair: [{', '.join(found)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
