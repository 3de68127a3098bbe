"""The simulated calibration case: its seeded draws, its scene and U_req = Q L / IME."""

import numpy as np
import pytest

from eoforge.core.errors import InputError
from eoforge.methane.calibration.cases import (
    check_rate_range,
    required_wind,
    simulate_plume_case,
)
from eoforge.methane.scenes import simulate_plume_pair


def test_the_case_draws_rate_wind_and_direction_in_order_from_its_stream():
    case = simulate_plume_case(5, 99, (64, 64), ("desert", "urban"), (100.0, 1000.0), (2.0, 4.0),
                               random_direction=True)  # fmt: skip
    rng = np.random.default_rng([5, 99])  # written out again: log-uniform Q, uniform U10, angle
    rate = float(np.exp(rng.uniform(np.log(100.0), np.log(1000.0))))
    wind = float(rng.uniform(2.0, 4.0))
    direction = float(rng.uniform(0.0, 360.0))
    assert (case.rate_kg_h, case.wind_speed, case.surface) == (rate, wind, "urban")
    pair, column, truth, _ = simulate_plume_pair(
        (64, 64), "urban", 5, emission_rate_kg_h=rate, wind_speed=wind, wind_direction=direction
    )
    np.testing.assert_array_equal(case.pair.target["B12"], pair.target["B12"])
    np.testing.assert_array_equal(case.true_column, column)
    assert case.truth.dtype == bool and (case.truth == truth).all()


def test_required_wind_is_q_l_over_ime():
    # 3600 kg/h = 1 kg/s over L = 500 m with IME = 250 kg needs U = 2 m/s
    assert required_wind(3600.0, 500.0, 250.0) == pytest.approx(2.0)
    assert np.isnan(required_wind(3600.0, 500.0, 0.0))


@pytest.mark.parametrize("bad", [(0.0, 10.0), (10.0, 5.0), (-1.0, 2.0)])
def test_a_bad_rate_range_names_the_option(bad):
    with pytest.raises(InputError, match="rate_range"):
        check_rate_range(bad)
