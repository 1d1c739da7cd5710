"""Seeded streams of realistic, distinct check-in reports for benchmarks and tests.

Most check-ins report 0-2 symptoms and a few symptoms dominate (Zipf-like weights);
measurements vary continuously and are often present. Values carry the precision real
instruments give (0.1 kg, whole mmHg), so a stream of 40,000 reports is mostly distinct.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from ktriage.engine.vocabulary import Vocabulary

SEVERITIES = ("mild", "moderate", "severe")
ROUTES = ("iv", "nasal_spray", "intramuscular", "oral", "sublingual", "other")
UNKNOWN = ("purple toes", "hiccups", "itchy scalp", "ringing ears", "odd taste")


def random_reports(vocabulary: Vocabulary, n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    words = []
    weights = []
    for rank, term in enumerate(sorted(vocabulary.terms.values(), key=lambda t: t.code)):
        # Red flags are rare on a real line; everything else follows a Zipf-like curve.
        base = 0.05 if term.red_flag else 1.0 / (1 + rank % 12)
        for word in (term.code, term.label, *term.synonyms):
            words.append(word)
            weights.append(base / (1 + len(term.synonyms)))
    for i in range(n):
        report: dict[str, Any] = {"patient_id": f"bench-{i}"}
        count = rng.choices((0, 1, 2, 3, 4), weights=(25, 40, 22, 9, 4))[0]
        symptoms = []
        for _ in range(count):
            name = rng.choice(UNKNOWN) if rng.random() < 0.02 else rng.choices(words, weights)[0]
            symptom: dict[str, Any] = {"name": name, "severity": rng.choice(SEVERITIES)}
            if rng.random() < 0.6:
                symptom["days"] = rng.choice((0, 1, 2, 3, 4, 5, 7, 10, 14, 21, 30, 0.5))
            if rng.random() < 0.2:
                symptom["limits_self_care"] = rng.random() < 0.3
            if rng.random() < 0.2:
                symptom["relieved_by_rest"] = rng.random() < 0.6
            symptoms.append(symptom)
        if symptoms:
            report["symptoms"] = symptoms
        m: dict[str, Any] = {}
        if rng.random() < 0.6:
            m["weight_kg"] = round(rng.gauss(82, 14), 1)
            m["weight_kg"] = min(max(m["weight_kg"], 40), 200)
            if rng.random() < 0.8:
                m["baseline_weight_kg"] = round(m["weight_kg"] * (1 + rng.gauss(0, 0.06)), 1)
        if rng.random() < 0.6:
            m["systolic_bp"] = min(max(round(rng.gauss(130, 20)), 80), 240)
            m["diastolic_bp"] = min(round(m["systolic_bp"] * rng.uniform(0.55, 0.75)), 150)
        if rng.random() < 0.4:
            m["heart_rate"] = min(max(round(rng.gauss(78, 14)), 35), 190)
        if rng.random() < 0.3:
            m["oxygen_saturation_pct"] = min(round(rng.gauss(97, 2)), 100)
        if rng.random() < 0.3:
            m["fasting_glucose_mg_dl"] = min(max(round(rng.gauss(100, 25)), 30), 500)
        if rng.random() < 0.1:
            m["ldl_cholesterol_mg_dl"] = min(max(round(rng.gauss(120, 35)), 30), 400)
            m["triglycerides_mg_dl"] = min(max(round(rng.lognormvariate(4.9, 0.5)), 30), 3000)
        if m:
            report["measurements"] = m
        if rng.random() < 0.5:
            report["treatment"] = {
                "route": rng.choice(ROUTES[:2]) if rng.random() < 0.95 else rng.choice(ROUTES),
                "hours_since_dose": round(rng.uniform(0, 96), 1),
            }
        if rng.random() < 0.5:
            report["age_years"] = rng.randint(18, 85)
        yield report
