"""Search opportunities: the site's CTR curve (champion/challenger against the public prior),
brand queries set aside, under-performers by a significance rule, striking distance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline.insights.assets import search_opportunity_model
from flywheel_pipeline.insights.search_opportunities import (
    CURVE_COLUMNS,
    FDR,
    HISTORY_DAYS,
    MIN_PAIRS,
    OPPORTUNITY_COLUMNS,
    TEST_DAYS,
    WINDOW_DAYS,
    benjamini_hochberg,
    brand_mask,
    empirical_null,
    estimate_dispersion,
    find_search_opportunities,
    fit_curve,
    prior_ctr,
    recovered,
    shortfall_p_values,
    site_names,
    window,
)
from flywheel_pipeline.sources.demo import DemoConfig, simulate
from flywheel_pipeline.warehouse import WarehouseResource, connect, replace_table

LAST = dt.date(2026, 9, 30)
SITE = "https://shop.example"


def _site(
    pairs: int = 60,
    days: int = 56,
    seed: int = 0,
    spread: float = 0.15,
    level=lambda day: 1.0,
    factors: dict | None = None,
    impressions: dict | None = None,
    extra: list[dict] | None = None,
) -> pd.DataFrame:
    """Daily rows of `pairs` query-pages at positions 1…12 (and a few on page two): CTR =
    public prior × the site's `level` × each snippet's own lognormal quality (sd `spread`)
    × `factors` (a poor snippet < 1). `extra`: more query-pages (query, page, position,
    impressions, ctr)."""
    rng = np.random.default_rng(seed)
    quality = np.exp(rng.normal(0, spread, pairs))
    factors, impressions = factors or {}, impressions or {}
    specs = [
        {
            "query": f"query {i}",
            "page": f"{SITE}/p/{i}",
            "position": 1.0 + (i % 12) + (8 if i % 10 == 9 else 0),
            "impressions": impressions.get(i, 150),
            "ctr": lambda pos, day, i=i: float(prior_ctr(pos)) * quality[i] * factors.get(i, 1.0),
        }
        for i in range(pairs)
    ]
    for e in extra or []:
        ctr = e["ctr"] if callable(e["ctr"]) else (lambda pos, day, c=e["ctr"]: c)
        specs.append({**e, "ctr": ctr})
    # extra query-pages draw from their own stream: the others' data stay the same
    streams = [rng] * pairs + [
        np.random.default_rng(seed + 1_000 + k) for k in range(len(extra or []))
    ]
    records = []
    for day in range(days):
        date = LAST - dt.timedelta(days=day)
        for s, rng in zip(specs, streams, strict=True):
            shown = int(rng.poisson(s["impressions"]))
            if shown == 0:
                continue
            pos = max(1.0, s["position"] + rng.normal(0, 0.2))
            ctr = min(s["ctr"](pos, day) * level(day), 0.95)
            records.append(
                {
                    "report_date": date,
                    "search_query": s["query"],
                    "page_url": s["page"],
                    "impressions": shown,
                    "clicks": int(rng.binomial(shown, ctr)),
                    "avg_position": pos,
                }
            )
    return pd.DataFrame(records)


def _flagged(result) -> set[str]:
    found = result.opportunities
    return set(found.loc[found["opportunity_type"] == "ctr_underperformer", "query"])


# --- the curve and its champion/challenger ---------------------------------------------------


def test_the_curve_follows_the_site_never_rises_and_beats_the_prior_when_the_site_differs():
    result = find_search_opportunities(_site(level=lambda day: 0.5))  # half the usual CTR
    curve = result.curve["expected_ctr"].to_numpy()
    assert (np.diff(curve) <= 1e-12).all()
    assert not result.cold_start
    ratio = curve[2:10] / prior_ctr(np.arange(3, 11))
    assert np.all((ratio > 0.4) & (ratio < 0.6))  # the site's level, not the prior's
    runs = result.model_runs.set_index("metric")
    assert runs.loc["ctr_mae_weighted", "value"] < runs.loc["ctr_mae_weighted", "baseline_value"]
    assert (runs["served_by"] == "model").all()
    assert "beats" in runs["serving_reason"].iloc[0]


def test_a_site_curve_that_loses_on_the_holdout_gives_way_to_the_prior():
    # The site halved its CTR in the training window and is back on the prior in the latest
    # 28 days: the curve fitted on the earlier window loses, so the prior serves.
    result = find_search_opportunities(_site(level=lambda day: 0.5 if day >= 28 else 1.0))
    runs = result.model_runs.set_index("metric")
    assert runs.loc["ctr_mae_weighted", "value"] > runs.loc["ctr_mae_weighted", "baseline_value"]
    assert (runs["served_by"] == "baseline").all()
    assert "does not beat" in runs["serving_reason"].iloc[0]
    np.testing.assert_allclose(result.curve["expected_ctr"], result.curve["prior_ctr"])
    found = result.opportunities
    under = found[found["opportunity_type"] == "ctr_underperformer"]
    np.testing.assert_allclose(
        under["expected_ctr"], prior_ctr(under["avg_position"]), rtol=0.05
    )  # judged against the prior that serves


def test_too_little_data_is_a_cold_start_and_the_public_prior_serves():
    few = _site(pairs=MIN_PAIRS - 5)
    latest = window(few, LAST - dt.timedelta(days=27), LAST)
    curve = fit_curve(latest)
    assert curve.cold_start
    np.testing.assert_allclose(curve.ctr, prior_ctr(np.arange(1, 21)))
    result = find_search_opportunities(few)
    runs = result.model_runs.set_index("metric")
    assert runs.loc["cold_start", "value"] == 1
    assert (runs["served_by"] == "baseline").all()
    assert "cold start" in runs["serving_reason"].iloc[0]


def test_evaluation_never_sees_the_holdout_window():
    # The CTR halves in the latest 28 days: a curve fitted on the earlier window (as it must
    # be) misses by about half the CTR; one fitted on the holdout would be nearly exact.
    result = find_search_opportunities(_site(level=lambda day: 0.5 if day < 28 else 1.0))
    runs = result.model_runs.set_index("metric")
    holdout_ctr = np.average(0.5 * prior_ctr(np.arange(1, 13)))
    assert runs.loc["ctr_mae_weighted", "value"] > 0.5 * holdout_ctr


# --- significance ----------------------------------------------------------------------------


def test_planted_poor_snippets_are_flagged_and_ordinary_ones_are_not():
    poor = {2: 0.4, 5: 0.45, 8: 0.4}  # positions 3, 6 and 9
    result = find_search_opportunities(_site(factors=poor, impressions={2: 400, 5: 400, 8: 400}))
    assert _flagged(result) == {f"query {i}" for i in poor}
    under = result.opportunities.query("opportunity_type == 'ctr_underperformer'")
    assert (under["estimated_click_gain_28d"] > 0).all()
    assert (under["p_value"] < FDR).all()
    striking = result.opportunities.query("opportunity_type == 'striking_distance'")
    assert striking["avg_position"].between(4, 20, inclusive="right").all()
    assert (striking["target_position"] == 3).all()


def test_a_small_shortfall_on_few_impressions_is_noise_a_big_one_on_many_is_not():
    extra = [
        # 35 % below an ordinary snippet at position 5, on ~5 impressions a day
        {
            "query": "small",
            "page": f"{SITE}/small",
            "position": 5.0,
            "impressions": 5,
            "ctr": 0.65 * float(prior_ctr(5.0)),
        },
        # 50 % below, on ~400 a day
        {
            "query": "big",
            "page": f"{SITE}/big",
            "position": 5.0,
            "impressions": 400,
            "ctr": 0.5 * float(prior_ctr(5.0)),
        },
        # 15 % below on very many impressions: significant against Poisson noise alone, but
        # within how much ordinary snippets differ
        {
            "query": "slight",
            "page": f"{SITE}/slight",
            "position": 5.0,
            "impressions": 3000,
            "ctr": 0.85 * float(prior_ctr(5.0)),
        },
    ]
    result = find_search_opportunities(_site(extra=extra))
    assert {"big"} <= _flagged(result)
    assert not {"small", "slight"} & _flagged(result)
    assert shortfall_p_values([20], [100.0], 0.0)[0] < 1e-10  # Poisson alone: no doubt at all
    assert shortfall_p_values([80], [100.0], 0.15**2)[0] > 0.05  # a 20 % gap is ordinary


def test_the_dispersion_is_measured_above_the_curve_so_shortfalls_cannot_inflate_it():
    rng = np.random.default_rng(1)
    expected = np.full(200, 400.0)
    ordinary = expected * np.exp(rng.normal(0, 0.15, 200))
    clicks = rng.poisson(ordinary).astype(float)
    clicks[:40] = rng.poisson(expected[:40] * 0.4)  # a fifth of the snippets are poor
    position = np.full(200, 5.0)
    tau = np.sqrt(estimate_dispersion(clicks, expected, position).base)
    assert 0.11 < tau < 0.2
    null = empirical_null(clicks, expected, position)
    assert abs(null.centre) < 0.05 and 0.11 < np.sqrt(null.dispersion.base) < 0.2
    # a mean position past the page break says less: that spread is measured too
    page_two = np.full(200, 12.0)
    wide = clicks.copy()
    wide[100:] = rng.poisson(expected[100:] * np.exp(rng.normal(0, 0.45, 100)))
    spread = estimate_dispersion(wide, expected, np.r_[position[:100], page_two[100:]])
    assert spread.page_break > 0.05 and spread.variance(12.0) > spread.variance(5.0)


def test_the_evidence_spans_sixteen_weeks_so_a_persistent_thin_shortfall_shows():
    # 60 % below at position 6 on ~7 impressions a day: within noise over 8 weeks, clear
    # over 16 (the demo's "organic beanie online")
    thin = {
        "query": "thin",
        "page": f"{SITE}/thin",
        "position": 6.0,
        "impressions": 7,
        "ctr": 0.4 * float(prior_ctr(6.0)),
    }
    rows = _site(days=TEST_DAYS, extra=[thin])
    assert HISTORY_DAYS >= TEST_DAYS == 112  # the asset reads all the evidence
    assert "thin" in _flagged(find_search_opportunities(rows))
    eight_weeks = rows[rows["report_date"] > LAST - dt.timedelta(days=56)]
    assert "thin" not in _flagged(find_search_opportunities(eight_weeks))


def test_a_snippet_that_recovered_in_the_latest_window_is_not_flagged():
    def fixed(pos, day):  # poor for 12 weeks, ordinary for the latest 4 (a rewritten title)
        return (1.0 if day < WINDOW_DAYS else 0.4) * float(prior_ctr(4.0))

    extra = [
        {
            "query": "fixed",
            "page": f"{SITE}/fixed",
            "position": 4.0,
            "impressions": 150,
            "ctr": fixed,
        },
        {
            "query": "poor",
            "page": f"{SITE}/poor",
            "position": 4.0,
            "impressions": 150,
            "ctr": 0.4 * float(prior_ctr(4.0)),
        },
    ]
    flagged = _flagged(find_search_opportunities(_site(days=TEST_DAYS, seed=4, extra=extra)))
    assert "poor" in flagged and "fixed" not in flagged
    assert recovered([100, 100], [100.0, 200.0]).tolist() == [True, False]


def test_each_row_is_judged_at_its_own_position_not_at_the_days_mean():
    # Half the impressions on page one (9), half on page two (13): the mean position (11)
    # expects a page-two CTR of all of them; per row, each half gets its own.
    rows = pd.DataFrame(
        {
            "report_date": [LAST, LAST],
            "search_query": ["q", "q"],
            "page_url": [f"{SITE}/q", f"{SITE}/q"],
            "country": ["usa", "deu"],
            "clicks": [28, 8],
            "impressions": [1000, 1000],
            "avg_position": [9.0, 13.0],
        }
    )
    per_row = window(rows, LAST, LAST)
    assert per_row.pairs["avg_position"].item() == pytest.approx(11.0)
    expected = 1000 * (prior_ctr(9.0) + prior_ctr(13.0))
    assert per_row.expected_clicks(prior_ctr).item() == pytest.approx(expected)
    per_day = window(
        _per_day(rows.assign(report_date=pd.to_datetime(rows["report_date"]))), LAST, LAST
    )
    assert per_day.expected_clicks(prior_ctr).item() == pytest.approx(2000 * prior_ctr(11.0))
    assert per_day.expected_clicks(prior_ctr).item() < 0.6 * expected


def test_benjamini_hochberg_keeps_false_alarms_rare_on_sites_without_poor_snippets():
    tested = alarms = 0
    for seed in range(8):
        busy = {i: 400 for i in range(60)}
        result = find_search_opportunities(_site(seed=seed, impressions=busy))
        tested += result.tested
        alarms += len(_flagged(result))
    assert tested >= 8 * 40
    # BH at FDR 5 %: on null data a false alarm in at most ~5 % of runs
    assert alarms <= 1, f"{alarms} false alarms among {tested} tested query-pages"
    p = np.r_[np.linspace(0.001, 0.04, 5), np.full(95, 0.5)]
    assert (benjamini_hochberg(p) < 0.05).sum() < (p < 0.05).sum()
    assert benjamini_hochberg(np.array([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.04, 0.04])


# --- brand and navigational queries ----------------------------------------------------------


def test_the_site_name_comes_from_its_urls_and_its_navigational_queries():
    pages = pd.Series(["https://www.acme-outdoor.co.uk/", "https://www.acme-outdoor.co.uk/p/1"])
    queries = pd.Series(["acme outdoor", "rain jackets"])
    positions = pd.Series([1.1, 6.0])
    assert site_names(queries, pages, positions) == ["acmeoutdoor", "acmeoutdoorcouk"]
    # without a navigational query naming it, only the whole host counts
    assert site_names(queries, pages, pd.Series([4.0, 6.0])) == ["acmeoutdoorcouk"]
    check = pd.Series(["Acme-Outdoor returns", "acmeoutdoor login", "rain jackets", "best shop"])
    mask = brand_mask(
        pd.concat([queries, check], ignore_index=True),
        pd.Series([pages[0], pages[1], pages[1], pages[1], pages[1], pages[0]]),
        pd.Series([1.1, 6.0, 1.3, 2.0, 7.0, 1.2]),
    )
    # named (whatever the spelling) or on the home page at the top: brand / navigational
    assert mask.tolist() == [True, False, True, True, False, True]


def test_brand_queries_are_neither_opportunities_nor_part_of_the_curve():
    brand = [
        # the brand on the home page with a poor CTR, and a brand help query
        {
            "query": "shopexample",
            "page": f"{SITE}/",
            "position": 1.2,
            "impressions": 300,
            "ctr": 0.05,
        },
        {
            "query": "shop example returns",
            "page": f"{SITE}/help/returns",
            "position": 1.5,
            "impressions": 300,
            "ctr": 0.06,
        },
        {
            "query": "shop example",
            "page": f"{SITE}/",
            "position": 1.1,
            "impressions": 2000,
            "ctr": 0.6,
        },
        {
            "query": "shop example jobs",
            "page": f"{SITE}/careers",
            "position": 8.0,
            "impressions": 300,
            "ctr": 0.001,
        },
    ]
    with_brand = find_search_opportunities(_site(extra=brand))
    found = with_brand.opportunities
    assert not found["query"].str.contains("shop ?example").any()
    assert with_brand.brand_pairs == 4
    without = find_search_opportunities(_site())
    np.testing.assert_allclose(with_brand.curve["expected_ctr"], without.curve["expected_ctr"])


# --- on the demo -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_business():
    return simulate(DemoConfig(seed=42, scale=1.0, days=180))


def _staged(gsc: pd.DataFrame) -> pd.DataFrame:
    """The simulator's Search Console frame as staging.stg_gsc__search_analytics names it."""
    return gsc.rename(
        columns={
            "date": "report_date",
            "query": "search_query",
            "page": "page_url",
            "position": "avg_position",
        }
    )


@pytest.fixture(scope="module")
def demo(demo_business):
    rows = _staged(demo_business.gsc)
    return find_search_opportunities(rows), demo_business.truth["queries"]


def test_on_the_demo_the_site_curve_beats_the_public_prior_and_serves(demo):
    result, _ = demo
    runs = result.model_runs.set_index("metric")
    assert runs.loc["cold_start", "value"] == 0
    assert runs.loc["ctr_mae_weighted", "value"] < runs.loc["ctr_mae_weighted", "baseline_value"]
    assert result.serving.served_by == "model"


def test_on_the_demo_under_performers_are_the_planted_ones_and_no_brand_query(demo):
    result, truth = demo
    flagged = result.opportunities.query("opportunity_type == 'ctr_underperformer'")
    found = flagged.merge(truth, on=["query", "page"], how="left")
    planted = truth[truth["is_under_performer"]]
    hits = int(found["is_under_performer"].fillna(False).sum())
    assert hits >= 0.7 * len(planted)
    assert hits >= 0.7 * len(flagged)
    assert not result.opportunities["query"].str.contains("shop ?example").any()


# --- the Dagster asset -----------------------------------------------------------------------

OPPORTUNITY_TYPES = {
    "query": "VARCHAR",
    "page": "VARCHAR",
    "opportunity_type": "VARCHAR",
    "impressions_28d": "BIGINT",
    "clicks_28d": "BIGINT",
    "ctr": "DOUBLE",
    "avg_position": "DOUBLE",
    "expected_ctr": "DOUBLE",
    "target_position": "BIGINT",
    "estimated_click_gain_28d": "DOUBLE",
    "p_value": "DOUBLE",
    "data_through": "DATE",
}
CURVE_TYPES = {
    "position": "BIGINT",
    "expected_ctr": "DOUBLE",
    "prior_ctr": "DOUBLE",
    "impressions": "BIGINT",
    "data_through": "DATE",
}


def _per_day(staged: pd.DataFrame) -> pd.DataFrame:
    """The staged rows summed over country and device, as dbt sums them."""
    weighted = staged.assign(
        report_date=staged["report_date"].dt.date,  # DATE, as dbt has it
        position_x_impressions=staged["avg_position"] * staged["impressions"],
    )
    per_day = weighted.groupby(["report_date", "search_query", "page_url"], as_index=False)[
        ["clicks", "impressions", "position_x_impressions"]
    ].sum()
    per_day["avg_position"] = per_day.pop("position_x_impressions") / per_day["impressions"].where(
        per_day["impressions"] > 0
    )
    return per_day


def _materialise(database: Path, staged: pd.DataFrame) -> dict[str, dict]:
    """Plant staging.stg_gsc__search_analytics, run the asset, return metadata per table."""
    with connect(database) as conn:
        replace_table(
            conn,
            "staging.stg_gsc__search_analytics",
            staged.assign(report_date=staged["report_date"].dt.date),  # DATE, as dbt has it
        )
    result = dg.materialize(
        [search_opportunity_model],
        resources={"warehouse": WarehouseResource(path=str(database))},
    )
    assert result.success
    return {
        event.asset_key.path[-1]: {k: v.value for k, v in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }


def _types(database: Path, table: str) -> dict[str, str]:
    with connect(database, read_only=True) as conn:
        return dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = current_database() and table_schema = 'ml' "
                "and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
        )


def test_the_asset_writes_what_the_model_finds_with_the_contract_types(
    demo_business, tmp_path: Path
) -> None:
    database = tmp_path / "w.duckdb"
    staged = _staged(demo_business.gsc)
    metadata = _materialise(database, staged)

    assert _types(database, "search_opportunities") == OPPORTUNITY_TYPES
    assert _types(database, "search_ctr_curve") == CURVE_TYPES
    with connect(database, read_only=True) as conn:
        written = conn.execute("select * from ml.search_opportunities").df()
        curve = conn.execute("select * from ml.search_ctr_curve").df()
        runs = conn.execute("select * from ml.search_ctr_curve_runs").df()

    # what the model finds in the rows the asset reads (per country × device, each at its own
    # position)
    expected = find_search_opportunities(staged.assign(report_date=staged["report_date"].dt.date))
    key = ["query", "page", "opportunity_type"]
    pd.testing.assert_frame_equal(
        written.sort_values(key, ignore_index=True)[["query", "page", "opportunity_type"]],
        expected.opportunities.sort_values(key, ignore_index=True)[key].astype("object"),
    )
    np.testing.assert_allclose(
        written.sort_values(key)["estimated_click_gain_28d"],
        expected.opportunities.sort_values(key)["estimated_click_gain_28d"],
        rtol=1e-6,
    )
    np.testing.assert_allclose(curve["expected_ctr"], expected.curve["expected_ctr"], rtol=1e-6)
    assert list(curve["position"]) == list(range(1, 21))
    assert set(runs["metric"]) == {"ctr_mae_weighted", "cold_start"}
    assert (runs["model"] == "search_ctr_curve").all()
    assert set(runs["served_by"]) == {expected.serving.served_by}

    found = metadata["search_opportunities"]
    assert found["dagster/row_count"] == len(written) > 0
    assert found["ctr_underperformers"] + found["striking_distance"] == len(written)
    assert found["ctr_underperformers"] > 0
    assert found["brand_query_pages_set_aside"] >= 8
    assert found["served_by"] == expected.serving.served_by
    # query-pages that are both under-performers and in striking distance count once
    both = written.duplicated(["query", "page"], keep=False)
    assert both.any()
    assert found["estimated_click_gain_28d"] == pytest.approx(
        written[~both]["estimated_click_gain_28d"].sum()
        + written[both].groupby(["query", "page"])["estimated_click_gain_28d"].max().sum()
    )
    assert not found["cold_start"]
    # numbers beside the prior's, which the Dagster UI plots run after run
    curve_meta = metadata["search_ctr_curve"]
    assert isinstance(curve_meta["ctr_mae_weighted"], float)
    assert isinstance(curve_meta["ctr_mae_weighted_baseline"], float)
    assert metadata["search_ctr_curve_runs"]["dagster/row_count"] == 2


def test_without_search_console_data_the_tables_are_empty_but_typed(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    staged = pd.DataFrame(
        {
            "report_date": pd.Series(dtype="datetime64[ns]"),
            "search_query": pd.Series(dtype="object"),
            "page_url": pd.Series(dtype="object"),
            "country": pd.Series(dtype="object"),
            "device": pd.Series(dtype="object"),
            "clicks": pd.Series(dtype="int64"),
            "impressions": pd.Series(dtype="int64"),
            "avg_position": pd.Series(dtype="float64"),
        }
    )
    metadata = _materialise(database, staged)
    assert metadata["search_opportunities"]["dagster/row_count"] == 0
    assert _types(database, "search_opportunities") == OPPORTUNITY_TYPES
    assert _types(database, "search_ctr_curve") == CURVE_TYPES
    assert list(OPPORTUNITY_TYPES) == OPPORTUNITY_COLUMNS
    assert list(CURVE_TYPES) == CURVE_COLUMNS
