"""ArtifactStore contract: the same tests against the local directory and S3 (moto over HTTP)."""

import json
import threading
import time
import urllib.request

import pytest

from resources.artifacts import ordered_map
from resources.errors import ArtifactNotFoundError, InvalidKeyError


def test_put_get_bytes_round_trip(artifact_store):
    artifact_store.put_bytes("models/a/1/model.onnx", b"\x00\x01binary\xff")
    assert artifact_store.get_bytes("models/a/1/model.onnx") == b"\x00\x01binary\xff"
    assert artifact_store.exists("models/a/1/model.onnx")
    assert artifact_store.size("models/a/1/model.onnx") == 9


def test_put_replaces_whole_value(artifact_store):
    artifact_store.put_bytes("deploy/m/stable.json", b"x" * 1000)
    artifact_store.put_bytes("deploy/m/stable.json", b"short")
    assert artifact_store.get_bytes("deploy/m/stable.json") == b"short"


def test_put_file_and_get_file(artifact_store, tmp_path):
    source = tmp_path / "in.bin"
    payload = bytes(range(256)) * 5000  # 1.28 MB, streamed
    source.write_bytes(payload)
    artifact_store.put_file("datasets/v1/data.bin", source)
    target = artifact_store.get_file("datasets/v1/data.bin", tmp_path / "out" / "data.bin")
    assert target.read_bytes() == payload
    assert artifact_store.size("datasets/v1/data.bin") == len(payload)


def test_put_file_missing_source_names_it(artifact_store, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.bin"):
        artifact_store.put_file("a/b", tmp_path / "nope.bin")
    assert not artifact_store.exists("a/b")


def test_json_round_trip(artifact_store):
    artifact_store.put_json("deploy/m/1/manifest.json", {"model": "m", "version": 1, "v": [1.5]})
    assert artifact_store.get_json("deploy/m/1/manifest.json") == {
        "model": "m",
        "version": 1,
        "v": [1.5],
    }


def test_list_by_prefix_sorted_and_exact(artifact_store):
    for key in ["deploy/m/2/a", "deploy/m/1/b", "deploy/mm/1/c", "raw/x.png"]:
        artifact_store.put_bytes(key, b"1")
    assert artifact_store.list_keys("deploy/m/") == ["deploy/m/1/b", "deploy/m/2/a"]
    assert artifact_store.list_keys("deploy/m") == ["deploy/m/1/b", "deploy/m/2/a", "deploy/mm/1/c"]
    assert artifact_store.list_keys() == [
        "deploy/m/1/b",
        "deploy/m/2/a",
        "deploy/mm/1/c",
        "raw/x.png",
    ]
    assert artifact_store.list_keys("nothing/") == []


def test_delete(artifact_store):
    artifact_store.put_bytes("tmp/x", b"1")
    artifact_store.delete("tmp/x")
    assert not artifact_store.exists("tmp/x")
    artifact_store.delete("tmp/x")  # deleting what is gone is fine
    assert artifact_store.list_keys("tmp/") == []


def test_missing_key_raises_not_found_naming_key(artifact_store, tmp_path):
    with pytest.raises(ArtifactNotFoundError, match=r"reports/none\.json"):
        artifact_store.get_bytes("reports/none.json")
    with pytest.raises(ArtifactNotFoundError, match=r"reports/none\.json"):
        artifact_store.get_file("reports/none.json", tmp_path / "x")
    with pytest.raises(ArtifactNotFoundError, match=r"reports/none\.json"):
        artifact_store.size("reports/none.json")
    assert not (tmp_path / "x").exists()
    assert not artifact_store.exists("reports/none.json")


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("../escape", "'..'"),
        ("a/../../etc/passwd", "'..'"),
        ("/etc/passwd", "absolute"),
        ("a//b", "empty segment"),
        ("a/b/", "empty segment"),
        ("", "non-empty"),
        ("a\\b", "backslash"),
        ("a/./b", "'.'"),
        ("a/b c", "may only use"),
        ("deploy/" + "m" * 300 + "/stable.json", "at most 200"),  # once "file name too long"
        ("a/" * 460 + "b", "at most 900"),
    ],
)
def test_invalid_keys_are_refused_and_nothing_is_written(artifact_store, key, problem, tmp_path):
    artifact_store.put_bytes("keep/me", b"safe")
    before = artifact_store.list_keys()
    with pytest.raises(InvalidKeyError, match=problem):
        artifact_store.put_bytes(key, b"evil")
    with pytest.raises(InvalidKeyError, match=problem):
        artifact_store.get_bytes(key)
    with pytest.raises(InvalidKeyError):
        artifact_store.download_url(key)
    assert artifact_store.list_keys() == before
    assert artifact_store.get_bytes("keep/me") == b"safe"
    assert not (tmp_path / "escape").exists()


def test_keys_under_a_file_are_not_found_and_not_writable(artifact_store, environment):
    """Once a 500 ("not a directory"); S3 allows both keys, a directory cannot: refused clearly."""
    artifact_store.put_bytes("datasets/d/1/data.bin", b"weights")
    with pytest.raises(ArtifactNotFoundError):
        artifact_store.get_bytes("datasets/d/1/data.bin/x")
    with pytest.raises(ArtifactNotFoundError):
        artifact_store.size("datasets/d/1/data.bin/x")
    assert not artifact_store.exists("datasets/d/1/data.bin/x")
    artifact_store.delete("datasets/d/1/data.bin/x")  # nothing there: not an error
    if environment == "local":
        with pytest.raises(InvalidKeyError, match="part of its path is a file"):
            artifact_store.put_bytes("datasets/d/1/data.bin/x", b"1")
        with pytest.raises(InvalidKeyError, match="other keys live under it"):
            artifact_store.put_bytes("datasets/d/1", b"1")
    assert artifact_store.get_bytes("datasets/d/1/data.bin") == b"weights"


def test_concurrent_readers_never_see_partial_pointer(artifact_store):
    """Atomic replace: while one thread rewrites a pointer, readers see a whole JSON document."""
    key = "deploy/m/stable.json"
    artifact_store.put_json(key, {"version": 0, "pad": "x" * 20000})
    errors: list[Exception] = []
    done = threading.Event()

    def writer():
        for version in range(1, 40):
            artifact_store.put_json(key, {"version": version, "pad": "x" * (20000 + version)})
        done.set()

    def reader():
        while not done.is_set():
            try:
                document = json.loads(artifact_store.get_bytes(key))
                assert len(document["pad"]) == 20000 + document["version"]
            except Exception as error:  # a torn read shows up here
                errors.append(error)
                return

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert artifact_store.get_json(key)["version"] == 39


def test_download_url_serves_the_bytes(artifact_store, environment):
    artifact_store.put_bytes("deploy/m/1/labels.json", b'["cat","dog"]')
    url = artifact_store.download_url("deploy/m/1/labels.json")
    if environment == "local":
        assert url.endswith("/v1/artifacts/deploy/m/1/labels.json")
    else:
        assert "X-Amz-Expires=900" in url  # default 15 minutes
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b'["cat","dog"]'
        assert "X-Amz-Expires=60" in artifact_store.download_url("deploy/m/1/labels.json", 60)


def test_model_files_and_published_versions_are_written_once(artifact_store, tmp_path):
    """A registered version's bytes never change: the store refuses other bytes under a model
    run's or a published version's key (the same bytes again are no change), while other keys
    (datasets, channel pointers) are replaced as before."""
    from resources.errors import ImmutableArtifactError

    artifact_store.put_bytes("models/m/run-1/model.fp16.onnx", b"first")
    artifact_store.put_bytes("models/m/run-1/model.fp16.onnx", b"first")  # a retried write
    with pytest.raises(ImmutableArtifactError, match=r"models/m/run-1/model\.fp16\.onnx"):
        artifact_store.put_bytes("models/m/run-1/model.fp16.onnx", b"second")
    other = tmp_path / "other.onnx"
    other.write_bytes(b"third")
    with pytest.raises(ImmutableArtifactError):
        artifact_store.put_file("models/m/run-1/model.fp16.onnx", other)
    assert artifact_store.get_bytes("models/m/run-1/model.fp16.onnx") == b"first"
    artifact_store.put_file("deploy/m/3/model.fp16.onnx", other)
    with pytest.raises(ImmutableArtifactError):
        artifact_store.put_json("deploy/m/3/model.fp16.onnx", {"x": 1})
    assert artifact_store.get_bytes("deploy/m/3/model.fp16.onnx") == b"third"
    artifact_store.put_json("deploy/m/stable.json", {"version": 3})
    artifact_store.put_json("deploy/m/stable.json", {"version": 2})
    assert artifact_store.get_json("deploy/m/stable.json") == {"version": 2}
    assert artifact_store.list_keys("models/") == ["models/m/run-1/model.fp16.onnx"]


def test_compare_and_swap_refuses_a_stale_tag(artifact_store):
    from resources.errors import ConcurrentWriteError

    key = "deploy/m/stable.json"
    assert artifact_store.read_tagged(key) is None
    first = artifact_store.compare_and_swap(key, b'{"version": 1}', None)
    with pytest.raises(ConcurrentWriteError, match="changed since it was read"):
        artifact_store.compare_and_swap(key, b'{"version": 9}', None)  # create-only lost
    data, tag = artifact_store.read_tagged(key)
    assert (data, tag) == (b'{"version": 1}', first)
    second = artifact_store.compare_and_swap(key, b'{"version": 2}', tag)
    assert second != first
    with pytest.raises(ConcurrentWriteError):
        artifact_store.compare_and_swap(key, b'{"version": 3}', first)  # stale
    assert artifact_store.get_bytes(key) == b'{"version": 2}'
    assert artifact_store.list_keys("deploy/") == [key]  # no lock file shows as a key


def test_compare_and_swap_lets_exactly_one_of_many_writers_win(artifact_store):
    from resources.errors import ConcurrentWriteError

    key = "deploy/m/stable.json"
    artifact_store.compare_and_swap(key, b"initial", None)
    _, tag = artifact_store.read_tagged(key)
    won, barrier = [], threading.Barrier(8)

    def write(index: int) -> None:
        barrier.wait()
        try:
            artifact_store.compare_and_swap(key, str(index).encode(), tag)
            won.append(index)
        except ConcurrentWriteError:
            pass

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert artifact_store.get_bytes(key) == str(won[0]).encode()


def test_many_objects_are_read_and_written_in_order(artifact_store):
    items = [
        (f"raw/images/m/c{i % 3}/{i:03d}.png", f"image {i}".encode() * (i + 1)) for i in range(40)
    ]
    assert artifact_store.put_many(iter(items)) == 40  # a generator, as the demo set is
    keys = [key for key, _ in items]
    assert list(artifact_store.get_many(reversed(keys))) == [data for _, data in reversed(items)]


def test_a_missing_object_among_many_names_its_key(artifact_store):
    artifact_store.put_many([("raw/a/x/1.png", b"1"), ("raw/a/x/3.png", b"3")])
    with pytest.raises(ArtifactNotFoundError, match=r"raw/a/x/2\.png"):
        list(artifact_store.get_many(["raw/a/x/1.png", "raw/a/x/2.png", "raw/a/x/3.png"]))


def test_ordered_map_keeps_order_and_holds_few_results_ahead():
    started = []
    lock = threading.Lock()

    def slow_for_even(item: int) -> int:
        with lock:
            started.append(item)
        time.sleep(0.02 if item % 2 == 0 else 0)
        return item * 10

    results = ordered_map(slow_for_even, range(100), workers=4)
    assert [next(results) for _ in range(3)] == [0, 10, 20]
    time.sleep(0.1)  # nothing runs far ahead of what was read
    assert len(started) <= 3 + 2 * 4
    assert list(results) == [i * 10 for i in range(3, 100)]


def test_ordered_map_raises_the_first_error_where_its_result_is():
    def fail_on_five(item: int) -> int:
        if item == 5:
            raise ValueError("five")
        return item

    results = ordered_map(fail_on_five, range(10), workers=3)
    assert [next(results) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="five"):
        next(results)
