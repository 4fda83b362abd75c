"""Splink's answers remembered for `kontor check` (pipelines/entities/splink_check.py): the same answers, read back."""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.entities.splink_check import SplinkAnswers


def test_answers_read_back_are_the_answers_splink_gave(tmp_path: Path):
    path = tmp_path / "splink_checks.json"
    questions = [("ExactMatch", {"col_name": "city"}, None),
                 ("JaroWinklerAtThresholds", {"col_name": "name", "score_threshold_or_thresholds": [0.9, 0.7]},
                  {"term_frequency_adjustments": True}),
                 ("ExactMatch", {"column": "city"}, None),             # wrong argument: Splink's complaint
                 ("LevenshteinAtThresholds", {"col_name": "name", "distance_threshold_or_thresholds": "x"}, None)]
    settings = [{"link_type": "dedupe_only", "comparisons": [], "blocking_rules_to_generate_predictions": []},
                {"link_type": "dedupe_only", "no_such_setting": 1}]
    asked = SplinkAnswers(path)
    first = [asked.comparison(*q) for q in questions]
    first_settings = [asked.settings_problem(s) for s in settings]
    library = asked.library()
    asked.save()
    assert first[0][1] is None and first[0][0]["output_column_name"] == "city"
    assert first[2][0] is None and first[2][1]                      # an error, in Splink's words
    assert first_settings[0] is None and first_settings[1]
    assert "ExactMatch" in library

    stored = json.loads(path.read_text())
    assert stored["comparisons"] and stored["settings"] and stored["library"]
    again = SplinkAnswers(path)
    assert [again.comparison(*q) for q in questions] == first
    assert [again.settings_problem(s) for s in settings] == first_settings
    assert again.library() == library
    assert not again.changed                                        # nothing asked of Splink again


def test_another_splink_version_asks_again(tmp_path: Path):
    path = tmp_path / "splink_checks.json"
    asked = SplinkAnswers(path)
    asked.comparison("ExactMatch", {"col_name": "city"}, None)
    asked.save()
    data = json.loads(path.read_text())
    data["versions"] = ["splink=0.0.1", *data["versions"][1:]]
    path.write_text(json.dumps(data))
    again = SplinkAnswers(path)
    assert again.data["comparisons"] == {}
    again.comparison("ExactMatch", {"col_name": "city"}, None)
    assert again.changed


def test_without_a_file_nothing_is_kept(tmp_path: Path):
    asked = SplinkAnswers(None)
    assert asked.comparison("ExactMatch", {"col_name": "city"}, None)[1] is None
    asked.save()
    assert list(tmp_path.iterdir()) == []
