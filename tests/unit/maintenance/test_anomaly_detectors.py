"""Detector behaviour on synthetic series: noise, step, drift, spike, causality, missing values."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

from maintenance.anomaly.detectors import (
    DEFAULT_CONFIG,
    THRESHOLD,
    DetectorConfig,
    context_novelty,
    familiar,
    precedented,
    record_novelty,
    score_series,
    season_period_rows,
)

ROWS = 4000
ONSET = 2000  # every injected anomaly starts here, after the 1500-row baseline fills


def _timestamps(n: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64("2024-01-01T00:00:00", "s") + np.arange(n) * np.timedelta64(60, "s")


def _noise(seed: int, n: int = ROWS) -> npt.NDArray[np.float64]:
    return 90.0 + np.random.default_rng(seed).normal(0.0, 1.0, n)  # coolant_c, sigma 1 degC


def _alarms(
    values: npt.NDArray[np.float64], config: DetectorConfig = DEFAULT_CONFIG
) -> npt.NDArray[np.intp]:
    return np.flatnonzero(
        score_series(_timestamps(len(values)), values, config=config) >= THRESHOLD
    )


# Tests of another layer that repeat one spike height turn the precedent rule off: it would
# damp the repeat before that layer is reached (see the precedent tests).
NO_PRECEDENT = replace(DEFAULT_CONFIG, precedent_rows=0)


@pytest.mark.parametrize("seed", range(5))
def test_noise_only_raises_no_alarm(seed: int) -> None:
    # Zero alarms on 4,000 rows of white noise, for each of five seeds: the stated false rate is 0.
    assert _alarms(_noise(seed)).size == 0


@pytest.mark.parametrize("seed", range(3))
def test_heavy_tailed_noise_alarms_at_most_once_per_thousand_rows(seed: int) -> None:
    # Student t with 3 degrees of freedom: a 12-sigma-of-the-core reading every few thousand rows
    # is part of the noise, yet also what a spike looks like; the stated rate is <= 1 per 1,000.
    rng = np.random.default_rng(seed)
    values = 50.0 + rng.standard_t(3, ROWS)
    assert _alarms(values).size <= ROWS // 1000


@pytest.mark.parametrize(("seed", "step_sigma"), [(0, 5.0), (1, -5.0), (2, 8.0)])
def test_step_change_is_flagged_within_six_rows(seed: int, step_sigma: float) -> None:
    values = _noise(seed)
    values[ONSET:] += step_sigma
    alarms = _alarms(values)
    assert alarms.size > 0
    assert ONSET <= alarms[0] < ONSET + 6


@pytest.mark.parametrize("seed", range(3))
def test_slow_drift_is_flagged_before_three_sigma(seed: int) -> None:
    values = _noise(seed)
    ramp_sigma_per_row = 0.01  # a sagging oil pressure: 3 sigma only after 300 rows
    values[ONSET:] += ramp_sigma_per_row * np.arange(ROWS - ONSET)
    alarms = _alarms(values)
    assert alarms.size > 0
    assert ONSET <= alarms[0] < ONSET + 3.0 / ramp_sigma_per_row


@pytest.mark.parametrize(("seed", "spike_sigma"), [(0, 12.0), (1, -12.0), (2, 30.0)])
def test_single_spike_is_flagged_on_its_row(seed: int, spike_sigma: float) -> None:
    values = _noise(seed)
    values[ONSET] += spike_sigma
    assert _alarms(values).tolist() == [ONSET]


def test_repeated_spikes_alarm_once_per_refractory_period() -> None:
    values = _noise(0)
    values[[ONSET, ONSET + 20, ONSET + DEFAULT_CONFIG.refractory_rows + 50]] += 15.0
    assert _alarms(values, NO_PRECEDENT).tolist() == [
        ONSET,
        ONSET + DEFAULT_CONFIG.refractory_rows + 50,
    ]


def _eventful(seed: int) -> npt.NDArray[np.float64]:
    values = _noise(seed)
    values[1500] += 20.0
    values[ONSET:] += 4.0
    values[3000:] += 0.02 * np.arange(ROWS - 3000)
    values[np.random.default_rng(seed).choice(ROWS, 150, replace=False)] = np.nan
    return values


@pytest.mark.parametrize("cut", [0, 10, 47, 48, 60, 999, 1000, 1001, 1500, 2003, 3333, ROWS - 1])
def test_scores_are_causal(cut: int) -> None:
    values = _eventful(7)
    ts = _timestamps(ROWS)
    full = score_series(ts, values)
    prefix = score_series(ts[: cut + 1], values[: cut + 1])
    np.testing.assert_array_equal(prefix, full[: cut + 1])


def test_scores_are_in_unit_interval_with_one_per_row() -> None:
    values = _eventful(3)
    scores = score_series(_timestamps(ROWS), values)
    assert scores.shape == values.shape
    assert scores.dtype == np.float64
    assert np.all((scores >= 0.0) & (scores <= 1.0))


def test_missing_values_score_zero_and_leave_the_rest_working() -> None:
    values = _noise(4)
    values[ONSET:] += 6.0
    missing = np.random.default_rng(4).choice(ROWS, 200, replace=False)
    values[missing] = np.nan
    values[ONSET - 3 : ONSET + 3] = np.nan  # the step's first rows are lost
    scores = score_series(_timestamps(ROWS), values)
    assert not np.isnan(scores).any()
    assert np.all(scores[np.isnan(values)] == 0.0)
    alarms = np.flatnonzero(scores >= THRESHOLD)
    assert alarms.size > 0
    assert ONSET + 3 <= alarms[0] < ONSET + 12


def test_warm_up_rows_score_zero() -> None:
    values = _noise(5)
    values[10] += 50.0
    scores = score_series(_timestamps(ROWS), values)
    assert np.all(scores[: DEFAULT_CONFIG.warmup_rows] == 0.0)


@pytest.mark.parametrize("values", [[], [1.0], [np.nan] * 100, [5.0] * 100])
def test_short_empty_or_flat_series_score_zero(values: list[float]) -> None:
    array = np.asarray(values, dtype=np.float64)
    assert np.all(score_series(_timestamps(len(array)), array) == 0.0)


def test_a_change_on_a_flat_series_is_flagged() -> None:
    values = np.full(ROWS, 42.0)
    values[ONSET] = 42.5
    assert _alarms(values).tolist() == [ONSET]


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        score_series(_timestamps(3), np.zeros(4))


# Seasonal channel: 5-minute rows make a day 288 rows, so three past cycles (864 rows) exist well
# before ONSET and the seasonal residual is live (1-minute rows above leave it idle).
FIVE_MIN = np.timedelta64(300, "s")
DAY_ROWS = 288


def _ts_5min(n: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64("2024-01-01T00:00:00", "s") + np.arange(n) * FIVE_MIN


def _daily_cycle(seed: int, n: int = ROWS, amplitude: float = 5.0) -> npt.NDArray[np.float64]:
    phase = 2.0 * np.pi * np.arange(n) / DAY_ROWS
    return _noise(seed, n) + amplitude * np.sin(phase)


def _alarms_5min(
    values: npt.NDArray[np.float64], config: DetectorConfig = DEFAULT_CONFIG
) -> npt.NDArray[np.intp]:
    return np.flatnonzero(score_series(_ts_5min(len(values)), values, config=config) >= THRESHOLD)


def test_season_period_is_one_day_of_rows_at_the_series_spacing() -> None:
    assert season_period_rows(_ts_5min(ROWS)) == DAY_ROWS
    assert season_period_rows(_timestamps(ROWS)) == 1440
    assert season_period_rows(_ts_5min(10)) == 0  # not even a warm-up: no period yet


@pytest.mark.parametrize("seed", range(3))
def test_noise_only_on_five_minute_rows_raises_no_alarm(seed: int) -> None:
    assert _alarms_5min(_noise(seed)).size == 0


@pytest.mark.parametrize("seed", range(3))
def test_seasonal_cycle_alone_raises_no_alarm(seed: int) -> None:
    # A 10-sigma peak-to-peak daily swing is the series' normal shape, not an anomaly, once the
    # baseline has seen one whole cycle (the first rising edge is new to it, as NAB's probation
    # period allows).
    assert (_alarms_5min(_daily_cycle(seed)) >= DAY_ROWS).sum() == 0


@pytest.mark.parametrize("seed", range(3))
def test_broken_seasonal_cycle_is_flagged(seed: int) -> None:
    # The daily peak fails to come: values stay at the daily mean, well inside the overall range
    # (the plain spike and level statistics see nothing unusual), but far below the same hour of
    # the previous days.
    values = _daily_cycle(seed)
    peak = ONSET - ONSET % DAY_ROWS + DAY_ROWS // 4 - 36  # 3 hours before a daily maximum
    values[peak : peak + 72] = _noise(seed + 100, 72)
    plain = score_series(_ts_5min(ROWS), values, config=replace(DEFAULT_CONFIG, season_weight=0.0))
    assert not (plain[peak : peak + 72] >= THRESHOLD).any()
    alarms = _alarms_5min(values)
    alarms = alarms[alarms >= DAY_ROWS]
    assert alarms.size > 0
    assert peak <= alarms[0] < peak + 72


@pytest.mark.parametrize("cut", [0, 863, 864, 900, 911, 1500, 2003, 3333, ROWS - 1])
def test_scores_are_causal_with_the_seasonal_channel_live(cut: int) -> None:
    values = _daily_cycle(5)
    values[2500:2560] -= 8.0
    values[3000] += 30.0
    ts = _ts_5min(ROWS)
    full = score_series(ts, values)
    prefix = score_series(ts[: cut + 1], values[: cut + 1])
    np.testing.assert_array_equal(prefix, full[: cut + 1])


@pytest.mark.parametrize("seed", range(3))
def test_two_level_duty_cycle_raises_no_drift_alarm(seed: int) -> None:
    # High for 60 of every 200 rows: the baseline median sits on the low level, so a CUSUM about
    # the median would climb through every high phase; about the trimmed mean it stays put.
    values = _noise(seed) + 10.0 * ((np.arange(ROWS) % 200) < 60)
    alarms = _alarms(values)
    assert alarms[alarms >= DEFAULT_CONFIG.baseline_rows].size == 0


@pytest.mark.parametrize("seed", range(3))
def test_random_walk_wander_is_not_reported(seed: int) -> None:
    # A wandering signal keeps its level and drift statistics hot all the time; judged against
    # their own typical surprise, the wander is its normal (the plain statistics alone alarmed
    # 7 to 12 times on these walks).
    walk = 50.0 + np.cumsum(np.random.default_rng(seed).normal(0.0, 1.0, ROWS))
    alarms = _alarms(walk)
    assert alarms[alarms >= DEFAULT_CONFIG.baseline_rows].size <= 1


def test_a_jump_the_series_never_made_is_a_new_context() -> None:
    # A sine passes from band to adjacent band only; a trough that jumps straight to the top
    # band and back is a (bottom, top) and a (top, bottom) transition seen for the first time.
    rows = np.arange(ROWS)
    values = 10.0 * np.sin(2.0 * np.pi * rows / 200.0)
    trough = 3150  # 3150 % 200 == 150: sin = -1
    values[trough] = 9.5
    novel = context_novelty(values, levels=4, kappa=0.1, warmup_rows=DEFAULT_CONFIG.warmup_rows)
    assert np.flatnonzero(novel[400:]).tolist() == [trough - 400, trough + 1 - 400]


def _ar1(seed: int, n: int = ROWS) -> npt.NDArray[np.float64]:
    # A persistent signal (each row 0.98 of the last plus noise; stationary sigma 1).
    noise = np.random.default_rng(seed).normal(0.0, 0.2, n)
    values = np.empty(n)
    values[0] = 0.0
    for t in range(1, n):
        values[t] = 0.98 * values[t - 1] + noise[t]
    return 50.0 + values


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_moderate_spike_alarms_when_it_lands_in_a_new_context(seed: int) -> None:
    # Two +7 (7 sigma) spikes on a slowly wandering signal, short of an alarm on their own
    # (surprise ~5 of 20). The first lifts the top band by one (an adjacent move: no new
    # context) and so widens the range; the second jumps over a band the wander never skipped:
    # a new context, whose surprise counts five-fold.
    values = _ar1(seed)
    values[3000] += 7.0
    values[3500] += 7.0
    plain = score_series(_timestamps(ROWS), values, config=replace(NO_PRECEDENT, context_levels=0))
    alarms = _alarms(values, NO_PRECEDENT)
    assert not (plain[2900:] >= THRESHOLD).any()
    assert alarms[alarms >= 2900].tolist() == [3500]


@pytest.mark.parametrize("seed", range(3))
def test_white_noise_has_no_new_context_after_the_warm_up(seed: int) -> None:
    # On white noise a band says nothing about the next one (kappa ~ 0): a first transition is
    # chance, not context. (Kappa's chance excursions past 0.1 do happen: 5 of 200 seeds flag a
    # row past this point, which then still needs a surprise of 4 to alarm; none did.)
    novel = context_novelty(
        _noise(seed), levels=4, kappa=0.1, warmup_rows=DEFAULT_CONFIG.warmup_rows
    )
    assert not novel[DEFAULT_CONFIG.warmup_rows * 4 :].any()


def test_a_breakout_that_holds_beyond_the_range_is_a_new_context_even_on_noise() -> None:
    # kappa 2 is out of reach, so only the exemption can flag: two rows in a row above anything
    # seen (the series opens with a falling ramp, so its early records all lie below).
    values = _noise(0)
    values[:60] = np.linspace(100.0, 90.0, 60)
    top = values[:3000].max()
    values[3000], values[3001] = top + 1.0, top + 2.0
    novel = context_novelty(values, levels=4, kappa=2.0, warmup_rows=DEFAULT_CONFIG.warmup_rows)
    assert novel[3001]
    assert not novel[3002:].any()


def _record_novelty(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    c = DEFAULT_CONFIG
    return record_novelty(
        values,
        levels=c.context_levels,
        kappa=c.context_kappa,
        margin=c.record_margin,
        warmup_rows=max(c.warmup_rows, c.record_rows),
    )


@pytest.mark.parametrize("seed", range(3))
def test_a_moderate_record_on_noise_is_a_new_context_and_alarms(seed: int) -> None:
    # On white noise the bands do not persist, so the transition rule is silent; a reading a third
    # of the range past every earlier one (~6 sigma: surprise ~9 of 20, short of an alarm alone)
    # is a record the series has never come near: a new context, whose surprise counts five-fold.
    values = _noise(seed)
    past = values[:3000]
    values[3000] = past.max() + 0.35 * (past.max() - past.min())
    plain = score_series(
        _timestamps(ROWS), values, config=replace(DEFAULT_CONFIG, record_margin=0.0)
    )
    assert not (plain[2900:] >= THRESHOLD).any()
    assert np.flatnonzero(_record_novelty(values)).tolist() == [3000]
    alarms = _alarms(values)
    assert alarms[alarms >= 2900].tolist() == [3000]


@pytest.mark.parametrize("seed", range(5))
def test_white_noise_sets_no_record_by_a_quarter_of_its_range(seed: int) -> None:
    # After the first 1,000 rows the range of Gaussian noise spans ~6.5 sigma: topping it by a
    # quarter of that is a > 5-sigma reading, which 4,000 rows of noise do not produce.
    assert not _record_novelty(_noise(seed)).any()


def test_a_record_on_a_persistent_series_is_left_to_the_band_transitions() -> None:
    # A slowly wandering signal's bands persist (kappa >= 0.1): its records are judged by the
    # transition rule (test_a_moderate_spike_alarms_when_it_lands_in_a_new_context), not here.
    values = _ar1(1)
    values[3000] += 7.0
    assert not _record_novelty(values).any()


def test_familiar_means_at_least_count_earlier_rows_on_each_side() -> None:
    values = np.array([5.0, 1.0, 3.0, 9.0, 2.0, 4.0, 3.0, 10.0, 0.0, 9.0])
    # Row 5 (4.0): earlier >= 4 are 5, 9 (two) and <= 4 are 1, 3, 2 (three): familiar at count 2.
    # Row 6 (3.0): 5, 9, 4 above and 1, 3, 2 below. Row 7 (10.0) tops everything; row 8 (0.0)
    # undercuts everything; row 9 (9.0): >= 9 are 9 and 10 (two), <= 9 are eight.
    assert np.flatnonzero(familiar(values, count=2)).tolist() == [5, 6, 9]
    assert not familiar(values, count=5).any()  # needs more than 10 rows
    prefix = familiar(values[:7], count=2)
    assert (prefix == familiar(values, count=2)[:7]).all()  # causal


def _bursts_then_quiet(seed: int) -> npt.NDArray[np.float64]:
    # A bursty series: 300 readings at +12 sigma early on (a load that comes and goes), then more
    # than a baseline's worth of quiet rows, so the rolling baseline no longer holds any of them.
    values = _noise(seed)
    values[np.arange(100, 1300, 4)] += 12.0
    return values


@pytest.mark.parametrize("seed", range(3))
def test_a_peak_the_series_has_reached_many_times_is_not_news(seed: int) -> None:
    values = _bursts_then_quiet(seed)
    # +11 sigma: surprise ~28 against the quiet baseline, an alarm on its own; ~230 of the bursts
    # reached it.
    values[3000] += 11.0
    forgetful = score_series(
        _timestamps(ROWS), values, config=replace(NO_PRECEDENT, familiar_rows=0)
    )
    assert (forgetful[2900:] >= THRESHOLD).tolist().count(True) == 1
    alarms = _alarms(values)
    assert not (alarms >= 2900).any()


@pytest.mark.parametrize("seed", range(3))
def test_a_peak_beyond_the_familiar_ones_still_alarms(seed: int) -> None:
    values = _bursts_then_quiet(seed)
    values[3000] += 20.0  # higher than any of the bursts: fewer than 100 rows ever reached it
    alarms = _alarms(values)
    assert alarms[alarms >= 2900].tolist() == [3000]


def _daily_spikes(seed: int, days: int = 14) -> tuple[npt.NDArray[np.float64], list[int]]:
    # A scheduled job: a +15 sigma spike at about 08:20 every day, its time jittering by up to
    # +-50 minutes (10 rows), as cron jobs on a busy server do.
    rng = np.random.default_rng(seed)
    values = _noise(seed, days * DAY_ROWS)
    spikes = [day * DAY_ROWS + 100 + int(rng.integers(-10, 11)) for day in range(days)]
    values[spikes] += 15.0
    return values, spikes


@pytest.mark.parametrize("seed", range(3))
def test_a_spike_at_the_same_time_every_day_stops_alarming_after_three_days(seed: int) -> None:
    values, spikes = _daily_spikes(seed)
    every_day = score_series(
        _ts_5min(len(values)), values, config=replace(NO_PRECEDENT, recurring_cycles=0)
    )
    late = spikes[3:]  # each has a spike on each of the three days before it
    assert (every_day[late] >= THRESHOLD).sum() >= len(late) - 1
    alarms = _alarms_5min(values)
    assert not np.isin(alarms, late).any()
    assert alarms[alarms >= late[0] - 20].size == 0


@pytest.mark.parametrize("seed", range(3))
def test_a_spike_off_schedule_bigger_or_after_a_skipped_day_still_alarms(seed: int) -> None:
    values, spikes = _daily_spikes(seed)
    off_schedule = spikes[6] + DAY_ROWS // 2  # the same height, twelve hours later
    values[off_schedule] += 15.0
    values[spikes[9]] += 30.0  # on schedule, three times the usual height
    values[spikes[11]] -= 15.0  # the job did not run on day 11 ...
    alarms = _alarms_5min(values, NO_PRECEDENT)
    assert off_schedule in alarms
    assert spikes[9] in alarms
    assert spikes[12] in alarms  # ... so day 12's spike has no like a day before it


def test_precedented_means_as_extreme_on_the_same_side_within_the_window() -> None:
    nan = np.nan
    z = np.array([nan, 5.0, -3.0, 1.0, 0.5, 4.0, 6.0, -2.0, -4.0, 5.0, 2.0])
    got = precedented(z, window_rows=3, min_rows=2, stride_rows=1)
    # From row 3 (two finite z before it). Row 3: 1.0 <= 5.0. Row 4: 0.5 <= max(5, -3, 1).
    # Row 5: 4.0 > max(-3, 1, 0.5). Row 6: 6.0 > 4.0. Row 7: -2 >= min(0.5, 4, 6)? No: nothing
    # below 0 in its window. Row 8: -4 < -2. Row 9: 5.0 <= 6.0. Row 10: 2.0 <= 5.0.
    assert np.flatnonzero(got).tolist() == [3, 4, 9, 10]
    # Causal: a prefix gives the same answer for its rows.
    assert (precedented(z[:8], window_rows=3, min_rows=2, stride_rows=1) == got[:8]).all()
    # Refreshed every 4 rows, from the first anchor with two finite z before it (row 4): rows
    # 4-7 see rows 1-3 (5, -3, 1), so row 6 (6.0) is new but row 7 (-2.0) is not; rows 8-10
    # see rows 5-7 (4, 6, -2).
    strided = precedented(z, window_rows=3, min_rows=2, stride_rows=4)
    assert np.flatnonzero(strided).tolist() == [4, 5, 7, 9, 10]
    assert not precedented(z, window_rows=3, min_rows=20, stride_rows=1).any()


def test_precedented_over_many_blocks_matches_a_plain_loop() -> None:
    # 40,000 rows: the windows are materialised in several blocks; each block must line up.
    rng = np.random.default_rng(5)
    z = rng.standard_t(3, 40_000)
    z[:48] = np.nan
    window, stride, least = 4000, 12, 2000
    got = precedented(z, window_rows=window, min_rows=least, stride_rows=stride)
    want = np.zeros(len(z), dtype=np.bool_)
    for anchor in range(stride, len(z), stride):
        past = z[max(0, anchor - window) : anchor]
        past = past[np.isfinite(past)]
        if len(past) < least:
            continue
        here = z[anchor : anchor + stride]
        want[anchor : anchor + stride] = ((here > 0) & (here <= past.max())) | (
            (here < 0) & (here >= past.min())
        )
    assert got.sum() > 30_000  # most rows of a t(3) series have a precedent
    np.testing.assert_array_equal(got, want)


def _spikes_on_noise(
    seed: int, heights: dict[int, float], rows: int = ROWS
) -> npt.NDArray[np.float64]:
    values = _noise(seed, rows)
    for row, height in heights.items():
        values[row] += height
    return values


@pytest.mark.parametrize("seed", range(3))
def test_a_spike_no_higher_than_a_recent_one_is_not_news(seed: int) -> None:
    # +15 sigma at 2,500 (2,000 rows of history by then, nothing like it: an alarm), then +11
    # sigma at 3,000: an alarm on its own (surprise ~27), but the series did more 500 rows ago.
    values = _spikes_on_noise(seed, {2500: 15.0, 3000: 11.0})
    assert _alarms(values, NO_PRECEDENT).tolist() == [2500, 3000]
    assert _alarms(values).tolist() == [2500]


@pytest.mark.parametrize("seed", range(3))
def test_a_spike_beyond_recent_ones_or_after_they_left_the_window_still_alarms(seed: int) -> None:
    # Downward at 3,000 has no precedent below the baseline; +20 at 3,500 tops the +15; +15 at
    # 8,000 comes after every earlier spike has left the 4,000-row window.
    values = _spikes_on_noise(seed, {2500: 15.0, 3000: -12.0, 3500: 20.0, 8000: 15.0}, rows=9000)
    assert _alarms(values).tolist() == [2500, 3000, 3500, 8000]


def test_the_first_spikes_are_judged_alone_until_there_is_history_enough() -> None:
    # Before 2,000 rows of z exist a window holds too few of a series' extremes to say what is
    # routine: a repeat still alarms.
    values = _spikes_on_noise(0, {1000: 15.0, 1500: 11.0})
    assert _alarms(values).tolist() == [1000, 1500]
