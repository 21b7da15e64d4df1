"""What the recommendation assets read: the warehouse counts topic outcomes and measures the
shop's economics exactly as the pure functions do from whole frames, and the candidates'
date comes from the models before the events."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline import tables
from flywheel_pipeline.recommendations.candidates import build_recommendations
from flywheel_pipeline.recommendations.economics import (
    shop_economics,
    topic_outcomes,
    topic_stats,
)
from flywheel_pipeline.recommendations.first_touch import FrameFirstTouch
from flywheel_pipeline.recommendations.inputs import (
    WarehouseFirstTouch,
    as_of,
    count_topic_outcomes,
    measure_economics,
    read_inputs,
)
from flywheel_pipeline.recommendations.list_inputs import read_listed
from flywheel_pipeline.recommendations.outcome_inputs import count_topic_days, read_outcome_inputs
from flywheel_pipeline.recommendations.outcomes import count_topic_days as topic_days
from flywheel_pipeline.recommendations.titles import visit_values
from tests.support import warehouse_of
from tests.test_recommendations import DAY, END, make_inputs
from tests.test_recommendations_actions import full_inputs


def _with_edge_cases(seed: int) -> dict[str, pd.DataFrame]:
    """The content fixture plus what the warehouse must treat as pandas does: anonymous and
    unresolved-unknown conversations, an unassigned topic, rows after data_through, orders
    without a contact or a revenue."""
    inputs = make_inputs(seed)
    conversations = inputs["conversations"].astype({"resolved": "boolean"})
    conversations.loc[0:9, "contact_id"] = None
    conversations.loc[10:19, "resolved"] = pd.NA
    conversations.loc[len(conversations)] = {
        "conversation_id": "late",
        "contact_id": "C0100",
        "started_at": END + pd.Timedelta(days=2),
        "resolved": True,
    }
    assignments = conversations[["conversation_id"]].assign(
        topic_id=[*inputs["assignments"]["topic_id"], 1]
    )
    assignments.loc[20:24, "topic_id"] = None
    assignments["topic_id"] = assignments["topic_id"].astype("Int64")  # BIGINT, as in ml
    orders = inputs["orders"].copy()
    orders.loc[len(orders)] = {"contact_id": None, "ordered_at": END, "revenue": 50.0}
    orders.loc[len(orders)] = {"contact_id": "C0005", "ordered_at": END, "revenue": None}
    orders.loc[len(orders)] = {
        "contact_id": "C0100",
        "ordered_at": END + pd.Timedelta(days=3),
        "revenue": 70.0,
    }
    return {"conversations": conversations, "assignments": assignments, "orders": orders}


_RELATIONS = {
    "conversations": tables.CONVERSATIONS,
    "assignments": tables.CONVERSATION_TOPIC_ASSIGNMENTS,
    "orders": tables.ORDERS,
}


def _warehouse(frames: dict[str, pd.DataFrame], data_through: dt.date) -> duckdb.DuckDBPyConnection:
    frames = {**frames, "assignments": frames["assignments"].assign(data_through=data_through)}
    return warehouse_of({_RELATIONS[name]: frame for name, frame in frames.items()})


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("back_days", [0, 45])
def test_the_warehouse_counts_topic_outcomes_as_pandas_does(seed, back_days):
    frames = _with_edge_cases(seed)
    day = DAY - dt.timedelta(days=back_days)
    expected = topic_outcomes(frames["assignments"], frames["conversations"], frames["orders"], day)
    with _warehouse(frames, day) as conn:
        counted = count_topic_outcomes(conn, day, orders_known=True)
    key = ["topic_id", "resolved", "ordered_after", "recent"]
    sort = {"by": key, "na_position": "first", "ignore_index": True}
    pd.testing.assert_frame_equal(
        counted.sort_values(**sort), expected.sort_values(**sort), check_dtype=False
    )
    # every outcome occurs, so the comparison is not vacuous
    assert counted["ordered_after"].isna().any() and counted["ordered_after"].fillna(False).any()
    assert counted["resolved"].isna().any() and counted["topic_id"].isna().any()
    assert topic_stats(counted)[1] == topic_stats(expected)[1]


@pytest.mark.parametrize("seed", [0, 7])
def test_the_warehouse_counts_topic_days_as_pandas_does(seed):
    frames = _with_edge_cases(seed)
    expected = topic_days(frames["conversations"], frames["assignments"])
    with _warehouse(frames, DAY) as conn:
        counted = count_topic_days(conn)
    pd.testing.assert_frame_equal(counted, expected, check_dtype=False)
    assert 0 < expected["resolved"].sum() < expected["known"].sum() < len(frames["conversations"])


def test_without_orders_no_conversation_has_a_known_order_outcome():
    frames = _with_edge_cases(0)
    with _warehouse({**frames, "orders": frames["orders"].iloc[0:0]}, DAY) as conn:
        with_empty = read_inputs(conn, DAY)["topic_counts"]
    with _warehouse({k: v for k, v in frames.items() if k != "orders"}, DAY) as conn:
        without = read_inputs(conn, DAY)["topic_counts"]
        assert measure_economics(conn, DAY) is None
    expected = topic_outcomes(frames["assignments"], frames["conversations"], None, DAY)
    for counted in (with_empty, without):
        assert counted["ordered_after"].isna().all()
        assert counted["conversations"].sum() == expected["conversations"].sum()


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("back_days", [0, 45, 200])
def test_the_warehouse_measures_the_shops_economics_as_pandas_does(seed, back_days):
    orders = _with_edge_cases(seed)["orders"]
    day = DAY - dt.timedelta(days=back_days)
    with _warehouse({"orders": orders, "assignments": orders.iloc[0:0]}, day) as conn:
        measured = measure_economics(conn, day)
    expected = shop_economics(orders, day)
    assert (measured.orders, measured.customers_with_90d_history) == (
        expected.orders,
        expected.customers_with_90d_history,
    )
    assert measured.average_order_value == pytest.approx(expected.average_order_value, rel=1e-12)
    assert measured.revenue_per_new_customer_90d == pytest.approx(
        expected.revenue_per_new_customer_90d, rel=1e-12
    )
    if back_days == 0:
        assert expected.customers_with_90d_history > 0  # the new-customer branch is exercised


def test_read_inputs_hands_the_candidates_counts_not_conversations():
    frames = _with_edge_cases(0)
    with _warehouse(frames, DAY) as conn:
        inputs = read_inputs(conn, DAY)
    assert "conversations" not in inputs and "assignments" not in inputs
    assert inputs["topic_counts"]["conversations"].sum() == len(frames["conversations"]) - 1
    assert inputs["economics"].orders == len(frames["orders"]) - 1  # one is after DAY


def test_the_candidates_date_is_the_models_else_the_last_event():
    with duckdb.connect() as conn:
        assert as_of(conn) is None
        conn.execute(f"create schema {tables.ORDERS.schema}")
        conn.execute(f"create table {tables.ORDERS.quoted} as select ? as ordered_at", [END])
        assert as_of(conn) == DAY  # no model yet: the last event
        conn.execute(f"create schema {tables.DEAL_SCORES.schema}")
        conn.execute(
            f"create table {tables.DEAL_SCORES.quoted} as select date '2026-06-28' as data_through"
        )
        assert as_of(conn) == dt.date(2026, 6, 28)  # the models' date wins


def _contacts_and_orders(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contacts with landing pages (full URLs and paths, some unknown) and campaigns (some
    unknown), and orders before, inside and after their first VALUE_DAYS (some without a
    contact or a revenue)."""
    rng = np.random.default_rng(seed)
    n, m = 400, 900
    ids = [f"k{i:03d}" for i in range(n)]
    created = END - pd.to_timedelta(rng.uniform(0, 300, n), unit="D")
    contacts = pd.DataFrame(
        {
            "contact_id": ids,
            "created_at": created,
            "first_landing_page": rng.choice(
                ["/a", "https://shop.example/b?utm=x", "/a?ref=1", None], n
            ),
            "campaign": rng.choice(["spring", "summer", None], n),
            "channel_group": "Paid Search",
        }
    )
    buyer = rng.integers(0, n, m)
    orders = pd.DataFrame(
        {
            "contact_id": np.array(ids, dtype=object)[buyer],
            "ordered_at": created[buyer] + pd.to_timedelta(rng.uniform(-20, 150, m), unit="D"),
            "revenue": rng.gamma(3, 30, m),
        }
    )
    orders.loc[:9, "contact_id"] = None
    orders.loc[10:19, "revenue"] = np.nan
    return contacts, orders


def _crm_warehouse(contacts: pd.DataFrame, orders: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    return warehouse_of({tables.CONTACTS: contacts, tables.ORDERS: orders})


def _by_value(revenue: pd.DataFrame) -> pd.DataFrame:
    """Sorted by value, the contacts without one (None or NaN alike) first."""
    named = revenue.assign(value=revenue["value"].astype(object).fillna("(none)"))
    return named.sort_values("value", ignore_index=True)


@pytest.mark.parametrize("seed", [0, 7])
def test_the_warehouse_sums_first_touch_revenue_as_pandas_does(seed):
    contacts, orders = _contacts_and_orders(seed)
    frames = FrameFirstTouch(contacts, orders)
    stop = pd.Timestamp(END.date()) + pd.Timedelta(days=1)
    windows = [
        (stop - pd.Timedelta(days=300), stop - pd.Timedelta(days=90)),
        (stop - pd.Timedelta(days=60), stop),
    ]
    with _crm_warehouse(contacts, orders) as conn:
        warehouse = WarehouseFirstTouch(conn)
        for column in ("first_landing_page", "campaign"):
            assert warehouse.knows(column) and frames.knows(column)
            for start, until in windows:
                summed = warehouse.revenue(column, start, until, stop)
                expected = frames.revenue(column, start, until, stop)
                pd.testing.assert_frame_equal(
                    _by_value(summed), _by_value(expected), check_dtype=False
                )
                assert summed["value"].isna().any() and summed["customers"].gt(1).all()
        assert not warehouse.knows("no_such_column")
        traffic = pd.DataFrame(
            {
                "report_date": pd.date_range(end=END.date(), periods=300),
                "landing_page": "/a",
                "sessions": 40.0,
            }
        )
        by_warehouse = visit_values(traffic, warehouse, DAY)
    by_frames = visit_values(traffic, frames, DAY)
    assert by_warehouse.site_value == pytest.approx(by_frames.site_value, rel=1e-12)
    pd.testing.assert_frame_equal(by_warehouse.pages, by_frames.pages, rtol=1e-12)


def test_the_candidates_from_the_warehouse_are_those_from_whole_frames():
    """Every action type from the inputs the asset reads (aggregates, the leads a follow-up
    helps most, the customers at risk, the promoters and the value of a referral) equals the
    candidates from the whole tables, leaving out the contacts already acted on alike."""
    content, lists = make_inputs(), full_inputs()
    # a second won deal and a lost one: the median days to a win counts the wins only
    closed = pd.DataFrame(
        {
            "deal_id": ["D7", "D8"],
            "contact_id": ["C7", "C8"],
            "created_at": [END - pd.Timedelta(days=90), END - pd.Timedelta(days=70)],
            "stage": ["closed_won", "closed_lost"],
            "amount": [3_000.0, 4_000.0],
            "closed_at": [END - pd.Timedelta(days=30), END - pd.Timedelta(days=69)],
            "is_won": [True, False],
        }
    )
    lists["deals"] = pd.concat([lists["deals"], closed], ignore_index=True)
    # a promoter whose only referral came before the answer: no referral since it
    lists["nps"] = pd.concat(
        [lists["nps"], pd.DataFrame({"contact_id": ["P6"], "responded_at": [END], "score": [10]})],
        ignore_index=True,
    )
    before = {"referrer_contact_id": ["P6"], "referred_contact_id": ["R6"]}
    lists["referrals"] = pd.concat(
        [lists["referrals"], pd.DataFrame({**before, "referred_at": [END - pd.Timedelta(days=9)]})],
        ignore_index=True,
    )
    frames = {
        **lists,
        **{k: content[k] for k in ("topics", "assignments", "conversations", "lead_scores")},
        "contacts": pd.concat([content["contacts"], lists["contacts"]], ignore_index=True),
        "orders": pd.concat([content["orders"], lists["orders"]], ignore_index=True),
        "nps": lists["nps"],
    }
    relations = {
        "topics": tables.CONVERSATION_TOPICS,
        "assignments": tables.CONVERSATION_TOPIC_ASSIGNMENTS,
        "conversations": tables.CONVERSATIONS,
        "lead_scores": tables.LEAD_SCORES,
        "contacts": tables.CONTACTS,
        "orders": tables.ORDERS,
        "deal_scores": tables.DEAL_SCORES,
        "deals": tables.DEALS,
        "customer_value": tables.CUSTOMER_VALUE,
        "search_opportunities": tables.SEARCH_OPPORTUNITIES,
        "traffic": tables.GA4_TRAFFIC,
        "nps": tables.NPS_RESPONSES,
        "referrals": tables.REFERRALS,
        "model_runs": tables.LEAD_SCORING_RUNS,
    }
    stored = {**frames, "assignments": frames["assignments"].assign(data_through=DAY)}
    # a listed lead, a customer at risk and a promoter
    acted = {"contact": {"L003", "K1", "P2"}, "deal": set()}
    top = 10  # of the 40 leads
    expected = build_recommendations(data_through=DAY, acted=acted, max_leads=top, **frames)
    with warehouse_of({t: stored[name] for name, t in relations.items()}) as conn:
        inputs = read_inputs(conn, DAY) | read_listed(conn, DAY, acted["contact"], max_leads=top)
        assert len(inputs["lead_scores"]) == top
        got = build_recommendations(data_through=DAY, acted=acted, max_leads=top, **inputs)
    assert set(expected.candidates["type"]) >= {
        "create_content",
        "follow_up_lead",
        "attend_deal",
        "reengage_customer",
        "rewrite_title",
        "ask_referral",
    }
    pd.testing.assert_frame_equal(got.candidates, expected.candidates)
    pd.testing.assert_frame_equal(got.targets, expected.targets)


def test_the_outcomes_read_only_the_members_rows():
    """Of the contacts, orders, deals and referrals, the outcomes read the rows of the list
    members (a contact, a deal, a promoter by the referrals they made), nobody else's."""
    members = pd.DataFrame(
        {
            "recommendation_id": "r",
            "target_type": ["contact", "deal", "contact"],
            "target_id": ["C1", "D1", "P1"],
            "position": [1, 2, 3],
            "reason": "",
            "expected_impact": 1.0,
            "score": np.nan,
            "holdout": False,
        }
    )
    at = [END - pd.Timedelta(days=d) for d in (3, 2)]
    relations = {
        tables.RECOMMENDATION_TARGETS: members,
        tables.CONTACTS: pd.DataFrame({"contact_id": ["C1", "C2"], "created_at": at}),
        tables.ORDERS: pd.DataFrame(
            {"contact_id": ["C1", "C2"], "ordered_at": at, "revenue": [1.0, 2.0]}
        ),
        tables.DEALS: pd.DataFrame(
            {"deal_id": ["D1", "D2"], "created_at": at, "closed_at": at, "is_won": [True, False]}
        ),
        # P1 referred C2; C1 (a member) was referred by P2 (not one)
        tables.REFERRALS: pd.DataFrame(
            {
                "referrer_contact_id": ["P1", "P2"],
                "referred_contact_id": ["C2", "C1"],
                "referred_at": at,
            }
        ),
    }
    with warehouse_of(relations) as conn:
        inputs = read_outcome_inputs(conn)
    assert inputs["contacts"]["contact_id"].tolist() == ["C1"]
    assert inputs["orders"]["contact_id"].tolist() == ["C1"]
    assert inputs["deals"]["deal_id"].tolist() == ["D1"]
    assert inputs["referrals"]["referrer_contact_id"].tolist() == ["P1"]
    assert inputs["crm_last_day"] == pd.Timestamp(at[1].date())
