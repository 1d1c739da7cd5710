#!/usr/bin/env python3
"""Triage every line of a symptom-text corpus and print the rates per kind.

    python scripts/reader_corpus.py tests/data/reader/corpus.tsv [--rules PACK] [--failures]

A corpus is a TSV file with the header ``kind red_flag text lowest highest``: each text is
triaged as a report holding that one symptom, and passes when its level lies between the
lowest and highest level a clinician accepts. Printed: the pass rate per kind, red-flag
recall (lines with red_flag=yes that reached emergency) and negated red flags that
alarmed (negated lines whose highest level is below emergency but got emergency).
Exit 1 when red-flag recall is under 100 % or a negated red flag alarmed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ktriage import Engine, Escalation

LEVELS = [e.value for e in Escalation]


@dataclass(frozen=True)
class Case:
    line: int
    kind: str
    red_flag: bool
    text: str
    lowest: Escalation
    highest: Escalation


@dataclass(frozen=True)
class Outcome:
    case: Case
    got: Escalation

    @property
    def passed(self) -> bool:
        return self.case.lowest.rank <= self.got.rank <= self.case.highest.rank


def load(path: Path) -> list[Case]:
    cases = []
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows)
        if header[:5] != ["kind", "red_flag", "text", "lowest", "highest"]:
            raise SystemExit(f"{path}: unexpected header {header}")
        for n, row in enumerate(rows, start=2):
            if not row or not "".join(row).strip():
                continue
            kind, flag, text, low, high = row[:5]
            cases.append(
                Case(n, kind, flag.strip() == "yes", text, Escalation(low), Escalation(high))
            )
    return cases


def run(cases: list[Case], engine: Engine) -> list[Outcome]:
    return [Outcome(c, engine.evaluate({"symptoms": [{"name": c.text}]}).escalation) for c in cases]


def summary(outcomes: list[Outcome]) -> tuple[list[str], bool]:
    lines = []
    total = Counter(o.case.kind for o in outcomes)
    passed = Counter(o.case.kind for o in outcomes if o.passed)
    for kind in sorted(total):
        rate = 100 * passed[kind] / total[kind]
        lines.append(f"{kind:<10} {passed[kind]:>4}/{total[kind]:<4} {rate:5.1f} %")
    all_passed = sum(passed.values())
    lines.append(
        f"{'all':<10} {all_passed:>4}/{len(outcomes):<4} {100 * all_passed / len(outcomes):5.1f} %"
    )
    flags = [o for o in outcomes if o.case.red_flag]
    caught = [o for o in flags if o.got is Escalation.EMERGENCY]
    recall = 100 * len(caught) / len(flags) if flags else 100.0
    lines.append(f"red-flag recall: {len(caught)}/{len(flags)} ({recall:.1f} %)")
    negated = [
        o
        for o in outcomes
        if o.case.kind == "negated" and o.case.highest is not Escalation.EMERGENCY
    ]
    alarmed = [o for o in negated if o.got is Escalation.EMERGENCY]
    lines.append(f"negated lines that reached emergency: {len(alarmed)}/{len(negated)}")
    return lines, len(caught) == len(flags) and not alarmed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--rules", help="a rule pack folder (default: the shipped pack)")
    ap.add_argument("--failures", action="store_true", help="also list every failing line")
    args = ap.parse_args()
    engine = Engine.load(args.rules)
    outcomes = run(load(args.corpus), engine)
    lines, ok = summary(outcomes)
    print("\n".join(lines))
    if args.failures:
        for o in outcomes:
            if not o.passed:
                c = o.case
                print(
                    f"line {c.line} [{c.kind}] {c.text!r}: got {o.got.value}, "
                    f"accepts {c.lowest.value}..{c.highest.value}"
                )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
