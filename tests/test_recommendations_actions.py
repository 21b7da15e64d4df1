"""The model-driven action types: attend_deal, reengage_customer, rewrite_title, ask_referral.

Pure functions on small frames: the impact arithmetic, the caps, a cold start without the
inputs, and ids and ranking that do not depend on row order. The asset itself on a warehouse
that holds only some of its inputs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline.insights.search_opportunities import find_search_opportunities, prior_ctr
from flywheel_pipeline.recommendations import (
    CANDIDATE_COLUMNS,
    IMPACT_UNIT,
    ImpactAssumptions,
    build_candidates,
    shop_economics,
)
from flywheel_pipeline.recommendations.assets import (
    RecommendationSettings,
    recommendation_candidates,
)
from flywheel_pipeline.recommendations.candidates import build_recommendations
from flywheel_pipeline.recommendations.customers import (
    SPEND_PRIOR_PURCHASES,
    purchase_history,
    reengage_candidates,
)
from flywheel_pipeline.recommendations.deals import attend_deal_candidates, attention_uplift
from flywheel_pipeline.recommendations.first_touch import FrameFirstTouch
from flywheel_pipeline.recommendations.lists import LIST_TARGET_TYPES
from flywheel_pipeline.recommendations.referrals import ask_referral_candidates
from flywheel_pipeline.recommendations.titles import (
    PRIOR_SESSIONS,
    page_path,
    rewrite_title_candidates,
    visit_values,
)
from flywheel_pipeline.sources.demo.effects import ACTION_EFFECTS
from flywheel_pipeline.warehouse import WarehouseResource, connect, replace_table

DAY = dt.date(2026, 6, 30)
END = pd.Timestamp("2026-06-30 23:00")
ASSUME = ImpactAssumptions()
RUNS = pd.DataFrame(
    {
        "model": ["deal_scoring"] * 2 + ["customer_value"] * 2,
        "metric": ["cold_start", "auc"] * 2,
        "value": [0.0, 0.70, 0.0, 0.65],
        "baseline_value": [np.nan, 0.62, np.nan, 0.60],
        "data_through": DAY,
    }
)


def _impact(rows: list[dict]) -> dict[str, float]:
    return {r["target_id"]: r["expected_impact"] for r in rows}


# --------------------------------------------------------------------------------------------
# attend_deal


def make_deals():
    deal_scores = pd.DataFrame(
        {
            "deal_id": ["D1", "D2", "D3", "D4", "D5"],
            "win_probability": [0.5, 0.97, 0.5, 0.3, 0.6],
            "data_through": DAY,
        }
    )
    deals = pd.DataFrame(
        {
            "deal_id": ["D1", "D2", "D3", "D4", "D5", "D9"],
            "contact_id": ["C1", "C2", "C3", "C4", "C5", "C9"],
            "created_at": [END - pd.Timedelta(days=d) for d in (10, 20, 30, 40, 50, 100)],
            "stage": ["proposal", "negotiation", "qualified", "proposal", "proposal", "closed_won"],
            "amount": [10_000.0, 10_000.0, 1_000.0, 20_000.0, np.nan, 5_000.0],
            "closed_at": [pd.NaT] * 5 + [END - pd.Timedelta(days=60)],
            "is_won": [False] * 5 + [True],
        }
    )
    return deal_scores, deals


def test_attention_moves_the_odds_so_undecided_deals_gain_most():
    assert attention_uplift(0.5, 1.5) == pytest.approx(0.1)  # odds 1 → 1.5: P 0.5 → 0.6
    assert attention_uplift(np.array([0.0, 1.0]), 1.5) == pytest.approx([0.0, 0.0])
    grid = np.linspace(0.01, 0.99, 99)
    assert abs(grid[np.argmax(attention_uplift(grid, 1.5))] - 0.5) < 0.06
    assert attention_uplift(0.5, 1.0) == 0.0  # no effect assumed, no impact


def test_attend_deal_impact_is_amount_times_the_rise_in_p_win():
    deal_scores, deals = make_deals()
    rows = attend_deal_candidates(
        deal_scores, deals, data_through=DAY, assumptions=ASSUME, model_runs=RUNS
    )
    impact = _impact(rows)
    assert set(impact) == {"D1", "D2", "D3", "D4"}  # D5 has no amount: nothing at stake
    assert impact["D1"] == pytest.approx(10_000 * 0.1, abs=0.01)
    assert impact["D4"] == pytest.approx(20_000 * float(attention_uplift(0.3, 1.5)), abs=0.01)
    # same amount: the undecided deal gains more than the nearly won one
    assert impact["D1"] > impact["D2"] > 0
    d1 = next(r for r in rows if r["target_id"] == "D1")
    assert d1["type"] == "attend_deal" and d1["target_type"] == "deal"
    assert "50% → 60%" in d1["rationale"] and "10,000" in d1["rationale"]
    assert "AUC 0.70 vs 0.62" in d1["rationale"] and "median 40 days" in d1["rationale"]
    assert d1["confidence"] == pytest.approx(0.4)  # 2·(0.70 − 0.5)
    capped = attend_deal_candidates(
        deal_scores, deals, data_through=DAY, assumptions=ASSUME, max_deals=2
    )
    assert [r["target_id"] for r in capped] == ["D4", "D1"]


# --------------------------------------------------------------------------------------------
# reengage_customer


def make_customers():
    value = pd.DataFrame(
        {
            "contact_id": ["K1", "K2", "K3", "K4", "K5"],
            "predicted_orders_90d": [0.8, 0.4, 2.0, 0.05, 0.6],
            "predicted_clv_365d": [900.0, 300.0, 3000.0, 20.0, 500.0],
            "p_alive": [0.4, 0.3, 0.9, 0.05, 0.45],
            "data_through": DAY,
        }
    )
    # K1: first order 300, then two repeat days of 100 and 140; K2: one order; K5: none here
    orders = pd.DataFrame(
        {
            "contact_id": ["K1", "K1", "K1", "K1", "K2", "K3", "K3"],
            "ordered_at": [END - pd.Timedelta(days=d) for d in (200, 150, 150, 100, 120, 30, 10)],
            "revenue": [300.0, 60.0, 40.0, 140.0, 80.0, 50.0, 70.0],
        }
    )
    return value, orders


def test_reengage_only_at_risk_customers_with_a_shrunk_spend_per_purchase():
    value, orders = make_customers()
    history = purchase_history(orders, DAY)
    assert history.loc["K1", "purchases"] == 3 and history.loc["K1", "repeats"] == 2
    assert history.loc["K1", "repeat_spend"] == pytest.approx(120.0)  # one purchase per day
    econ = shop_economics(orders, DAY)
    rows = reengage_candidates(
        value, econ, data_through=DAY, assumptions=ASSUME, orders=orders, model_runs=RUNS
    )
    impact = _impact(rows)
    assert set(impact) == {"K1", "K2", "K5"}  # K3 is healthy, K4 most likely gone
    prior = (100 + 140 + 70) / 3  # the shop's mean repeat purchase (K1's two, K3's one)
    k1_spend = (120 * 2 + prior * SPEND_PRIOR_PURCHASES) / (2 + SPEND_PRIOR_PURCHASES)
    assert impact["K1"] == pytest.approx(0.25 * 0.8 * k1_spend, abs=0.01)
    assert impact["K2"] == pytest.approx(0.25 * 0.4 * prior, abs=0.01)  # no repeat yet
    assert impact["K5"] == pytest.approx(0.25 * 0.6 * prior, abs=0.01)  # no orders here
    k1 = next(r for r in rows if r["target_id"] == "K1")
    assert k1["type"] == "reengage_customer" and k1["target_type"] == "contact"
    assert "P(alive) 40%" in k1["rationale"] and "the last 100 days ago" in k1["rationale"]
    assert "AUC 0.65 vs 0.60" in k1["rationale"] and "25%" in k1["rationale"]
    capped = reengage_candidates(
        value, econ, data_through=DAY, assumptions=ASSUME, orders=orders, max_customers=1
    )
    assert [r["target_id"] for r in capped] == ["K1"]


def test_the_action_types_are_the_simulators():
    """The demo simulator plants each effect on (action_type, target_type): the names must
    match or accepted recommendations would change nothing in the closed loop."""
    planted = set(map(tuple, ACTION_EFFECTS[["action_type", "target_type"]].to_numpy()))
    built = build_recommendations(data_through=DAY, **full_inputs())
    recs = built.candidates
    single = recs[~recs["target_type"].isin(LIST_TARGET_TYPES)]
    # a list acts on its members: the simulator plants the effect on each of them
    members = built.targets.merge(recs[["recommendation_id", "type"]])
    proposed = {
        *map(tuple, single[["type", "target_type"]].to_numpy()),
        *map(tuple, members[["type", "target_type"]].to_numpy()),
    }
    assert len(proposed) > 3 and proposed <= planted


# --------------------------------------------------------------------------------------------
# rewrite_title


LAST = DAY


def search_rows(poor=frozenset({3, 5})) -> pd.DataFrame:
    """56 days of 60 query-pages at positions 1…20 following the public CTR prior; the
    ``poor`` ones get 40 % of it (a bad snippet). Query 5 also ranks a second page poorly."""
    rng = np.random.default_rng(0)
    records = []
    for day in range(56):
        date = LAST - dt.timedelta(days=day)
        for i in range(61):
            query = i if i < 60 else 5
            page = f"https://shop.example/p/{i}?utm=x" if i < 60 else "https://shop.example/alt"
            position = 1 + (query % 20)
            factor = 0.4 if (query in poor) else 1.0
            ctr = float(prior_ctr(position)) * factor * (0.5 if i == 60 else 1.0)
            records.append(
                {
                    "report_date": date,
                    "search_query": f"query {query}",
                    "page_url": page,
                    "impressions": 60,
                    "clicks": int(rng.binomial(60, ctr)),
                    "avg_position": float(position),
                }
            )
    return pd.DataFrame(records)


def make_site():
    """GA4 sessions per landing page and the contacts that first landed there."""
    days = pd.date_range(END.normalize() - pd.Timedelta(days=179), END.normalize())
    traffic = pd.DataFrame(
        [(d.date(), f"/p/{i}", 10) for d in days for i in range(6)],
        columns=["report_date", "landing_page", "sessions"],
    )
    created = END - pd.Timedelta(days=150)
    contacts = pd.DataFrame(
        {
            "contact_id": ["A", "B", "C"],
            "created_at": [created] * 3,
            "first_landing_page": ["/p/3", "/p/3", "/p/4"],
        }
    )
    orders = pd.DataFrame(
        {
            "contact_id": ["A", "B", "C", "A"],
            "ordered_at": [created + pd.Timedelta(days=d) for d in (5, 30, 10, 120)],
            "revenue": [500.0, 300.0, 200.0, 999.0],  # A's last order is after its 90 days
        }
    )
    return traffic, contacts, orders


def test_a_visit_is_worth_its_first_touch_revenue_per_landing_session():
    traffic, contacts, orders = make_site()
    values = visit_values(traffic, FrameFirstTouch(contacts, orders), DAY)
    assert values.mature
    sessions = 10 * 90  # landing sessions per page before the 90-day cut (days −179…−90)
    assert values.site_value == pytest.approx(1000 / (6 * sessions))
    own = (800 + values.site_value * PRIOR_SESSIONS) / (sessions + PRIOR_SESSIONS)
    assert values.of("/p/3") == pytest.approx((own, sessions))
    assert values.of("/elsewhere") == (values.site_value, 0.0)
    # without first landing pages every page is worth the site-wide value
    flat = visit_values(
        traffic, FrameFirstTouch(contacts.drop(columns="first_landing_page"), orders), DAY
    )
    assert flat.of("/p/3") == (flat.site_value, 0.0) and flat.site_value == values.site_value
    assert visit_values(None, FrameFirstTouch(contacts, orders), DAY) is None
    assert page_path("https://shop.example/help/returns?x=1") == "/help/returns"
    assert page_path("/help/returns") == "/help/returns"


def test_rewrite_title_for_ctr_underperformers_one_per_query():
    found = find_search_opportunities(search_rows()).opportunities
    under = found[found["opportunity_type"] == "ctr_underperformer"]
    assert {"query 3", "query 5"} <= set(under["query"])
    traffic, contacts, orders = make_site()
    values = visit_values(traffic, FrameFirstTouch(contacts, orders), DAY)
    rows = rewrite_title_candidates(found, values, data_through=DAY, assumptions=ASSUME)
    ids = [r["target_id"] for r in rows]
    assert len(ids) == len(set(ids)) == under["query"].nunique()  # one per query
    assert all(r["type"] == "rewrite_title" and r["target_type"] == "query" for r in rows)
    q3 = under[under["query"] == "query 3"].iloc[0]
    expected = q3["estimated_click_gain_28d"] * 90 / 28 * 0.5 * values.of("/p/3")[0]
    assert _impact(rows)["query 3"] == pytest.approx(expected, abs=0.01)
    r3 = next(r for r in rows if r["target_id"] == "query 3")
    assert "/p/3" in r3["action"] and "p = " in r3["rationale"] and "50%" in r3["rationale"]
    # query 5: the page with the larger gain is the one to rewrite
    r5 = next(r for r in rows if r["target_id"] == "query 5")
    best = under[under["query"] == "query 5"].nlargest(1, "estimated_click_gain_28d").iloc[0]
    assert best["page"] in r5["action"]
    # striking-distance rows need a better rank, not a better title
    striking = found[found["opportunity_type"] == "striking_distance"]
    assert not set(striking["query"]) - set(under["query"]) & set(ids)
    # no traffic, no value of a visit: nothing proposed
    assert rewrite_title_candidates(found, None, data_through=DAY, assumptions=ASSUME) == []
    capped = rewrite_title_candidates(
        found, values, data_through=DAY, assumptions=ASSUME, max_titles=1
    )
    assert [r["target_id"] for r in capped] == [rows[0]["target_id"]]


def test_young_site_values_are_a_stated_lower_bound():
    traffic, contacts, orders = make_site()
    young = traffic[pd.to_datetime(traffic["report_date"]) > END - pd.Timedelta(days=60)]
    contacts = contacts.assign(created_at=END - pd.Timedelta(days=30))
    orders = orders.assign(ordered_at=END - pd.Timedelta(days=20))
    values = visit_values(young, FrameFirstTouch(contacts, orders), DAY)
    assert not values.mature and values.site_value > 0
    found = find_search_opportunities(search_rows()).opportunities
    rows = rewrite_title_candidates(found, values, data_through=DAY, assumptions=ASSUME)
    assert rows and all("lower bound" in r["rationale"] for r in rows)


# --------------------------------------------------------------------------------------------
# ask_referral


def make_referrals():
    nps = pd.DataFrame(
        {
            "contact_id": ["P1", "P2", "P3", "P3", "P4", "P5"],
            "responded_at": [END - pd.Timedelta(days=d) for d in (100, 50, 300, 20, 250, 60)],
            "score": [10, 9, 10, 4, 9, 7],
        }
    )
    referrals = pd.DataFrame(
        {
            "referrer_contact_id": ["P1", "P1", "P4", "P5"],
            "referred_contact_id": ["R1", "R2", "R3", "R4"],
            "referred_at": [END - pd.Timedelta(days=d) for d in (95, 10, 200, 40)],
        }
    )
    orders = pd.DataFrame(
        {
            "contact_id": ["R1", "R3", "R3", "R2"],
            "ordered_at": [END - pd.Timedelta(days=d) for d in (90, 190, 50, 5)],
            "revenue": [120.0, 80.0, 500.0, 60.0],  # R3's 500 is after its 90 days
        }
    )
    return nps, referrals, orders


def test_ask_referral_rate_and_value_from_the_data():
    nps, referrals, orders = make_referrals()
    rows = ask_referral_candidates(
        nps, referrals, data_through=DAY, assumptions=ASSUME, orders=orders
    )
    impact = _impact(rows)
    # P3's latest answer is a detractor's, P5 is passive, P4 answered too long ago
    assert set(impact) == {"P1", "P2"}
    stop = pd.Timestamp(DAY) + pd.Timedelta(days=1)
    days = {
        c: (stop - (END - pd.Timedelta(days=d))) / pd.Timedelta(days=1)
        for c, d in (("P1", 100), ("P2", 50), ("P4", 250))
    }
    rate = 3 / sum(days.values())  # P1's two and P4's one, over all promoters' days
    value = (120 + 80) / 2  # mature referrals R1 and R3, within 90 days of each
    p1_rate = (2 + rate * 90) / (days["P1"] + 90)
    assert impact["P1"] == pytest.approx(p1_rate * 90 * 0.5 * value, abs=0.01)
    p2_rate = (0 + rate * 90) / (days["P2"] + 90)
    assert impact["P2"] == pytest.approx(p2_rate * 90 * 0.5 * value, abs=0.01)
    p1 = next(r for r in rows if r["target_id"] == "P1")
    assert p1["type"] == "ask_referral" and "NPS 10" in p1["rationale"]
    assert "2 referral(s)" in p1["rationale"] and "a referral brought 100 in" in p1["rationale"]
    assert (
        ask_referral_candidates(
            nps, referrals.iloc[0:0], data_through=DAY, assumptions=ASSUME, orders=orders
        )
        == []
    )
    capped = ask_referral_candidates(
        nps, referrals, data_through=DAY, assumptions=ASSUME, orders=orders, max_promoters=1
    )
    assert [r["target_id"] for r in capped] == ["P1"]


# --------------------------------------------------------------------------------------------
# all types together


def full_inputs() -> dict:
    deal_scores, deals = make_deals()
    value, customer_orders = make_customers()
    traffic, contacts, site_orders = make_site()
    nps, referrals, referral_orders = make_referrals()
    return dict(
        deal_scores=deal_scores,
        deals=deals,
        customer_value=value,
        search_opportunities=find_search_opportunities(search_rows()).opportunities,
        traffic=traffic,
        contacts=contacts,
        nps=nps,
        referrals=referrals,
        model_runs=RUNS,
        orders=pd.concat([customer_orders, site_orders, referral_orders], ignore_index=True),
    )


def test_all_types_ranked_together_in_one_unit_and_capped():
    recs = build_candidates(data_through=DAY, cycle=2, **full_inputs())
    assert list(recs.columns) == CANDIDATE_COLUMNS
    assert set(recs["type"]) == {
        "attend_deal",
        "reengage_customer",
        "rewrite_title",
        "ask_referral",
    }
    assert (recs["impact_unit"] == IMPACT_UNIT).all()
    assert recs["expected_impact"].is_monotonic_decreasing
    assert recs["priority"].tolist() == list(range(1, len(recs) + 1))
    assert recs["recommendation_id"].is_unique and recs["confidence"].between(0, 1).all()
    capped = build_candidates(
        data_through=DAY,
        max_deals=1,
        max_customers=1,
        max_titles=1,
        max_promoters=1,
        **full_inputs(),
    )
    assert capped["type"].value_counts().to_dict() == dict.fromkeys(
        ["attend_deal", "reengage_customer", "rewrite_title", "ask_referral"], 1
    )


def test_ids_and_ranking_do_not_depend_on_row_order():
    inputs = full_inputs()
    a = build_candidates(data_through=DAY, cycle=1, **inputs)
    shuffled = {k: v.sample(frac=1.0, random_state=3) for k, v in inputs.items()}
    b = build_candidates(data_through=DAY, cycle=1, **shuffled)
    pd.testing.assert_frame_equal(a, b)
    again = build_candidates(data_through=DAY, cycle=1, **full_inputs())
    pd.testing.assert_frame_equal(a, again)


@pytest.mark.parametrize(
    ("missing", "absent"),
    [
        (["deal_scores"], "attend_deal"),
        (["deals"], "attend_deal"),
        (["customer_value"], "reengage_customer"),
        (["search_opportunities"], "rewrite_title"),
        (["traffic"], "rewrite_title"),
        (["nps"], "ask_referral"),
        (["referrals"], "ask_referral"),
    ],
)
def test_a_type_without_its_inputs_proposes_nothing(missing, absent):
    inputs = {k: (None if k in missing else v) for k, v in full_inputs().items()}
    recs = build_candidates(data_through=DAY, **inputs)
    assert absent not in set(recs["type"])
    assert len(set(recs["type"])) == 3  # the others are unaffected


def test_cold_start_empty_inputs_and_no_date():
    empty = {k: v.iloc[0:0] for k, v in full_inputs().items()}
    recs = build_candidates(data_through=DAY, **empty)
    assert recs.empty and list(recs.columns) == CANDIDATE_COLUMNS
    none = build_candidates(data_through=None)
    assert none.empty and list(none.columns) == CANDIDATE_COLUMNS


def _resources(path: Path, share: float = 0.2) -> dict:
    return {
        "warehouse": WarehouseResource(path=str(path)),
        "recommendation_settings": RecommendationSettings(holdout_share=share),
    }


def _plant_deals(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deal scores, deals and the deal model's runs in the warehouse at `path`."""
    deal_scores, deals = make_deals()
    with connect(path) as conn:
        replace_table(conn, "ml.deal_scores", deal_scores)
        replace_table(conn, "staging.stg_crm__deals", deals)
        replace_table(conn, "ml.deal_scoring_runs", RUNS)
    return deal_scores, deals


def test_asset_reads_what_exists_and_skips_what_does_not(tmp_path: Path):
    """An empty warehouse (cold start) writes an empty table; with deal scores and deals only,
    only attend_deal is proposed."""
    path = tmp_path / "w.duckdb"
    resources = _resources(path)
    assert dg.materialize([recommendation_candidates], resources=resources).success
    with connect(path) as conn:
        for table in ("recommendation_candidates", "recommendation_targets"):
            assert conn.execute(f"select count(*) from ml.{table}").fetchall() == [(0,)]
    _plant_deals(path)
    assert dg.materialize([recommendation_candidates], resources=resources).success
    with connect(path) as conn:
        recs = conn.execute("select * from ml.recommendation_candidates").df()
        members = conn.execute("select * from ml.recommendation_targets").df()
    assert set(recs["type"]) == {"attend_deal"} and len(recs) == 1  # one list of the deals
    assert recs["target_type"].tolist() == ["deal_list"]
    assert recs["target_id"].tolist() == [f"attend_deal:{DAY.isoformat()}"]
    assert (recs["created_at"] == pd.Timestamp(DAY)).all()
    assert recs["rationale"].str.contains("AUC 0.70").all()
    assert sorted(members["target_id"]) == ["D1", "D2", "D3", "D4"]
    assert members["reason"].str.contains("AUC 0.70").all()
    assert members["holdout"].sum() == 1  # round(0.2 × 4): the setting's default


def test_a_decided_recommendation_outlives_the_run_that_proposed_it(tmp_path: Path):
    """A later run proposes anew (new data_through, new ids); the list someone accepted stays
    with its row and its members (holdout included, as drawn), the undecided ones of the
    earlier run go, and the accepted list's members are not listed again."""
    path = tmp_path / "w.duckdb"
    resources = _resources(path)
    deal_scores, deals = _plant_deals(path)
    assert dg.materialize([recommendation_candidates], resources=resources).success
    with connect(path) as conn:
        first = conn.execute("select * from ml.recommendation_candidates").df()
        first_members = conn.execute("select * from ml.recommendation_targets").df()
        chosen = first["recommendation_id"].iloc[0]
        replace_table(
            conn,
            "intermediate.int_recommendations__decisions",
            pd.DataFrame(
                {
                    "recommendation_id": [chosen],
                    "status": ["accepted"],
                    "accepted_at": [END],
                    "done_at": [pd.NaT],
                }
            ),
        )
        later = deal_scores.assign(data_through=deal_scores["data_through"] + pd.Timedelta(days=7))
        new_deal = {"deal_id": "D7", "win_probability": 0.5, "data_through": DAY}
        replace_table(conn, "ml.deal_scores", pd.concat([later, pd.DataFrame([new_deal])]))
        d7 = deals.iloc[[0]].assign(deal_id="D7", contact_id="C7")
        replace_table(conn, "staging.stg_crm__deals", pd.concat([deals, d7]))
    for _ in range(2):  # and a rerun neither duplicates nor drops it
        assert dg.materialize([recommendation_candidates], resources=resources).success
        with connect(path) as conn:
            second = conn.execute("select * from ml.recommendation_candidates").df()
            members = conn.execute("select * from ml.recommendation_targets").df()
        assert second["recommendation_id"].is_unique and len(second) == 2
        assert set(first["recommendation_id"]) & set(second["recommendation_id"]) == {chosen}
        pd.testing.assert_series_equal(
            second.set_index("recommendation_id").loc[chosen],
            first.set_index("recommendation_id").loc[chosen],
        )
        kept = members[members["recommendation_id"] == chosen].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, first_members)
        # the new list holds only the deal nobody acted on yet
        fresh = members[members["recommendation_id"] != chosen]
        assert fresh["target_id"].tolist() == ["D7"] and not fresh["holdout"].any()
