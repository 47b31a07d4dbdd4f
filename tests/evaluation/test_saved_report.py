"""A saved report is checked before anything loads: each kind of damage is named."""

from pathlib import Path

import pytest

from sycolens.evaluation.saved_report import read_saved_report

REPORT = '{"schema": "sycolens.evaluation", "schema_version": 2, '


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", r"holds a JSON list, not an evaluation report"),
        ('{"schema": "sycolens.head_ranking", "schema_version": 4}', r"is not a sycolens eval"),
        (REPORT + '"models": null, "data": {}}', r"no list of evaluated models .*found NoneType"),
        (REPORT + '"models": [1], "data": {}}', r"no list of evaluated models .*found list"),
        (REPORT + '"models": []}', r"no 'data' block .*found NoneType"),
        (REPORT + '"models": [', r"is not valid JSON"),
    ],
)
def test_each_kind_of_damage_is_named(text: str, message: str, tmp_path: Path):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_saved_report(path)


def test_an_intact_report_is_returned(tmp_path: Path):
    path = tmp_path / "r.json"
    path.write_text(REPORT + '"models": [], "data": {"questions": {}}}')
    assert read_saved_report(path)["data"] == {"questions": {}}
