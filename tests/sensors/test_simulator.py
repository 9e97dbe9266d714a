"""The simulated fleet: deterministic, physically coupled, faults where the labels say."""

import numpy as np

from edgeline_contract.profile import WIND_TURBINE
from edgeline_simulator.turbines import (
    FAULTS,
    SIGNALS,
    FleetSettings,
    power_curve,
    simulate_fleet_day,
    simulate_turbine,
)


def test_same_seed_same_data_other_seed_other_data():
    first = simulate_fleet_day(10, FleetSettings(turbines=2), seed=1)
    again = simulate_fleet_day(10, FleetSettings(turbines=2), seed=1)
    other = simulate_fleet_day(10, FleetSettings(turbines=2), seed=2)
    for name in (*SIGNALS, "fault"):
        assert np.array_equal(first[name], again[name])
    assert not np.array_equal(first["wind_speed_ms"], other["wind_speed_ms"])
    assert len(first["fault"]) == 2 * 1440


def test_signals_are_coupled_and_in_range():
    day = simulate_fleet_day(3, FleetSettings(turbines=3, fault_rate=0.0), seed=5)
    for name in SIGNALS:
        low, high = WIND_TURBINE.signals[SIGNALS.index(name)].valid_range()
        assert low <= day[name].min() and day[name].max() <= high, name
    running = day["rotor_rpm"] > 1
    assert np.corrcoef(day["wind_speed_ms"][running], day["power_kw"][running])[0, 1] > 0.7
    assert np.corrcoef(day["power_kw"], day["bearing_temp_c"])[0, 1] > 0.3
    rpm, power = power_curve(np.array([2.0, 8.0, 12.0, 20.0, 30.0]))
    assert power[0] == 0 and power[-1] == 0 and power[2] == power[3] == 2000.0
    assert 0 < power[1] < 2000 and rpm[1] < rpm[2]


def _episodes(fault: np.ndarray, kind: int) -> list[slice]:
    edges = np.diff(np.concatenate([[0], (fault == kind).astype(int), [0]]))
    return [
        slice(a, b)
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    ]


def test_faults_appear_where_their_labels_say():
    settings = FleetSettings(turbines=1, fault_rate=3.0)
    seen = set()
    for day_index in range(40):
        faulty = simulate_turbine(0, day_index, settings, seed=9)
        clean = simulate_turbine(0, day_index, FleetSettings(turbines=1, fault_rate=0.0), seed=9)
        outside = faulty["fault"] == 0
        for name in SIGNALS:  # outside the labelled episodes, nothing changed
            assert np.allclose(faulty[name][outside], clean[name][outside]), name
        for kind in range(1, len(FAULTS)):
            for episode in _episodes(faulty["fault"], kind):
                seen.add(FAULTS[kind])
                late = slice(episode.start + (episode.stop - episode.start) // 2, episode.stop)
                if FAULTS[kind] == "bearing_wear":
                    assert (
                        faulty["bearing_temp_c"][late].mean()
                        > clean["bearing_temp_c"][late].mean() + 5
                    )
                    assert (
                        faulty["vibration_x_mms"][late].mean()
                        > clean["vibration_x_mms"][late].mean() + 1
                    )
                elif FAULTS[kind] == "voltage_sag":
                    assert (faulty["voltage_v"][episode] < 0.9 * clean["voltage_v"][episode]).all()
                elif FAULTS[kind] == "stuck_sensor":
                    assert any(
                        np.ptp(faulty[n][episode]) == 0 and np.ptp(clean[n][episode]) > 0
                        for n in SIGNALS
                    )
                elif FAULTS[kind] == "rotor_imbalance":
                    spinning = clean["rotor_rpm"][episode] > 5
                    assert (
                        faulty["vibration_x_mms"][episode][spinning]
                        >= clean["vibration_x_mms"][episode][spinning]
                    ).all()
    assert seen == set(FAULTS[1:])
