"""Search opportunities: the site's CTR curve, under-performers and striking-distance queries."""

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
    MIN_PAIRS,
    OPPORTUNITY_COLUMNS,
    find_search_opportunities,
    fit_curve,
    prior_ctr,
)
from flywheel_pipeline.sources.demo import DemoConfig, simulate
from flywheel_pipeline.warehouse import WarehouseResource, connect, replace_table

LAST = dt.date(2026, 9, 30)


def _rows(ctr_of_position, pages: int = 60, days: int = 56, poor: frozenset = frozenset()):
    """Daily rows of `pages` query-pages at positions 1…20, CTR from `ctr_of_position`."""
    rng = np.random.default_rng(0)
    records = []
    for day in range(days):
        date = LAST - dt.timedelta(days=day)
        for i in range(pages):
            position = 1 + (i % 20)
            impressions = 40
            ctr = ctr_of_position(position, day) * (0.4 if i in poor else 1.0)
            records.append(
                {
                    "report_date": date,
                    "search_query": f"query {i}",
                    "page_url": f"https://shop.example/p/{i}",
                    "impressions": impressions,
                    "clicks": int(rng.binomial(impressions, min(ctr, 1.0))),
                    "avg_position": float(position),
                }
            )
    return pd.DataFrame(records)


def _prior(position, day):
    return float(prior_ctr(position))


def test_the_curve_never_rises_with_position_and_follows_the_site() -> None:
    rows = _rows(lambda p, d: 0.5 * float(prior_ctr(p)))  # a site with half the usual CTR
    result = find_search_opportunities(rows)
    curve = result.curve["expected_ctr"].to_numpy()
    assert (np.diff(curve) <= 1e-12).all()
    assert not result.cold_start
    # Pulled from the prior (0.28) towards the site's own level (0.14), as far as its
    # impressions weigh against the prior's.
    assert 0.5 * 0.28 * 0.9 <= curve[0] < 0.75 * 0.28


def test_too_little_data_falls_back_to_the_public_prior() -> None:
    few = pd.DataFrame(
        {
            "search_query": [f"q{i}" for i in range(MIN_PAIRS - 1)],
            "page_url": "https://shop.example/",
            "impressions": 500,
            "clicks": 1,
            "ctr": 0.002,
            "avg_position": 1.0,
        }
    )
    curve = fit_curve(few)
    assert curve.cold_start
    np.testing.assert_allclose(curve.ctr, prior_ctr(np.arange(1, 21)))


def test_planted_poor_snippets_are_flagged_and_ordinary_ones_are_not() -> None:
    poor = frozenset({2, 5, 8})  # positions 3, 6 and 9
    result = find_search_opportunities(_rows(_prior, poor=poor))
    flagged = result.opportunities.query("opportunity_type == 'ctr_underperformer'")
    assert set(flagged["query"]) == {f"query {i}" for i in poor}
    assert (flagged["estimated_click_gain_28d"] > 0).all()
    striking = result.opportunities.query("opportunity_type == 'striking_distance'")
    assert striking["avg_position"].between(4, 20, inclusive="right").all()
    assert (striking["target_position"] == 3).all()


def test_evaluation_never_sees_the_holdout_window() -> None:
    # The CTR halves in the latest 28 days: a curve fitted on the earlier window (as it must
    # be) misses by about half the CTR; one fitted on the holdout would be nearly exact.
    rows = _rows(lambda p, day: float(prior_ctr(p)) * (0.5 if day < 28 else 1.0))
    runs = find_search_opportunities(rows).model_runs.set_index("metric")
    holdout_ctr = np.average(0.5 * prior_ctr(np.arange(1, 21)))
    assert runs.loc["ctr_mae_weighted", "value"] > 0.6 * holdout_ctr


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


def test_on_the_demo_the_site_curve_beats_the_public_prior(demo) -> None:
    result, _ = demo
    runs = result.model_runs.set_index("metric")
    assert runs.loc["cold_start", "value"] == 0
    assert runs.loc["ctr_mae_weighted", "value"] < runs.loc["ctr_mae_weighted", "baseline_value"]


def test_on_the_demo_planted_under_performers_are_found(demo) -> None:
    result, truth = demo
    flagged = result.opportunities.query("opportunity_type == 'ctr_underperformer'")
    found = flagged.merge(truth, on=["query", "page"], how="left")
    planted = truth[truth["is_under_performer"] & (truth["mean_position"] <= 10)]
    recalled = planted.merge(flagged[["query", "page"]], on=["query", "page"])
    assert len(recalled) >= 0.8 * len(planted)
    # What is flagged has a genuinely poor snippet (true CTR factor well below an ordinary 1).
    assert found["true_ctr_factor"].median() < 0.75


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


def _materialise(database: Path, staged: pd.DataFrame) -> dict[str, dict]:
    """Plant intermediate.int_search__query_pages_daily (the staged rows summed over country
    and device, as dbt sums them), run the asset, return metadata per table."""
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
    with connect(database) as conn:
        replace_table(conn, "intermediate.int_search__query_pages_daily", per_day)
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

    # dbt sums the country × device rows per day before the model sees them: the same
    # opportunities as the model on the raw rows.
    expected = find_search_opportunities(staged)
    key = ["query", "page", "opportunity_type"]
    pd.testing.assert_frame_equal(
        written.sort_values(key, ignore_index=True)[["query", "page", "opportunity_type"]],
        expected.opportunities.sort_values(key, ignore_index=True)[key].astype("object"),
    )
    np.testing.assert_allclose(
        written.sort_values(key)["estimated_click_gain_28d"],
        expected.opportunities.sort_values(key)["estimated_click_gain_28d"],
        rtol=1e-9,
    )
    np.testing.assert_allclose(curve["expected_ctr"], expected.curve["expected_ctr"], rtol=1e-9)
    assert list(curve["position"]) == list(range(1, 21))
    assert set(runs["metric"]) == {"ctr_mae_weighted", "cold_start"}
    assert (runs["model"] == "search_ctr_curve").all()

    found = metadata["search_opportunities"]
    assert found["dagster/row_count"] == len(written) > 0
    assert found["ctr_underperformers"] + found["striking_distance"] == len(written)
    # query-pages that are both under-performers and in striking distance count once
    both = written.duplicated(["query", "page"], keep=False)
    assert both.any()
    assert found["estimated_click_gain_28d"] == pytest.approx(
        written[~both]["estimated_click_gain_28d"].sum()
        + written[both].groupby(["query", "page"])["estimated_click_gain_28d"].max().sum()
    )
    assert not found["cold_start"]
    assert "ctr_mae_weighted" in metadata["search_ctr_curve"]  # value beside the prior's
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
