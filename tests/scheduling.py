"""The order in which `make test` hands tests to its workers: the longest first, by a record of
an earlier run (tests/durations.json), and the tests that share a module-scoped fixture together.

Three workers share two cores, and the suite is over when its last test is. Handed out in file
order (`--dist worksteal`), the minute-long tests of tests/test_*.py started 5 minutes in and
one worker ran them alone for the last 45 s, the machine a third idle; and the tests of one
module fixture (a trained lineage) were split between workers, each training it. So `make test`
runs `--dist loadgroup`: a worker takes the next test (or group) when it has two left, from this
order. The record only orders: a test missing from it still runs. `make durations` writes it
again from a whole run.

pytest-xdist 3.8's own loadgroup names a group in the test's id, which pytest 9 no longer reads
(each test went to any worker), so the groups travel in a file: each worker writes the groups it
collected (``write_groups``), and ``GroupedScheduling`` reads them when it hands tests out.
"""

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

DURATIONS = Path(__file__).with_name("durations.json")
RECORDED_FROM_S = 1.0  # the record keeps the tests that took at least this long
UNRECORDED_SLOW_S = 10.0  # a `slow` test the record does not know yet: started early, to be safe


def module_fixture_group(item: pytest.Item) -> str | None:
    """The test's module path when it uses a module-scoped fixture: the module's tests then run
    on one worker, one after another, and the fixture is made once."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    scopes = {definition.scope for defs in info.name2fixturedefs.values() for definition in defs}
    return item.nodeid.split("::")[0] if "module" in scopes else None


GROUPS_FILE = "EDGELINE_TEST_GROUPS"  # where the workers write the groups for the controller


def write_groups(items: Sequence[pytest.Item], groups: Sequence[str | None], path: Path) -> None:
    """Each grouped test's group by id, in ``path`` (atomically: every worker writes the same)."""
    grouped = {item.nodeid: group for item, group in zip(items, groups, strict=True) if group}
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".json")
    with os.fdopen(descriptor, "w") as out:
        json.dump(grouped, out)
    os.replace(temporary, path)


class GroupedScheduling(LoadScopeScheduling):
    """xdist's scheduling by scope, a scope being a test's group (or the test alone): a worker
    with fewer than two tests left takes the next units, in collection order.

    Three of LoadScopeScheduling's ways are mended here (pytest-xdist 3.8). It kept a worker's
    finished units, and when a worker crashed it queued them all again, at the end: a worker
    handed a finished unit got no test, never ran the one it held (a worker runs its last test
    only once it has the next), and the run waited for ever. It ran the test that crashed a
    worker again. And it gave a worker one unit at a time: one test, which it would not run."""

    def __init__(self, config: pytest.Config, log, groups: Path) -> None:
        super().__init__(config, log)
        self.groups_path = groups
        self.groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self.groups is None:  # first asked once every worker has collected (and written)
            if not self.groups_path.exists():
                raise RuntimeError(f"no worker wrote the tests' groups to {self.groups_path}")
            self.groups = json.loads(self.groups_path.read_text())
        return self.groups.get(nodeid, nodeid)

    def _reschedule(self, node) -> None:
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        while self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
            self._assign_work_unit(node)

    def mark_test_complete(self, node, item_index: int, duration: float = 0) -> None:
        nodeid = self.registered_collections[node][item_index]
        assigned = self.assigned_work[node]
        scope = self._split_scope(nodeid)
        assigned[scope][nodeid] = True
        if all(assigned[scope].values()):  # done: never to be handed out again
            del assigned[scope]
        self._reschedule(node)

    def remove_node(self, node) -> str | None:
        """A worker that ended (None) or crashed: the test it was running is reported as the
        crash and not run again; the rest of its units go first to the others."""
        workload = self.assigned_work.pop(node)
        unfinished = [(s, u) for s, u in workload.items() if not all(u.values())]
        if not unfinished:
            return None
        first_unit = unfinished[0][1]
        crashed = next(nodeid for nodeid, done in first_unit.items() if not done)
        first_unit[crashed] = True
        for scope, unit in reversed(unfinished):
            if not all(unit.values()):
                self.workqueue[scope] = unit
                self.workqueue.move_to_end(scope, last=False)
        for other in self.assigned_work:
            self._reschedule(other)
        return crashed


def read_durations(path: Path = DURATIONS) -> dict[str, float]:
    """Seconds by test id, as `record_durations` wrote them (none when there is no record)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def order_longest_first(
    items: list[pytest.Item], groups: Sequence[str | None], seconds: dict[str, float]
) -> None:
    """Reorder ``items`` in place: the units (a group's tests, or one test) by their recorded
    seconds, longest first; a group keeps its own order, and equal units their file order."""
    units: dict[str, list[pytest.Item]] = {}
    for item, group in zip(items, groups, strict=True):
        units.setdefault(group or item.nodeid, []).append(item)

    def expected(item: pytest.Item) -> float:
        guess = UNRECORDED_SLOW_S if item.get_closest_marker("slow") else 0.0
        return seconds.get(item.nodeid, guess)

    ordered = sorted(units.values(), key=lambda unit: -sum(map(expected, unit)))
    items[:] = [item for unit in ordered for item in unit]


class DurationRecorder:
    """A pytest plugin for the controlling process: each test's setup, call and teardown summed,
    merged into the record at ``path`` (atomically) when the run ended by itself (passed or
    failed): the tests it ran replace their figures, the others keep theirs. A test of at least
    ``RECORDED_FROM_S``, or marked `slow`, is kept; a quicker one leaves the record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds: dict[str, float] = {}
        self.slow: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration
        if "slow" in report.keywords:
            self.slow.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return  # interrupted, or nothing ran: the record stays as it was
        record = read_durations(self.path)
        for test, seconds in self.seconds.items():
            record.pop(test, None)
            if seconds >= RECORDED_FROM_S or test in self.slow:
                record[test] = round(seconds, 1)
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".json")
        with os.fdopen(descriptor, "w") as out:
            json.dump(dict(sorted(record.items())), out, indent=0)
            out.write("\n")
        os.replace(temporary, self.path)
