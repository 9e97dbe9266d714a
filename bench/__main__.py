"""Every benchmark, then one table of every figure the issues name (`make bench`).

    .venv/bin/python -m bench [--only web,fuzz]

Runs each ``bench.<name>`` in its own process (each writes bench/results/<name>.json), then
writes bench/results/summary.json and prints the table: figure, goal, measured, pass/fail.
A benchmark that fails is reported as failed, and the others still run. A benchmark may write
its JSON and then exit 1 to say a goal was missed (the fuzz does): its figures still show.
"""

import argparse
import json
import operator
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path("bench/results")
BENCHMARKS = (
    "demo",
    "vision",
    "unsure",
    "turbine",
    "deployment",
    "gateway",
    "web",
    "fuzz",
    "slow_clients",
    "pi_agent",
    "rollout",
)
COMPARE = {">=": operator.ge, "<=": operator.le, "==": operator.eq}
# (benchmark, figure, path into its JSON, goal or None for a figure without one)
FIGURES: list[tuple[str, str, tuple, str | None]] = [
    ("demo", "`edgeline demo` after installation (min), this machine's cores", ("wall_min",), "<= 2.5"),
    ("vision", "training images/s (decode + steps) vs a bare loop, no augmentation", ("ratios", "training_images_per_s_vs_bare_loop_augment_none"), ">= 0.85"),
    ("vision", "the same, photo augmentation (default) in both", ("ratios", "training_images_per_s_vs_bare_loop_augment_photo"), ">= 0.95"),
    ("vision", "the same, photo, the lineage's whole call (+ recalibration, validation)", ("ratios", "training_images_per_s_vs_bare_loop_augment_photo_whole_call"), None),
    ("vision", "published fp32 p50 vs a bare export", ("ratios", "published_fp32_p50_vs_bare_export_ort_defaults"), "<= 1.05"),
    ("vision", "int8 p50 vs fp32, 1 thread", ("ratios", "int8_p50_vs_fp32_1_thread"), "<= 0.8"),
    ("vision", "fp16 size vs fp32", ("ratios", "fp16_size_vs_fp32"), "<= 0.51"),
    ("unsure", "'not sure' threshold from the demo's validation split", ("demo_model", "unsure_below"), None),
    ("unsure", "right test answers called 'not sure'", ("demo_model", "test_right", "share_flagged"), "<= 0.1"),
    ("unsure", "noise images called 'not sure'", ("demo_model", "noise", "share_flagged"), None),
    ("unsure", "a class never trained on called 'not sure'", ("model_without_cross", "cross_never_seen", "share_flagged"), None),
    ("turbine", "held-out F1", ("held_out", "f1"), ">= 0.9"),
    ("turbine", "fp16 size vs fp32", ("ratios", "fp16_size_vs_fp32"), None),
    ("deployment", "approval -> Pi agents run it, max (s), sensor 10 s (default)", ("by_sensor_interval", "10s", "approval_to_client_max_s"), "<= 15"),
    ("deployment", "the same, sensor 1 s", ("by_sensor_interval", "1s", "approval_to_client_max_s"), "<= 15"),
    ("gateway", "ingest, events/s, production settings, 2 client processes", ("ingest", "production", "events_per_s"), ">= 25000"),
    ("gateway", "ingest, request p99 (ms), production settings", ("ingest", "production", "request_p99_ms"), "<= 50"),
    ("gateway", "ingest, events/s, limits off", ("ingest", "limits_off", "events_per_s"), None),
    ("gateway", "ingest, request p99 (ms), limits off", ("ingest", "limits_off", "request_p99_ms"), None),
    ("gateway", "store -> report, events/min", ("rollup", "events_per_minute"), ">= 2500000"),
    ("web", "photo-to-answer vs session.run, 224 px", ("models", "mobilenet_v2_224", "ratio"), "<= 1.3"),
    ("web", "the same at 1 thread", ("models", "mobilenet_v2_224", "by_threads", "threads_1", "ratio"), "<= 1.3"),
    ("web", "photo-to-answer vs session.run, published", ("models", "published", "ratio"), "<= 1.3"),
    ("web", "12 MP JPEG photo-to-answer vs 640x480 JPEG, 224 px", ("models", "mobilenet_v2_224", "phone_photos", "jpeg_12mp", "vs_640x480_jpeg"), "<= 1.5"),
    ("web", "12 MP PNG photo-to-answer vs 640x480 JPEG, 224 px", ("models", "mobilenet_v2_224", "phone_photos", "png_12mp", "vs_640x480_jpeg"), "<= 1.5"),
    ("web", "12 MP WebP photo-to-answer vs 640x480 JPEG, 224 px", ("models", "mobilenet_v2_224", "phone_photos", "webp_12mp", "vs_640x480_jpeg"), "<= 1.5"),
    ("web", "12 MP JPEG photo-to-answer vs 640x480 JPEG, published", ("models", "published", "phone_photos", "jpeg_12mp", "vs_640x480_jpeg"), "<= 1.5"),
    ("web", "12 MP PNG photo-to-answer vs 640x480 JPEG, published", ("models", "published", "phone_photos", "png_12mp", "vs_640x480_jpeg"), "<= 1.5"),
    ("web", "12 MP WebP photo-to-answer vs 640x480 JPEG, published", ("models", "published", "phone_photos", "webp_12mp", "vs_640x480_jpeg"), "<= 1.5"),
    ("web", "bare fp16 p50 vs fp32, 224 px, 2 threads", ("models", "mobilenet_v2_224", "bare_p50_vs_fp32", "fp16_threads_2"), None),
    ("web", "bare int8 p50 vs fp32, 224 px, 2 threads", ("models", "mobilenet_v2_224", "bare_p50_vs_fp32", "int8_threads_2"), None),
    ("web", "bare int8 p50 vs fp32, 224 px, 1 thread", ("models", "mobilenet_v2_224", "bare_p50_vs_fp32", "int8_threads_1"), None),
    ("web", "cold start to first answer (ms), 224 px", ("models", "mobilenet_v2_224", "cold_start", "first_answer_ms"), None),
    ("web", "cold start bytes, 224 px", ("models", "mobilenet_v2_224", "cold_start", "bytes_transferred"), None),
    ("web", "warm start offline (ms), 224 px", ("models", "mobilenet_v2_224", "warm_start_offline", "first_answer_ms"), None),
    ("web", "first-visit bytes, compact weights vs fp32 file, 224 px", ("compact_weights", "first_visit_bytes_ratio"), "<= 0.6"),
    ("web", "photo-to-answer, expanded vs fp32 file, 224 px", ("compact_weights", "photo_to_answer_p50_ratio"), "<= 1.05"),
    ("web", "bare session.run, expanded vs fp32 file, 224 px", ("compact_weights", "bare_session_run_p50_ratio"), None),
    ("fuzz", "bad requests", ("requests",), ">= 10000"),
    ("fuzz", "5xx", ("server_errors_5xx",), "== 0"),
    ("fuzz", "good events lost", ("good_events_lost",), "== 0"),
    ("slow_clients", "gateway memory growth under 100 slow 5 MB uploads, peak (MB)", ("peak_rss_growth_mb",), "<= 50"),
    ("slow_clients", "attack connections still open after 60 s", ("uploads_open_at_end",), "== 0"),
    ("slow_clients", "slowloris connections still open after 60 s", ("slowloris_open_at_end",), "== 0"),
    ("pi_agent", "Pi agent venv (MB), Python 3.9", ("install", "oldest", "venv_mb"), None),
    ("pi_agent", "Pi agent venv (MB), Python 3.11 (Raspberry Pi OS)", ("install", "raspberry-pi-os", "venv_mb"), None),
    ("pi_agent", "Pi agent venv (MB), Python 3.13", ("install", "newest", "venv_mb"), None),
    ("pi_agent", "Pi agent install (s), Python 3.11, pip cache warm", ("install", "raspberry-pi-os", "install_s"), None),
    ("pi_agent", "the platform's full venv (MB)", ("full_platform_venv_mb",), None),
    ("pi_agent", "Pi agent cold start to first scored window, 1 CPU (ms)", ("cold_start", "first_start_ms"), None),
    ("pi_agent", "the same, model already on disk (ms)", ("cold_start", "restart_ms"), None),
    ("rollout", "sensor v2 flagging 10x: share of the fleet that ran it", ("bad_v2", "sensor v2 flagging ten times the baseline rate", "share_of_the_fleet_that_ever_ran_it"), "<= 0.1"),
    ("rollout", "image v2 collapsed: share of the fleet that ran it", ("bad_v2", "image v2 collapsed onto one class", "share_of_the_fleet_that_ever_ran_it"), "<= 0.1"),
    ("rollout", "sensor v2 3x slower: share of the fleet that ran it", ("bad_v2", "sensor v2 three times slower", "share_of_the_fleet_that_ever_ran_it"), "<= 0.1"),
    ("rollout", "good sensor v2 to 100 %, default bake (min)", ("good_v2", "pi_default_bake_60_min", "minutes_to_100_percent"), None),
    ("rollout", "good sensor v2 to 100 %, demo bake (min)", ("good_v2", "pi_demo_bake_1_min", "minutes_to_100_percent"), None),
    ("rollout", "good v2 false aborts, 20 sensor rollouts", ("false_aborts", "pi", "aborted"), "== 0"),
    ("rollout", "good v2 false aborts, 20 image rollouts", ("false_aborts", "web", "aborted"), "== 0"),
]  # fmt: skip


def lookup(document: Any, path: tuple) -> Any:
    for part in path:
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return document


def verdict(value: Any, goal: str | None) -> str:
    if value is None:
        return "missing"
    if goal is None:
        return ""
    sign, target = goal.split()
    return "pass" if COMPARE[sign](value, float(target)) else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated benchmarks (default: all)")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only.split(",")]
    runs: dict[str, dict[str, Any]] = {}
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        started, started_at = time.monotonic(), time.time()
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], capture_output=True, text=True
        )
        result = RESULTS / f"{name}.json"
        runs[name] = {
            "seconds": round(time.monotonic() - started, 1),
            "exit": done.returncode,
            "wrote_result": result.exists() and result.stat().st_mtime >= started_at,
        }
        if done.returncode:
            print(done.stderr[-2000:])
    rows = []
    for name, figure, path, goal in FIGURES:
        if name not in chosen:
            continue
        result = RESULTS / f"{name}.json"
        document = json.loads(result.read_text()) if runs[name]["wrote_result"] else {}
        value = lookup(document, path)
        rows.append(
            {
                "benchmark": name,
                "figure": figure,
                "goal": goal,
                "measured": value,
                "result": verdict(value, goal),
            }
        )
    summary = {"benchmark": "summary", "runs": runs, "figures": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    width = max(len(r["figure"]) for r in rows) if rows else 10
    print(f"\n{'benchmark':<11} {'figure':<{width}} {'goal':<10} {'measured':>12}  result")
    for row in rows:
        measured = row["measured"]
        shown = (
            f"{measured:,.3f}".rstrip("0").rstrip(".")
            if isinstance(measured, float)
            else str(measured)
        )
        print(
            f"{row['benchmark']:<11} {row['figure']:<{width}} {row['goal'] or '-':<10} {shown:>12}  {row['result']}"
        )
    failed = [name for name, run in runs.items() if run["exit"]]
    if failed:
        print(f"\nbenchmarks that failed (exit status not 0): {', '.join(failed)}")
    print(f"\nwritten: {RESULTS / 'summary.json'}")


if __name__ == "__main__":
    main()
