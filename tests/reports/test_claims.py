"""The claim check against an adversarial corpus: true and subtly false statements about one set
of facts (tests/reports/fixtures), German and English, read by one helper."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.reports.claims import ClaimFacts, check

FIXTURES = Path(__file__).parent / "fixtures"


def localized(value, language: str):
    """The fixture writes texts that differ by language as {de: ..., en: ...}."""
    if isinstance(value, dict) and set(value) == {"de", "en"}:
        return value[language]
    if isinstance(value, dict):
        return {k: localized(v, language) for k, v in value.items()}
    if isinstance(value, list):
        return [localized(v, language) for v in value]
    return value


def facts_in(language: str) -> dict:
    facts = json.loads((FIXTURES / "claims_facts.json").read_text(encoding="utf-8"))
    return {**localized(facts, language), "language": language}


def corpus() -> list[tuple[bool, str, str]]:
    cases = []
    for number, line in enumerate((FIXTURES / "claims_corpus.txt").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        verdict, language, statement = (part.strip() for part in line.split("|", 2))
        assert verdict in "TF" and language in ("de", "en"), f"claims_corpus.txt:{number}: {line}"
        cases.append((verdict == "T", language, statement))
    return cases


CLAIMS = {lang: ClaimFacts.from_facts(facts_in(lang)) for lang in ("de", "en")}
CASES = corpus()


def confusion() -> dict[str, int]:
    counts = {"true_accepted": 0, "true_rejected": 0, "false_rejected": 0, "false_accepted": 0}
    for truth, language, statement in CASES:
        passed = not check(statement, CLAIMS[language])
        key = ("true_" if truth else "false_") + ("accepted" if passed else "rejected")
        counts[key] += 1
    return counts


def test_the_corpus_is_large_and_balanced():
    assert sum(t for t, _, _ in CASES) >= 100 and sum(not t for t, _, _ in CASES) >= 100
    assert {lang for _, lang, _ in CASES} == {"de", "en"}


@pytest.mark.parametrize("truth,language,statement", CASES, ids=[f"{'T' if t else 'F'}-{l}-{i}" for i, (t, l, _) in enumerate(CASES)])
def test_each_statement_gets_its_verdict(truth, language, statement):
    problems = check(statement, CLAIMS[language])
    assert (not problems) == truth, [str(p) for p in problems] or "accepted"


if __name__ == "__main__":           # the confusion figures for the README
    print(json.dumps(confusion()))
