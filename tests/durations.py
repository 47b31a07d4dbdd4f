"""Test files run longest first, from the durations recorded in tests/durations.json.

Both tiers hand whole files to two xdist workers (`--dist loadfile --no-loadscope-reorder`),
each worker taking the next file in collection order when it runs short. Ordered longest
first, the files fill the two workers as evenly as whole files can (the longest-processing-
time rule). Within a file the longest tests also go first: xdist hands a worker its next
file once two or fewer of its tests wait, so the file queued behind waits on short tests, not
on the longest.

`make durations` runs both tiers with `--store-durations`, which writes each test's setup,
call and teardown seconds here; tests under a tenth of a second are left out, and a test
missing from the file counts as that tenth.
"""

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

DURATIONS = Path(__file__).with_name("durations.json")
UNRECORDED_SECONDS = 0.1


def read_durations(path: Path = DURATIONS) -> dict[str, float]:
    """Returns the recorded seconds of each test (none if the file is missing)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def longest_first(nodeids: Iterable[str], seconds: Mapping[str, float]) -> list[str]:
    """Returns the test ids, their files ordered by total seconds and each file's tests by
    their own, longest first; ties keep the collection order."""
    ids = list(nodeids)
    cost = {nodeid: seconds.get(nodeid, UNRECORDED_SECONDS) for nodeid in ids}
    file_cost: dict[str, float] = {}
    for nodeid in ids:
        file_cost[file_of(nodeid)] = file_cost.get(file_of(nodeid), 0.0) + cost[nodeid]
    position = {nodeid: index for index, nodeid in enumerate(ids)}
    return sorted(
        ids,
        key=lambda nodeid: (
            -file_cost[file_of(nodeid)],
            file_of(nodeid),
            -cost[nodeid],
            position[nodeid],
        ),
    )


def file_of(nodeid: str) -> str:
    """Returns the file part of a test id (the unit `--dist loadfile` hands to a worker)."""
    return nodeid.split("::", 1)[0]


def merged_durations(
    recorded: Mapping[str, float], measured: Mapping[str, float]
) -> dict[str, float]:
    """Returns the recorded seconds updated with this run's, rounded to a tenth, without the
    tests under a tenth of a second, sorted by test id."""
    merged = {**recorded, **{nodeid: round(s, 1) for nodeid, s in measured.items()}}
    return {nodeid: s for nodeid, s in sorted(merged.items()) if s >= UNRECORDED_SECONDS}


class DurationOrder:
    """The pytest plugin: orders the selected tests and, with --store-durations, records."""

    def __init__(self, config: pytest.Config) -> None:
        self.store = bool(config.getoption("store_durations"))
        self.is_worker = hasattr(config, "workerinput")
        self.measured: dict[str, float] = {}

    @pytest.hookimpl(trylast=True)  # after the tier's markers deselected the other tier
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        by_id = {item.nodeid: item for item in items}
        items[:] = [by_id[nodeid] for nodeid in longest_first(by_id, read_durations())]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.store:
            self.measured[report.nodeid] = self.measured.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        """Records a whole, green run only: a failed or interrupted one keeps the file."""
        if self.store and not self.is_worker and self.measured and exitstatus == 0:
            merged = merged_durations(read_durations(), self.measured)
            DURATIONS.write_text(json.dumps(merged, indent=0) + "\n")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-durations",
        action="store_true",
        help="write each test's seconds to tests/durations.json (`make durations`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(DurationOrder(config), "sycolens-durations")
