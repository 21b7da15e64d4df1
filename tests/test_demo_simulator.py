"""The demo business simulator: contract shapes, determinism, planted structure and effects."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.demo import (
    DemoConfig,
    conversations,
    effects,
    people,
    simulate,
    simulator,
    write_landing_files,
)
from flywheel_pipeline.sources.demo import landing as landing_module
from flywheel_pipeline.sources.demo.assets import DEMO_BUSINESS, DemoResource, demo_business
from flywheel_pipeline.sources.demo.draws import day_chunks
from flywheel_pipeline.sources.files.assets import build_file_assets
from flywheel_pipeline.sources.ga4.assets import build_ga4_assets
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.sources.partitions import daily_partitions, range_tags
from flywheel_pipeline.sources.report_file import load_reports
from flywheel_pipeline.sources.search_console.assets import build_search_console_assets
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource
from flywheel_pipeline.warehouse import WarehouseResource, connect

SMALL = DemoConfig(seed=7, scale=0.2, days=120)

CRM_COLUMNS = {
    "contacts": [
        "contact_id",
        "email",
        "created_at",
        "source",
        "medium",
        "campaign",
        "ga_client_id",
        "company",
        "industry",
        "company_size",
        "country",
        "first_landing_page",
    ],
    "deals": ["deal_id", "contact_id", "created_at", "stage", "amount", "closed_at", "is_won"],
    "deal_stage_history": ["deal_id", "stage", "entered_at"],
    "orders": ["order_id", "contact_id", "ordered_at", "revenue", "items"],
    "nps_responses": ["contact_id", "responded_at", "score", "comment"],
    "referrals": ["referrer_contact_id", "referred_contact_id", "referred_at"],
    "ad_spend": ["date", "source", "medium", "campaign", "spend", "impressions", "clicks"],
}
GA4_COLUMNS = {
    "traffic_acquisition": [
        "date",
        "session_source",
        "session_medium",
        "session_campaign_name",
        "session_default_channel_group",
        "landing_page",
        "device_category",
        "sessions",
        "engaged_sessions",
        "new_users",
        "key_events",
        "total_revenue",
    ],
    "pages": [
        "date",
        "page_path",
        "page_title",
        "screen_page_views",
        "sessions",
        "engaged_sessions",
        "key_events",
    ],
    "events": ["date", "event_name", "event_count", "total_users"],
    "site_daily": ["date", "sessions", "new_users", "total_users"],
}
GSC_COLUMNS = [
    "date",
    "query",
    "page",
    "country",
    "device",
    "clicks",
    "impressions",
    "ctr",
    "position",
]
TRUTH_COLUMNS = {
    "topics": ["topic_key", "label", "has_help_page", "help_page_path", "is_content_gap"],
    "conversation_topics": ["conversation_id", "topic_key"],
    "leads": ["contact_id", "p_convert_90d", "converted_90d"],
    "deals": ["deal_id", "p_win"],
    "customers": [
        "contact_id",
        "purchase_rate_per_day",
        "dropout_p",
        "is_alive",
        "expected_orders_90d",
    ],
    "queries": [
        "query",
        "page",
        "true_ctr_factor",
        "expected_ctr_at_position",
        "true_click_gain",
    ],
    "action_effects": ["action_type", "metric", "relative_effect"],
    "run": ["seed", "scale", "days", "start_date", "end_date"],
}
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE = re.compile(r"(\+\d[\d \-]{7,}\d|\(\d{3}\) \d{3}-\d{4}|\b0\d(?: \d{2}){4}\b)")


@pytest.fixture(scope="module")
def business():
    return simulate(SMALL)


@pytest.fixture(scope="module")
def landing(business, tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("landing")
    return root, write_landing_files(business, root)


def _digest(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_contract_shapes(business):
    assert business.data_through == SMALL.end_date
    for table, columns in CRM_COLUMNS.items():
        assert list(business.crm[table].columns) == columns, table
        assert len(business.crm[table]) > 0, table
    for report, columns in GA4_COLUMNS.items():
        frame = business.ga4[report]
        assert list(frame.columns) == columns, report
        assert frame["date"].dtype == "datetime64[ns]"
        assert (frame["date"] == frame["date"].dt.normalize()).all()
    assert list(business.gsc.columns) == GSC_COLUMNS
    for table, columns in TRUTH_COLUMNS.items():
        assert set(columns) <= set(business.truth[table].columns), table

    ga = business.ga4["traffic_acquisition"]
    assert set(ga["device_category"]) <= {"desktop", "mobile", "tablet"}
    assert {"Organic Search", "Paid Search", "Direct", "Email", "Paid Social"} <= set(
        ga["session_default_channel_group"]
    )
    assert (ga["engaged_sessions"] <= ga["sessions"]).all()
    assert (ga["new_users"] <= ga["sessions"]).all()
    assert set(business.gsc["device"]) <= {"DESKTOP", "MOBILE", "TABLET"}
    assert business.gsc["country"].str.fullmatch(r"[a-z]{3}").all()
    assert business.gsc["page"].str.startswith("https://shop.example/").all()
    assert (business.gsc["clicks"] <= business.gsc["impressions"]).all()
    assert business.gsc["date"].max() <= pd.Timestamp(SMALL.end_date)
    assert business.gsc["date"].min() >= pd.Timestamp(SMALL.start_date)

    stages = {"qualified", "proposal", "negotiation", "closed_won", "closed_lost"}
    assert set(business.crm["deals"]["stage"]) <= stages
    assert set(business.crm["deal_stage_history"]["stage"]) <= stages
    assert business.crm["nps_responses"]["score"].between(0, 10).all()
    assert (business.crm["orders"]["revenue"] > 0).all()
    end = pd.Timestamp(SMALL.end_date, tz="UTC") + pd.Timedelta(days=1)
    assert (business.crm["orders"]["ordered_at"] < end).all()


def test_conversations_follow_the_landing_format(business):
    convs = list(business.conversations)
    assert len(convs) > 500
    offsets = set()
    for c in convs:
        assert set(c) >= {"conversation_id", "started_at", "channel", "contact", "messages"}
        assert ISO_WITH_OFFSET.match(c["started_at"])
        offsets.add(c["started_at"][19:])
        assert set(c["contact"]) <= {"contact_id", "email", "ga_client_id"}
        assert c["messages"]
        for m in c["messages"]:
            assert m["role"] in {"user", "assistant", "agent"}
            assert ISO_WITH_OFFSET.match(m["sent_at"]) and m["text"]
        if "csat" in c:
            assert 1 <= c["csat"] <= 5
    assert "Z" in offsets and "+02:00" in offsets
    ids = [c["conversation_id"] for c in convs]
    assert len(set(ids)) == len(ids)
    linked = sum(bool(c["contact"]) for c in convs) / len(convs)
    assert 0.2 < linked < 0.9  # some, not all, conversations carry an identity
    assert any(m["role"] == "agent" for c in convs for m in c["messages"])
    user_text = [m["text"] for c in convs for m in c["messages"] if m["role"] == "user"]
    assert sum(bool(EMAIL.search(t)) for t in user_text) > 5
    assert sum(bool(PHONE.search(t)) for t in user_text) > 5
    assert len(set(user_text)) > len(user_text) * 0.3  # varied wording


def test_identity_links(business):
    contacts = business.crm["contacts"]
    ga = contacts["ga_client_id"].dropna()
    assert ga.str.fullmatch(r"\d{9,10}\.\d{10}").all()
    normalised = contacts["email"].dropna().str.strip().str.lower()
    assert normalised.duplicated().any()  # duplicate contacts for identity resolution
    raw = contacts["email"].dropna()
    assert (raw != raw.str.strip().str.lower()).any()  # case and whitespace variants
    known = set(contacts["contact_id"])
    conv_ids = {
        c["contact"]["contact_id"] for c in business.conversations if "contact_id" in c["contact"]
    }
    assert conv_ids and conv_ids <= known
    referred = business.crm["referrals"]["referred_contact_id"]
    assert set(referred) <= known
    assert (contacts.set_index("contact_id").loc[referred, "source"] == "referral").all()


def test_same_seed_is_identical_and_landing_files_are_byte_identical(business, landing, tmp_path):
    again = simulate(SMALL)
    for table in business.crm:
        pd.testing.assert_frame_equal(business.crm[table], again.crm[table])
    for report in business.ga4:
        pd.testing.assert_frame_equal(business.ga4[report], again.ga4[report])
    pd.testing.assert_frame_equal(business.gsc, again.gsc)
    for table in business.truth:
        pd.testing.assert_frame_equal(business.truth[table], again.truth[table])
    assert list(business.conversations) == list(again.conversations)

    root, files = landing
    assert files and all(p.exists() for p in files)
    assert (root / "decisions").is_dir()
    other = tmp_path / "other"
    write_landing_files(again, other)
    assert _digest(root) == _digest(other)
    # A rerun into the same folder overwrites its own files and leaves foreign files alone.
    foreign = root / "crm" / "contacts" / "hubspot_export.csv"
    foreign.write_text("contact_id\nX1\n")
    write_landing_files(again, root)
    assert foreign.exists()
    foreign.unlink()
    assert _digest(root) == _digest(other)


def _assert_same_business(one, other) -> None:
    for tables in ("crm", "truth"):
        for name in getattr(one, tables):
            pd.testing.assert_frame_equal(
                getattr(one, tables)[name], getattr(other, tables)[name], obj=name
            )
    for report in one.ga4:
        pd.testing.assert_frame_equal(one.ga4[report], other.ga4[report], obj=report)
    pd.testing.assert_frame_equal(one.gsc, other.gsc)


def test_people_drawn_a_few_days_at_a_time_make_the_same_business(
    business, landing, tmp_path, monkeypatch
):
    # At large scales people are drawn and developed a chunk of days at a time; what couples
    # them (duplicates of earlier people, referrals, conversation ids, GA4's sums) must not
    # notice where one chunk ends.
    assert day_chunks(np.array([3, 0, 5, 9, 1]), 8) == [slice(0, 3), slice(3, 4), slice(4, 5)]
    monkeypatch.setattr(simulator, "CHUNK_PEOPLE", 40)
    chunked = simulate(SMALL)
    _assert_same_business(chunked, business)
    write_landing_files(chunked, tmp_path)
    assert _digest(tmp_path) == _digest(landing[0])


def test_conversations_rendered_by_worker_processes_are_the_same(landing, business, tmp_path):
    # Large demos render their conversations in worker processes, a batch at a time, across
    # month boundaries; the files must not change. (One core: rendered here, still the same.)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(landing_module, "PARALLEL_RENDER_FROM", 0)
        patch.setattr(conversations, "RENDER_BATCH", 97)
        write_landing_files(business, tmp_path)
    assert _digest(tmp_path) == _digest(landing[0])


def test_spilled_tables_write_the_parquet_their_frames_write(business, tmp_path):
    # Large tables go to Parquet straight from their Arrow parts, never becoming a DataFrame.
    for kind, tables in (("crm", business.crm), ("truth", business.truth)):
        for name in tables:
            direct, framed = tmp_path / f"{kind}-{name}.parquet", tmp_path / f"{kind}-{name}-df"
            tables.to_parquet(name, direct)
            tables[name].to_parquet(framed, index=False)
            pd.testing.assert_frame_equal(pd.read_parquet(direct), pd.read_parquet(framed))
            assert tables.rows(name) == len(tables[name])


def test_contact_ids_stay_unique_at_large_scales():
    # Above scale 100 a day has more consumers than the 2000 numbers below the business ones.
    assert people.id_multiplier(100) == 1 and people.id_multiplier(1000) == 100
    contacts = simulate(DemoConfig(seed=3, scale=1000, days=1)).crm["contacts"]
    assert len(contacts) > 5000
    assert contacts["contact_id"].is_unique
    assert contacts["contact_id"].str.fullmatch(r"C\d{12}").all()


def _run_demo(root: Path, config: DemoConfig) -> None:
    """`flywheel demo`'s writing and loading steps: the demo asset, then the raw assets (the
    file loaders, and GA4 and Search Console over every simulated day)."""
    reports = load_reports()
    partitions = daily_partitions(config.start_date, config.end_date)
    resources = {
        "warehouse": WarehouseResource(path=str(root / "flywheel.duckdb")),
        "paths": FlywheelPaths(
            home=str(root),
            landing_dir=str(root / "landing"),
            reports_dir=str(root / "reports"),
            serving_dir=str(root / "serving"),
            demo_dir=str(root / "demo"),
        ),
        "demo": DemoResource(seed=config.seed, scale=config.scale, days=config.days),
        "ga4": Ga4Resource(mode="demo", demo_snapshot_dir=str(root / "demo" / "ga4")),
        "search_console": SearchConsoleResource(
            mode="demo", demo_snapshot_dir=str(root / "demo" / "search_console")
        ),
    }
    assets = [
        demo_business,
        *build_file_assets([DEMO_BUSINESS]),
        *build_ga4_assets(reports.ga4, partitions, [DEMO_BUSINESS]),
        *build_search_console_assets(reports.search_console, partitions, [DEMO_BUSINESS]),
    ]
    days = range_tags(config.start_date.isoformat(), config.end_date.isoformat())
    assert dg.materialize(assets, resources=resources, tags=days).success


def _raw_rows(root: Path) -> dict[str, list[tuple]]:
    """Every raw table but the manifest, rows sorted, without `_loaded_at` (when, not what)."""
    with connect(root / "flywheel.duckdb", read_only=True) as conn:
        tables = conn.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'raw' and table_name <> 'file_manifest' order by 1"
        ).fetchall()
        return {
            table: sorted(
                conn.execute(f"select * exclude (_loaded_at) from raw.{table}").fetchall(),
                key=repr,
            )
            for (table,) in tables
        }


def test_a_demo_rerun_leaves_exactly_the_new_business_in_raw(tmp_path):
    """Another seed and fewer days: the raw assets themselves retire the demo files the
    rewrite removed and delete the Google rows of days no longer simulated."""
    before = DemoConfig(seed=8, scale=0.1, days=70)  # July to September
    after = DemoConfig(seed=7, scale=0.1, days=40)  # August and September only
    rerun, fresh = tmp_path / "rerun", tmp_path / "fresh"
    _run_demo(rerun, before)
    # A real drop beside the demo's keeps the documented rule: its rows stay, also when the
    # user removes it (the folder mirrors `demo_*` files only).
    for root in (rerun, fresh):
        foreign = root / "landing" / "crm" / "orders" / "shop_export.csv"
        foreign.parent.mkdir(parents=True, exist_ok=True)
        foreign.write_text("order_id,contact_id,ordered_at,revenue\nX1,c1,2026-08-01T10:00:00Z,9\n")
    _run_demo(rerun, after)
    _run_demo(fresh, after)

    raw = _raw_rows(rerun)
    assert raw == _raw_rows(fresh)
    assert {"ga4_site_daily", "gsc_search_analytics", "crm_orders"} <= raw.keys()
    first_day = min(row[0] for row in raw["gsc_search_analytics"])
    assert first_day == after.start_date  # July's Google rows are gone
    with connect(rerun / "flywheel.duckdb", read_only=True) as conn:
        retired = conn.execute(
            "select file from raw.file_manifest where status = 'retired' order by 1"
        ).fetchall()
    assert ("crm/contacts/demo_contacts_2026-07.csv",) in retired
    assert ("conversations/demo_conversations_2026-07.jsonl",) in retired

    (rerun / "landing" / "crm" / "orders" / "shop_export.csv").unlink()
    _run_demo(rerun, after)
    assert _raw_rows(rerun) == raw  # the user's removed export keeps its rows


def test_landing_file_formats(landing):
    root, _ = landing
    contacts = pd.concat(
        pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in (root / "crm" / "contacts").glob("*.csv")
    )
    assert list(contacts.columns) == CRM_COLUMNS["contacts"]
    assert contacts["created_at"].str.match(ISO_WITH_OFFSET).all()
    orders = pd.concat(pd.read_csv(p, dtype=str) for p in (root / "crm" / "orders").glob("*.csv"))
    assert orders["ordered_at"].str.endswith("+02:00").all()
    assert orders["revenue"].str.fullmatch(r"\d+\.\d{2}").all()
    deals = pd.concat(
        pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in (root / "crm" / "deals").glob("*.csv")
    )
    assert set(deals["is_won"]) <= {"true", "false", ""}
    spend = pd.concat(pd.read_csv(p, dtype=str) for p in (root / "crm" / "ad_spend").glob("*.csv"))
    assert spend["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    lines = [
        line
        for p in (root / "conversations").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(lines) > 500


def test_different_seed_differs(business):
    other = simulate(DemoConfig(seed=8, scale=0.2, days=120))
    assert not business.crm["contacts"].equals(other.crm["contacts"])
    assert not business.gsc.equals(other.gsc)


def test_volumes_scale():
    small = simulate(DemoConfig(seed=3, scale=0.1, days=90))
    large = simulate(DemoConfig(seed=3, scale=0.4, days=90))
    for size in (
        lambda b: len(b.crm["contacts"]),
        lambda b: len(b.conversations),
        lambda b: len(b.crm["orders"]),
        lambda b: b.ga4["site_daily"]["sessions"].sum(),
        lambda b: b.gsc["clicks"].sum(),
    ):
        ratio = size(large) / size(small)
        assert 2.8 < ratio < 5.5, ratio


def test_history_is_prefix_stable():
    short = DemoConfig(seed=5, scale=0.15, days=60)
    longer = short.advanced(20)
    a, b = simulate(short), simulate(longer)
    assert longer.start_date == short.start_date
    cut = pd.Timestamp(short.end_date, tz="UTC") + pd.Timedelta(days=1)
    for table, column in (("contacts", "created_at"), ("orders", "ordered_at")):
        head = b.crm[table][b.crm[table][column] < cut].reset_index(drop=True)
        pd.testing.assert_frame_equal(a.crm[table], head)
    day = pd.Timestamp(short.end_date)
    pd.testing.assert_frame_equal(a.gsc, b.gsc[b.gsc["date"] <= day].reset_index(drop=True))


def test_ctr_falls_with_position(business):
    gsc = business.gsc
    bucket = np.floor(gsc["position"]).clip(upper=25)
    agg = gsc.groupby(bucket)[["clicks", "impressions"]].sum()
    ctr = agg["clicks"] / agg["impressions"]
    assert 0.18 < ctr.loc[1.0] < 0.45
    assert 0.06 < ctr.loc[3.0] < 0.16
    assert ctr.loc[1.0] > ctr.loc[3.0] > ctr.loc[6.0] > ctr.loc[10.0] > ctr.loc[15.0]
    page_two = agg.loc[11:20]
    assert page_two["clicks"].sum() / page_two["impressions"].sum() < 0.01
    truth = business.truth["queries"]
    assert (truth["true_ctr_factor"] < 0.7).sum() >= 3  # titles that under-perform
    assert (truth["true_click_gain"] > 0).any()


def test_search_pages_are_site_pages(business):
    ga_pages = set(business.ga4["pages"]["page_path"])
    gsc_paths = set(business.gsc["page"].str.removeprefix("https://shop.example"))
    assert gsc_paths <= ga_pages
    landing = set(business.ga4["traffic_acquisition"]["landing_page"])
    assert gsc_paths & landing


def test_topics_and_content_gaps(business):
    topics = business.truth["topics"]
    assert len(topics) >= 10
    gaps = topics[topics["is_content_gap"]]
    assert len(gaps) >= 3
    assert {"bulk_quotes", "product_care"} <= set(gaps["topic_key"])
    site_paths = set(business.ga4["pages"]["page_path"])
    helped = topics[topics["has_help_page"]]
    assert set(helped["help_page_path"]) <= site_paths
    assert not site_paths & {"/help/bulk-orders", "/help/product-care"}
    counts = business.truth["conversation_topics"]["topic_key"].value_counts()
    assert set(counts.index) == set(topics["topic_key"])
    assert counts.max() > 2.5 * counts.min()  # topics differ in volume


def test_rising_topic(business):
    ct = business.truth["conversation_topics"]
    day = ct["conversation_id"].str[2:10]
    half = day.sort_values().iloc[len(day) // 2]
    early = ct[day < half]["topic_key"].value_counts(normalize=True)
    late = ct[day >= half]["topic_key"].value_counts(normalize=True)
    assert late["customs_duties"] > early["customs_duties"]


def test_conversion_truth_depends_on_observable_features():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score

    biz = simulate(DemoConfig(seed=11, scale=0.6, days=180))
    leads = biz.crm["contacts"].merge(biz.truth["leads"], on="contact_id")
    # Link conversations the way identity resolution would: by contact_id, else by email.
    contacts = [c["contact"] for c in biz.conversations]
    by_id = pd.Series([c.get("contact_id") for c in contacts]).value_counts()
    emails = [
        c["email"].strip().lower() for c in contacts if "email" in c and "contact_id" not in c
    ]
    by_email = pd.Series(emails, dtype=object).value_counts()
    email = leads["email"].fillna("").str.strip().str.lower()
    leads["conversations"] = (
        leads["contact_id"].map(by_id).fillna(0) + email.map(by_email).fillna(0)
    ).clip(upper=5)
    features = pd.get_dummies(
        leads[["source", "medium", "company_size", "industry", "first_landing_page"]].fillna("none")
    ).astype(float)
    features["conversations"] = leads["conversations"]
    y = leads["converted_90d"].astype(int).to_numpy()
    order = leads["created_at"].rank(method="first").to_numpy()
    train = order <= len(leads) * 0.7
    model = LogisticRegression(max_iter=2000).fit(features[train], y[train])
    p = model.predict_proba(features[~train])[:, 1]
    base = np.full((~train).sum(), y[train].mean())
    assert roc_auc_score(y[~train], p) > 0.66
    assert log_loss(y[~train], p) < log_loss(y[~train], base)
    assert leads["p_convert_90d"].between(0, 1).all()
    assert roc_auc_score(y, leads["p_convert_90d"]) > 0.7


def test_customer_truth(business):
    customers = business.truth["customers"]
    assert (customers["purchase_rate_per_day"] > 0).all()
    assert customers["dropout_p"].between(0, 1).all()
    assert (customers.loc[~customers["is_alive"], "expected_orders_90d"] == 0).all()
    assert set(customers["contact_id"]) == set(business.crm["orders"]["contact_id"])
    deals = business.truth["deals"]
    assert deals["p_win"].between(0, 1).all()
    assert set(deals["deal_id"]) == set(business.crm["deals"]["deal_id"])


def test_promoters_refer(business):
    nps = business.crm["nps_responses"].drop_duplicates("contact_id", keep="last")
    referrers = business.crm["referrals"]["referrer_contact_id"]
    scores = nps.set_index("contact_id").loc[referrers, "score"]
    assert (scores >= 9).mean() > 0.6


def test_create_content_effect_reduces_topic_volume():
    base = DemoConfig(seed=9, scale=0.3, days=120)
    applied = dt.date(2026, 8, 1)
    treated = simulate(base.with_actions(("create_content", "product_care", applied)))
    control = simulate(base)

    def after(biz: object, topic: str, same: bool) -> int:
        ct = biz.truth["conversation_topics"]
        late = ct["conversation_id"].str[2:10] >= applied.strftime("%Y%m%d")
        mask = ct["topic_key"] == topic if same else ct["topic_key"] != topic
        return int((late & mask).sum())

    assert after(treated, "product_care", True) < 0.75 * after(control, "product_care", True)
    # Other topics: anonymous chats are untouched; leads' chats move only slightly (the new page
    # brings organic visitors, hence a few more leads).
    assert after(treated, "product_care", False) == pytest.approx(
        after(control, "product_care", False), rel=0.03
    )
    anon = [
        b.truth["conversation_topics"].query("origin == 'anon' and topic_key != 'product_care'")
        for b in (treated, control)
    ]
    pd.testing.assert_frame_equal(anon[0].reset_index(drop=True), anon[1].reset_index(drop=True))
    assert "/help/product-care" in set(treated.ga4["pages"]["page_path"])
    assert "/help/product-care" not in set(control.ga4["pages"]["page_path"])


def test_follow_up_lead_effect_raises_conversion():
    base = DemoConfig(seed=9, scale=0.3, days=120)
    control = simulate(base)
    leads = control.crm["contacts"].merge(control.truth["leads"], on="contact_id")
    window = leads["created_at"].between(
        pd.Timestamp("2026-07-01", tz="UTC"), pd.Timestamp("2026-07-31", tz="UTC")
    )
    targets = leads[window & ~leads["converted_90d"]]["contact_id"].tolist()
    assert len(targets) > 30
    actions = tuple(("follow_up_lead", cid, dt.date(2026, 8, 1)) for cid in targets)
    treated = simulate(base.with_actions(*actions))
    t = treated.truth["leads"].set_index("contact_id").loc[targets, "converted_90d"]
    assert t.sum() > 0  # some who would not have converted now do
    untouched = control.truth["leads"][~control.truth["leads"]["contact_id"].isin(targets)]
    again = treated.truth["leads"].set_index("contact_id").loc[untouched["contact_id"]]
    assert (again["converted_90d"].to_numpy() == untouched["converted_90d"].to_numpy()).all()


def test_ad_spend_drives_paid_sessions(business):
    spend = business.crm["ad_spend"].groupby(["date", "campaign"])["spend"].sum()
    ga = business.ga4["traffic_acquisition"]
    paid = ga[ga["session_default_channel_group"].isin(["Paid Search", "Paid Social"])]
    sessions = paid.groupby(["date", "session_campaign_name"])["sessions"].sum()
    sessions.index = sessions.index.set_names(["date", "campaign"])
    joined = pd.concat([spend, sessions], axis=1).dropna().reset_index()
    per_campaign = joined.groupby("campaign")[["spend", "sessions"]].corr().xs("spend", level=1)
    assert per_campaign["sessions"].median() > 0.6


def test_weekly_pattern(business):
    daily = business.ga4["site_daily"].set_index("date")["sessions"]
    by_weekday = daily.groupby(daily.index.dayofweek).mean()
    assert by_weekday.max() / by_weekday.min() > 1.1
    deals = business.crm["deals"]["created_at"].dt.dayofweek
    assert (deals >= 5).mean() < 0.15  # business buyers rarely open deals at weekends


def test_rejects_unknown_action():
    with pytest.raises(ValueError, match="unknown action"):
        simulate(DemoConfig(scale=0.1, days=30, applied_actions=(("nope", "x", "2026-09-01"),)))


# --- shift_budget and fix_content ------------------------------------------------------------

SHIFT_BASE = DemoConfig(seed=9, scale=0.3, days=120)
SHIFT_DAY = dt.date(2026, 8, 15)
GIVER, RECEIVER = "generic_apparel", "brand_search"


@pytest.fixture(scope="module")
def shifted():
    control = simulate(SHIFT_BASE)
    treated = simulate(
        SHIFT_BASE.with_actions(("shift_budget", f"{GIVER} -> {RECEIVER}", SHIFT_DAY))
    )
    return control, treated


def _by_campaign(biz, frame: str, column: str) -> pd.DataFrame:
    if frame == "ad_spend":
        rows, name = biz.crm["ad_spend"], "campaign"
    else:
        rows, name = biz.ga4["traffic_acquisition"], "session_campaign_name"
    return rows.groupby(["date", name])[column].sum().unstack(fill_value=0)


def _split_at_the_shift(shifted, frame: str, column: str):
    """Control and treated by day × campaign, the same before SHIFT_DAY, and the days from
    it on."""
    control, treated = (_by_campaign(b, frame, column) for b in shifted)
    before = control.index < pd.Timestamp(SHIFT_DAY)
    pd.testing.assert_frame_equal(treated[before], control[before])
    return control, treated, ~before


def test_shift_budget_moves_spend_from_the_giver_to_the_receiver_from_its_day(shifted):
    control, treated, after = _split_at_the_shift(shifted, "ad_spend", "spend")
    diff = (treated - control)[after]
    # only the two campaigns move, by the same money, so the day's total spend holds
    assert (diff.drop(columns=[GIVER, RECEIVER]).abs() < 1e-9).all().all()
    assert (diff[RECEIVER] > 0).all() and (diff[GIVER] < 0).all()
    assert np.allclose(diff[RECEIVER], -diff[GIVER], atol=0.011)
    assert np.allclose(treated[after].sum(axis=1), control[after].sum(axis=1), atol=0.011)
    share = effects.effect("shift_budget", "campaign_spend")
    ratio = treated.loc[after, RECEIVER] / control.loc[after, RECEIVER]
    assert np.allclose(ratio, 1 + share, atol=0.01)
    clicks = [_by_campaign(b, "ad_spend", "clicks") for b in shifted]
    assert (clicks[1][after][RECEIVER] >= clicks[0][after][RECEIVER]).all()
    assert clicks[1][after][RECEIVER].sum() > clicks[0][after][RECEIVER].sum()
    assert clicks[1][after][GIVER].sum() < clicks[0][after][GIVER].sum()


def test_shift_budget_raises_the_receivers_sessions_by_the_planted_share(shifted):
    control, treated, after = _split_at_the_shift(shifted, "ga4", "sessions")
    planted = effects.effect("shift_budget", "campaign_sessions")
    assert planted == pytest.approx(1.25**0.85 - 1)
    gain = treated.loc[after, RECEIVER].sum() / control.loc[after, RECEIVER].sum() - 1
    assert gain == pytest.approx(planted, abs=0.04)
    assert treated.loc[after, GIVER].sum() < control.loc[after, GIVER].sum()
    others = [c for c in control.columns if c not in (GIVER, RECEIVER)]
    # other campaigns keep their traffic (a session cell can only grow to hold a moved lead)
    assert treated.loc[after, others].sum().to_numpy() == pytest.approx(
        control.loc[after, others].sum().to_numpy(), rel=0.002
    )


def test_shift_budget_leaves_the_history_before_its_day_alone(shifted):
    control, treated = shifted
    cut = pd.Timestamp(SHIFT_DAY, tz="UTC")
    early = [b.crm["contacts"][b.crm["contacts"]["created_at"] < cut] for b in shifted]
    pd.testing.assert_frame_equal(early[1].reset_index(drop=True), early[0].reset_index(drop=True))
    late = [b.crm["contacts"][b.crm["contacts"]["created_at"] >= cut] for b in shifted]
    assert (late[1]["campaign"] == RECEIVER).sum() >= (late[0]["campaign"] == RECEIVER).sum()
    site = [b.ga4["site_daily"].set_index("date") for b in shifted]
    early_days = site[0].index < pd.Timestamp(SHIFT_DAY)
    pd.testing.assert_frame_equal(site[1][early_days], site[0][early_days])
    assert treated.truth["action_effects"].equals(control.truth["action_effects"])


def test_shift_budget_targets_name_two_campaigns():
    assert effects.budget_pair("a -> b") == ("a", "b")
    for bad in ("brand_search", "a -> a", " -> b", "a -> b -> c"):
        with pytest.raises(ValueError, match="shift_budget target"):
            simulate(
                DemoConfig(
                    scale=0.1, days=30, applied_actions=(("shift_budget", bad, "2026-09-20"),)
                )
            )
    # a campaign the shop does not run moves nothing
    base = DemoConfig(seed=3, scale=0.1, days=40)
    unknown = simulate(base.with_actions(("shift_budget", "nope -> brand_search", "2026-09-20")))
    pd.testing.assert_frame_equal(unknown.crm["ad_spend"], simulate(base).crm["ad_spend"])


def test_fix_content_is_known_and_plants_nothing():
    assert effects.effect("fix_content", "topic_resolution_rate") == 0.0
    base = DemoConfig(seed=3, scale=0.1, days=40)
    control = simulate(base)
    fixed = simulate(base.with_actions(("fix_content", "shipping_delay", "2026-09-01")))
    for table, frame in control.crm.items():
        pd.testing.assert_frame_equal(fixed.crm[table], frame, obj=table)
    for report, frame in control.ga4.items():
        pd.testing.assert_frame_equal(fixed.ga4[report], frame, obj=report)
    pd.testing.assert_frame_equal(fixed.gsc, control.gsc)
    assert list(fixed.conversations) == list(control.conversations)
