"""The order `make test` hands tests out in (tests/scheduling.py): the record's longest first,
a group's tests together and in their own order, and the groups read by the scheduler."""

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

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
    assert nothing_written._split_scope("m.py::one") == "m.py::one"


def test_only_tests_with_a_module_fixture_are_grouped():
    def item(*scopes: str) -> FakeItem:
        made = FakeItem("tests/m.py::t[1]")
        definitions = {f"f{i}": [SimpleNamespace(scope=s)] for i, s in enumerate(scopes)}
        made._fixtureinfo = SimpleNamespace(name2fixturedefs=definitions)
        return made

    assert scheduling.module_fixture_group(item("function", "session")) is None
    assert scheduling.module_fixture_group(item("function", "module")) == "tests/m.py"
    assert scheduling.module_fixture_group(FakeItem("doctest")) is None  # no fixture info


def test_the_record_keeps_tests_of_a_second_or_more_summed_over_their_phases(tmp_path):
    recorder = scheduling.DurationRecorder(tmp_path / "durations.json")
    for nodeid, duration in [("x.py::t", 0.4), ("x.py::t", 0.8), ("y.py::t", 0.5)]:
        recorder.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=duration))
    recorder.pytest_sessionfinish(session=None)
    assert json.loads((tmp_path / "durations.json").read_text()) == {"x.py::t": 1.2}
