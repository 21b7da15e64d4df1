"""Customer value: the (M)BG/NBD and Gamma-Gamma maths, the time split, the cold start, and
agreement with the demo business's planted purchase process."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from flywheel_pipeline import tables
from flywheel_pipeline.insights.customer_summaries import summaries
from flywheel_pipeline.insights.customer_value import (
    BGNBD,
    GammaGamma,
    RateRule,
    fit_sample,
    frame_summaries,
    naive_orders,
    person_orders,
    summarise,
    value_customers,
    value_summaries,
)
from flywheel_pipeline.sources.demo import DemoConfig, simulate
from tests.scoring_support import assert_the_baseline_serves
from tests.support import warehouse_of

END = pd.Timestamp("2026-06-30 18:00")
PLANTED = {"r": 0.9, "alpha": 45.0, "a": 1.4, "b": 4.0}


def make_customers(n=2500, seed=0, days=400, r=0.9, alpha=45.0, a=1.4, b=4.0):
    """Customers from the MBG/NBD story: first purchase at a uniform age, then Poisson
    purchases at rate λ ~ Gamma(r, α) while alive; after every purchase (the first too)
    they drop out for good with probability p ~ Beta(a, b). Spend per order ~ Gamma around
    a customer mean. Returns the orders and the truth (alive at END, expected orders in the
    next 90 days, mean spend)."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(0, days, n)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    mean_spend = rng.gamma(3.0, 20.0, n)
    ids = np.array([f"C{i:05d}" for i in range(n)])
    who, when = [np.arange(n)], [np.zeros(n)]
    clock, alive = np.zeros(n), rng.random(n) >= p
    active = alive.copy()
    while active.any():
        clock = clock + rng.exponential(1 / lam)
        buy = active & (clock <= age)
        who.append(np.flatnonzero(buy))
        when.append(clock[buy])
        drop = rng.random(n) < p
        alive = np.where(buy, ~drop, alive)
        active = buy & ~drop
    who, when = np.concatenate(who), np.concatenate(when)
    orders = pd.DataFrame(
        {
            "contact_id": ids[who],
            "ordered_at": END - pd.to_timedelta(age[who] - when, unit="D"),
            "revenue": np.round(rng.gamma(6.0, mean_spend[who] / 6.0), 2),
        }
    ).sort_values("ordered_at", ignore_index=True)
    truth = pd.DataFrame(
        {
            "contact_id": ids,
            "alive": alive,
            "expected_90d": np.where(alive, -np.expm1(-lam * p * 90) / p, 0.0),
            "mean_spend": mean_spend,
        }
    )
    return orders, truth


@pytest.fixture(scope="module")
def shop():
    return make_customers()


@pytest.fixture(scope="module")
def valued(shop):
    orders, _ = shop
    return value_customers(orders)


def _simulate_repeats(model: BGNBD, t: float, n: int, seed: int) -> float:
    """Monte Carlo E[repeat purchases in (0, t]] of a customer who just made a first one."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(model.r, 1 / model.alpha, n)
    p = rng.beta(model.a, model.b, n)
    active = rng.random(n) >= p if model.variant == "mbgnbd" else np.ones(n, bool)
    clock, count = np.zeros(n), np.zeros(n)
    while active.any():
        clock = clock + rng.exponential(1 / lam)
        buy = active & (clock <= t)
        count += buy
        active = buy & (rng.random(n) >= p)
    return float(count.mean())


@pytest.mark.parametrize("variant, a", [("mbgnbd", 0.7), ("mbgnbd", 1.5), ("bgnbd", 2.0)])
def test_expected_purchases_match_the_process(variant, a):
    """The closed form (Gauss hypergeometric) against simulation, also for a < 1."""
    model = BGNBD(r=1.2, alpha=60.0, a=a, b=3.0, variant=variant)
    closed_form = model.expected_purchases(90.0, [0], [0], [0])[0]
    simulated = _simulate_repeats(model, 90.0, 100_000, seed=1)
    assert closed_form == pytest.approx(simulated, rel=0.03)


def test_maximum_likelihood_recovers_the_planted_process(shop):
    orders, _ = shop
    summary = summarise(person_orders(orders), END.date())
    fitted = BGNBD.fit(summary["x"], summary["t_x"], summary["T"])
    print(f"fitted {fitted}, planted {PLANTED}")
    assert fitted.r == pytest.approx(PLANTED["r"], rel=0.25)
    assert fitted.alpha == pytest.approx(PLANTED["alpha"], rel=0.3)
    assert fitted.a / (fitted.a + fitted.b) == pytest.approx(1.4 / 5.4, rel=0.2)  # mean p


def test_p_alive_behaves():
    mbg = BGNBD(r=1.0, alpha=50.0, a=1.5, b=4.0, variant="mbgnbd")
    bg = BGNBD(r=1.0, alpha=50.0, a=1.5, b=4.0, variant="bgnbd")
    # plain BG/NBD deems every one-time buyer alive; the modified model does not
    assert bg.p_alive([0], [0], [200])[0] == 1.0
    assert mbg.p_alive([0], [0], [200])[0] < 0.6
    # the longer the silence since the last purchase, the likelier the customer is gone
    silences = mbg.p_alive([3, 3, 3], [200, 100, 10], [200, 200, 200])
    assert silences[0] > silences[1] > silences[2]
    # and an alive-looking frequent buyer is expected to buy more
    expected = mbg.expected_purchases(90, [8, 1], [190, 190], [200, 200])
    assert expected[0] > expected[1] > 0


def test_gamma_gamma_shrinks_towards_the_population_mean():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 12, 800)
    m = rng.gamma(4.0, 25.0, 800)
    spend = GammaGamma.fit(x, m)
    assert spend.q > 1
    expected = spend.expected_spend(np.array([1, 10, 0]), np.array([300.0, 300.0, np.nan]))
    assert expected[2] == pytest.approx(spend.mean)  # no repeat: the population mean
    # more repeats at the same mean, more trust in the customer's own mean
    assert spend.mean < expected[0] < expected[1] < 300.0


def test_beats_the_naive_rate_on_the_holdout(shop, valued):
    orders, truth = shop
    m = valued.model_runs.set_index("metric")
    print(
        ", ".join(
            f"{name} {m.loc[name, 'value']:.3f} (naive {m.loc[name, 'baseline_value']:.3f})"
            for name in ("correlation", "rmse", "auc", "revenue_correlation")
        )
    )
    assert valued.method == "mbgnbd_gamma_gamma" and m.loc["cold_start", "value"] == 0
    assert m.loc["correlation", "value"] > m.loc["correlation", "baseline_value"] + 0.05
    assert m.loc["rmse", "value"] < 0.8 * m.loc["rmse", "baseline_value"]
    assert m.loc["auc", "value"] > m.loc["auc", "baseline_value"]
    assert m.loc["revenue_correlation", "value"] > m.loc["revenue_correlation", "baseline_value"]
    # in aggregate the holdout forecast is about right
    assert valued.details["predicted_holdout_purchases"] == pytest.approx(
        valued.details["holdout_purchases"], rel=0.15
    )
    # every customer once, dated by the data, against the planted truth
    values = valued.customer_value
    assert values["contact_id"].is_unique and set(values["contact_id"]) == set(orders["contact_id"])
    assert (values["data_through"] == END.date()).all()
    assert values["p_alive"].between(0, 1).all() and (values["predicted_clv_365d"] >= 0).all()
    joined = truth.merge(values, on="contact_id")
    assert np.corrcoef(joined["predicted_orders_90d"], joined["expected_90d"])[0, 1] > 0.6
    assert roc_auc_score(joined["alive"], joined["p_alive"]) > 0.7
    assert abs(joined["p_alive"].mean() - joined["alive"].mean()) < 0.06
    per_order = joined["predicted_clv_365d"] / joined["predicted_orders_90d"]
    assert np.corrcoef(per_order, joined["mean_spend"])[0, 1] > 0.5


def test_the_model_serves_when_it_beats_the_naive_rate(valued):
    assert valued.serving.served_by == "model"
    assert (valued.model_runs["served_by"] == "model").all()
    assert valued.model_runs["serving_reason"].str.startswith("holdout correlation: ").all()


def make_returners(n=400, seed=9, days=400):
    """Customers who buy in a burst early on, fall silent for most of a year, and come back
    in the last 90 days buying as often as in their burst: here silence is no sign of
    churn, so the buy-till-you-die model writes off exactly the customers who return."""
    rng = np.random.default_rng(seed)
    start = END - pd.Timedelta(days=days)
    rows = []
    for i, burst in enumerate(rng.integers(0, 8, n)):
        first = start + pd.Timedelta(days=float(rng.uniform(0, 30)))
        rows.append((i, first))
        rows += [(i, first + pd.Timedelta(days=float(rng.uniform(1, 60)))) for _ in range(burst)]
        rows += [(i, END - pd.Timedelta(days=float(rng.uniform(0, 85)))) for _ in range(burst)]
    orders = pd.DataFrame(rows, columns=["k", "ordered_at"])
    orders["contact_id"] = "R" + orders["k"].astype(str).str.zfill(4)
    orders["revenue"] = np.round(rng.gamma(4.0, 20.0, len(orders)), 2)
    return orders.drop(columns="k")


def test_the_naive_rate_serves_when_the_model_loses():
    orders = make_returners()
    res = value_customers(orders)
    assert_the_baseline_serves(res, "correlation", "naive_rate")
    # published: the naive rate over all the data, its CLV and the rule's P(alive)
    summary = summarise(person_orders(orders), res.data_through)
    values = res.customer_value.set_index("contact_id").loc[summary.index]
    np.testing.assert_allclose(values["predicted_orders_90d"], naive_orders(summary, 90))
    mean_order = summary["revenue"] / summary["orders"]
    np.testing.assert_allclose(
        values["predicted_clv_365d"], naive_orders(summary, 365) * mean_order
    )
    np.testing.assert_allclose(values["p_alive"], RateRule.fit(summary).p_alive(summary))


def test_the_holdout_never_reaches_the_calibration_fit(shop, valued):
    """The calibration-period model and its holdout predictions do not move when the
    holdout's orders change (data_through kept: one order on the last day stays)."""
    orders, _ = shop
    cal_end = END.normalize() - pd.Timedelta(days=89)  # first day of the holdout
    in_holdout = orders["ordered_at"] >= cal_end
    last = orders.index[-1]
    thinned = orders[~in_holdout | (orders.index % 3 == 0) | (orders.index == last)]
    doubled = pd.concat([orders, orders[in_holdout]], ignore_index=True)
    runs = {}
    for name, changed in (("thinned", thinned), ("doubled", doubled)):
        res = value_customers(changed)
        assert res.data_through == valued.data_through
        assert res.details["calibration_params"] == valued.details["calibration_params"]
        np.testing.assert_array_equal(
            res.details["holdout_predictions"], valued.details["holdout_predictions"]
        )
        runs[name] = res.model_runs.set_index("metric")
    # the holdout metrics do read the holdout (a second order on the same day is no new
    # purchase day, so doubling moves nothing there)
    rmse = valued.model_runs.set_index("metric").loc["rmse", "value"]
    assert runs["thinned"].loc["rmse", "value"] != rmse
    assert runs["doubled"].loc["rmse", "value"] == rmse


def test_replay_ignores_orders_after_data_through(shop):
    orders, _ = shop
    cut = (END - pd.Timedelta(days=60)).date()
    full = value_customers(orders, data_through=cut)
    visible = value_customers(
        orders[orders["ordered_at"] < pd.Timestamp(cut) + pd.Timedelta(days=1)]
    )
    assert full.data_through == visible.data_through == cut
    pd.testing.assert_frame_equal(full.customer_value, visible.customer_value)
    pd.testing.assert_frame_equal(full.model_runs, visible.model_runs)


def test_customers_are_persons_and_a_day_is_one_purchase():
    orders = pd.DataFrame(
        {
            "contact_id": ["a1", "a2", "a2", "b1", None],
            "ordered_at": pd.to_datetime(
                [
                    "2026-01-05 10:00",
                    "2026-01-05 18:00",
                    "2026-03-01 09:00",
                    "2026-02-01 12:00",
                    "2026-03-01 12:00",
                ]
            ),
            "revenue": [10.0, 5.0, 20.0, 7.0, 99.0],
        }
    )
    persons = pd.DataFrame({"contact_id": ["a1", "a2"], "person_id": ["a1", "a1"]})
    history = person_orders(orders, persons)
    summary = summarise(history, dt.date(2026, 3, 31))
    assert list(summary.index) == ["a1", "b1"]  # a2 folds into a1; an unknown contact is its own
    a1 = summary.loc["a1"]
    assert (a1["x"], a1["t_x"], a1["T"], a1["orders"]) == (1, 55, 85, 3)
    assert a1["spend"] == 20.0  # the repeat day's revenue; the first day (15) is left out
    assert naive_orders(summary, 90)[0] == pytest.approx(90 / 85)
    res = value_customers(orders, persons)
    assert sorted(res.customer_value["contact_id"]) == ["a1", "b1"]


@pytest.mark.parametrize("data_through", [None, dt.date(2026, 5, 1)])
def test_the_warehouse_summarises_the_customers_as_the_frames_do(shop, data_through):
    """The asset's summaries (customer_summaries: persons from the identity spine, orders
    without a contact, a revenue or a time, a second order on a day) equal the frames',
    and so does everything value_customers makes of them."""
    orders = shop[0].sample(3000, random_state=1, ignore_index=True)
    orders.loc[:4, "contact_id"] = None
    orders.loc[5:9, "revenue"] = np.nan
    orders.loc[10:12, "ordered_at"] = pd.NaT
    orders = pd.concat([orders, orders.iloc[20:40]], ignore_index=True)  # same day again
    ids = orders["contact_id"].dropna().unique()
    persons = pd.DataFrame({"contact_id": ids[:40], "person_id": ids[40:80]})
    spine = persons.rename(columns={"contact_id": "identifier_value"}).assign(
        identifier_type="contact_id"
    )
    expected = frame_summaries(orders, persons, data_through)
    with warehouse_of({tables.ORDERS: orders, tables.IDENTITY_PERSONS: spine}) as conn:
        summed = summaries(conn, data_through)
    assert summed.data_through == expected.data_through
    for part in ("summary", "calibration", "holdout"):
        got, want = getattr(summed, part), getattr(expected, part)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, check_names=False)
    assert expected.summary["spend"].notna().any() and len(expected.holdout) > 0
    # the fits agree to their optimiser's tolerance (the sums differ in their last bits)
    by_frames, by_warehouse = value_summaries(expected), value_summaries(summed)
    tolerance = {"rtol": 1e-4}
    pd.testing.assert_frame_equal(
        by_warehouse.customer_value, by_frames.customer_value, **tolerance
    )
    pd.testing.assert_frame_equal(by_warehouse.model_runs, by_frames.model_runs, **tolerance)


def test_cold_start_serves_the_rate_rule():
    orders, _ = make_customers(n=150, seed=4)
    res = value_customers(orders)
    m = res.model_runs.set_index("metric")
    assert res.method == "rate_rule" and m.loc["cold_start", "value"] == 1
    assert (res.model_runs["served_by"] == "rules").all()
    assert res.model_runs["serving_reason"].str.startswith("cold start: ").all()
    assert m.loc["customers", "value"] < 200 == m.loc["customers", "baseline_value"]
    assert {"correlation", "rmse"} <= set(m.index)  # the fallback is still evaluated
    values = res.customer_value.set_index("contact_id")
    assert values["p_alive"].between(0, 1).all()
    assert (values[["predicted_orders_90d", "predicted_clv_365d"]] >= 0).all().all()
    # silence lowers P(alive): of two one-time buyers, the older one is likelier gone
    summary = summarise(person_orders(orders), res.data_through)
    one_timers = summary[summary["x"] == 0].sort_values("T")
    young, old = one_timers.index[0], one_timers.index[-1]
    assert values.loc[young, "p_alive"] > values.loc[old, "p_alive"]
    assert value_customers(orders.iloc[:0]).method == "none"


# --- the demo business's planted truths ------------------------------------------------------


def _persons(contacts: pd.DataFrame) -> pd.DataFrame:
    """The identity spine's contact → person map: the same email is one person, the
    earliest contact (int_identity__persons)."""
    email = contacts["email"].str.lower().str.strip()
    ordered = contacts.assign(email=email).sort_values(["created_at", "contact_id"])
    first = ordered.dropna(subset=["email"]).drop_duplicates("email").set_index("email")
    person = email.map(first["contact_id"]).fillna(contacts["contact_id"])
    return pd.DataFrame({"contact_id": contacts["contact_id"], "person_id": person})


def test_demo_customer_value_follows_the_planted_purchase_process():
    """On the default demo (scale 1, 180 days), against the simulator's buy-till-you-die
    truth per customer: expected orders correlate with the true expectation better than
    the naive rate does, and P(alive) ranks and averages like the truly alive."""
    business = simulate(DemoConfig(seed=42, scale=1.0, days=180))
    res = value_customers(business.crm["orders"], _persons(business.crm["contacts"]))
    m = res.model_runs.set_index("metric")
    assert res.method == "mbgnbd_gamma_gamma" and m.loc["cold_start", "value"] == 0
    truth = business.truth["customers"].merge(res.customer_value, on="contact_id")
    assert len(truth) > 0.9 * len(business.truth["customers"])  # merged duplicates aside
    summary = summarise(person_orders(business.crm["orders"]), res.data_through)
    naive = pd.Series(naive_orders(summary, 90), index=summary.index)
    truth["naive"] = truth["contact_id"].map(naive)
    corr = np.corrcoef(truth["predicted_orders_90d"], truth["expected_orders_90d"])[0, 1]
    corr_naive = np.corrcoef(truth["naive"], truth["expected_orders_90d"])[0, 1]
    auc_alive = roc_auc_score(truth["is_alive"], truth["p_alive"])
    print(
        "demo holdout: "
        + ", ".join(
            f"{name} {m.loc[name, 'value']:.3f} (naive {m.loc[name, 'baseline_value']:.3f})"
            for name in ("correlation", "rmse", "auc", "revenue_correlation")
        )
        + f"; truth ({len(truth)} customers): corr(orders_90d, true) {corr:.3f} "
        f"(naive {corr_naive:.3f}), AUC(p_alive, alive) {auc_alive:.3f}, mean p_alive "
        f"{truth['p_alive'].mean():.3f} vs alive {truth['is_alive'].mean():.3f}"
    )
    assert m.loc["correlation", "value"] > m.loc["correlation", "baseline_value"]
    assert m.loc["rmse", "value"] < m.loc["rmse", "baseline_value"]
    assert corr > 0.45 and corr > corr_naive
    assert auc_alive > 0.6
    assert abs(truth["p_alive"].mean() - truth["is_alive"].mean()) < 0.1


def test_the_models_fit_a_bounded_stratified_sample_of_customers(shop, valued):
    """Above ``max_fit`` customers BG/NBD and Gamma-Gamma fit a sample of that size with
    the repeat-purchase mix kept, every customer is still valued; below it, all of them."""
    orders, _ = shop
    summary = summarise(person_orders(orders), valued.data_through)
    assert fit_sample(summary, 10**9).index.equals(summary.index)
    sample = fit_sample(summary, 500)
    assert len(sample) == 500 and sample.index.is_unique
    repeats = summary["x"].clip(upper=3).value_counts(normalize=True)
    kept = sample["x"].clip(upper=3).value_counts(normalize=True)
    assert (kept - repeats).abs().max() < 0.01
    capped = value_customers(orders, max_fit=500)
    assert capped.method == valued.method
    assert capped.customer_value["contact_id"].equals(valued.customer_value["contact_id"])
    corr = capped.model_runs.set_index("metric").loc["correlation"]
    assert corr["value"] > corr["baseline_value"]
    uncapped = value_customers(orders, max_fit=10**9)
    pd.testing.assert_frame_equal(uncapped.customer_value, valued.customer_value)
