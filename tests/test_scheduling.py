"""The order `make test` hands tests out in (tests/scheduling.py): the record's longest first,
a group's tests together and in their own order, and the groups read by the scheduler."""

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from tests import scheduling


@dataclass
class FakeItem:
    nodeid: str
    marks: set[str] = field(default_factory=set)

    def get_closest_marker(self, name: str):
        return name if name in self.marks else None


def test_units_go_longest_first_and_a_group_stays_together_in_its_order():
    items = [
        FakeItem("a.py::quick"),
        FakeItem("b.py::first"),
        FakeItem("b.py::second"),
        FakeItem("c.py::long"),
        FakeItem("d.py::new", {"slow"}),
        FakeItem("e.py::also_quick"),
    ]
    groups = [None, "b.py", "b.py", None, None, None]
    seconds = {"b.py::first": 20.0, "b.py::second": 15.0, "c.py::long": 30.0, "a.py::quick": 1.0}
    scheduling.order_longest_first(items, groups, seconds)
    # b's 35 s together, then c's 30, a slow test the record lacks (10), then the rest in
    # file order where the record says nothing
    assert [i.nodeid for i in items] == [
        "b.py::first",
        "b.py::second",
        "c.py::long",
        "d.py::new",
        "a.py::quick",
        "e.py::also_quick",
    ]


def test_the_scheduler_splits_by_the_groups_the_workers_wrote(tmp_path):
    path = tmp_path / "groups.json"
    items = [FakeItem("m.py::one"), FakeItem("m.py::two"), FakeItem("n.py::alone")]
    scheduling.write_groups(items, ["m.py", "m.py", None], path)
    assert json.loads(path.read_text()) == {"m.py::one": "m.py", "m.py::two": "m.py"}
    config = SimpleNamespace(getvalue={"tx": ["3*popen"]}.get)  # as `-n 3` sets it
    scheduler = scheduling.GroupedScheduling(config, log=None, groups=path)
    assert scheduler._split_scope("m.py::two") == "m.py"
    assert scheduler._split_scope("n.py::alone") == "n.py::alone"
    nothing_written = scheduling.GroupedScheduling(config, log=None, groups=tmp_path / "none")
    with pytest.raises(RuntimeError, match="no worker wrote the tests' groups"):
        nothing_written._split_scope("m.py::one")


def test_only_tests_with_a_module_fixture_are_grouped():
    def item(*scopes: str) -> FakeItem:
        made = FakeItem("tests/m.py::t[1]")
        definitions = {f"f{i}": [SimpleNamespace(scope=s)] for i, s in enumerate(scopes)}
        made._fixtureinfo = SimpleNamespace(name2fixturedefs=definitions)
        return made

    assert scheduling.module_fixture_group(item("function", "session")) is None
    assert scheduling.module_fixture_group(item("function", "module")) == "tests/m.py"
    assert scheduling.module_fixture_group(FakeItem("doctest")) is None  # no fixture info


def test_the_record_merges_a_whole_runs_figures_and_keeps_slow_tests(tmp_path):
    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"x.py::t": 9.0, "z.py::not_run": 5.0, "q.py::now_quick": 3.0}))
    recorder = scheduling.DurationRecorder(path)
    reports = [
        ("x.py::t", 0.4, {}),
        ("x.py::t", 0.8, {}),
        ("y.py::quick_but_slow", 0.5, {"slow": 1}),
        ("q.py::now_quick", 0.2, {}),
    ]
    for nodeid, duration, keywords in reports:
        report = SimpleNamespace(nodeid=nodeid, duration=duration, keywords=keywords)
        recorder.pytest_runtest_logreport(report)
    recorder.pytest_sessionfinish(session=None, exitstatus=pytest.ExitCode.INTERRUPTED)
    assert "y.py::quick_but_slow" not in json.loads(path.read_text())  # an interrupted run
    recorder.pytest_sessionfinish(session=None, exitstatus=pytest.ExitCode.TESTS_FAILED)
    assert json.loads(path.read_text()) == {
        "x.py::t": 1.2,
        "y.py::quick_but_slow": 0.5,
        "z.py::not_run": 5.0,
    }


class FakeWorker:
    """What the scheduler sees of a pytest-xdist worker: the tests sent to it, by index."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.shutting_down = False
        self.gateway = SimpleNamespace(id=f"gw{id(self)}")

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.extend(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def scheduled(tmp_path, ids: list[str], groups: dict[str, str], workers: list[FakeWorker]):
    path = tmp_path / "groups.json"
    path.write_text(json.dumps(groups))
    options = {"tx": [f"{len(workers)}*popen"]}
    config = SimpleNamespace(getvalue=options.get, option=SimpleNamespace(loadscopereorder=False))
    scheduler = scheduling.GroupedScheduling(config, log=None, groups=path)
    for worker in workers:
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, ids)
    scheduler.schedule()
    return scheduler


def test_a_group_goes_to_one_worker_whole_and_each_worker_holds_two_tests(tmp_path):
    ids = ["m.py::one", "m.py::two", "m.py::three", "n.py::alone", "o.py::alone"]
    groups = {"m.py::one": "m.py", "m.py::two": "m.py", "m.py::three": "m.py"}
    first, second = FakeWorker(), FakeWorker()
    scheduled(tmp_path, ids, groups, [first, second])
    assert first.sent == [0, 1, 2]  # the group: more than two already
    assert second.sent == [3, 4]


def test_a_crashed_workers_test_is_not_run_again_and_the_rest_goes_first(tmp_path):
    ids = [f"t.py::test_{i}" for i in range(6)]
    first, second = FakeWorker(), FakeWorker()
    scheduler = scheduled(tmp_path, ids, {}, [first, second])
    # a worker runs a test only once it has the next: two each from the start
    assert first.sent == [0, 2] and second.sent == [1, 3]
    scheduler.mark_test_complete(first, 0)
    assert first.sent == [0, 2, 4]
    assert scheduler.remove_node(first) == ids[2]  # it crashed in test 2
    for index in (1, 3):  # the other worker goes on: test 4 first, then 5, and never 0 or 2
        scheduler.mark_test_complete(second, index)
    assert second.sent == [1, 3, 4, 5]
    for index in (4, 5):
        scheduler.mark_test_complete(second, index)
    assert scheduler.tests_finished and second.shutting_down
