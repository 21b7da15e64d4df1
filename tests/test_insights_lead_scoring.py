"""Lead scoring: beats naive baselines on a real signal, never sees post-outcome data."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal

from flywheel_pipeline.insights import lead_scoring
from flywheel_pipeline.insights._common import end_of_day
from flywheel_pipeline.insights.lead_rows import LeadRows, load_frames
from flywheel_pipeline.insights.lead_scoring import (
    ChannelRate,
    build_features,
    label_leads,
    lift_at,
    score_leads,
)
from tests.scoring_support import assert_the_baseline_serves, holdout_metrics, planted_logit

END = pd.Timestamp("2026-06-30 12:00")
CHANNELS = ["Organic Search", "Paid Search", "Email", "Direct", "Paid Social"]


def make_leads(n=3000, seed=0, days=400, signal=True, post_outcome_chats=True, flip_days=None):
    """Synthetic leads. With ``signal`` the true conversion depends on channel, industry,
    company size and early conversations. Converters chat again after ordering (a trap: a
    model that read conversations after the scoring time would look brilliant). With
    ``flip_days`` the channel matters a little and the industry a lot, the other way round
    for leads created in the last ``flip_days``: what the past teaches misleads."""
    rng = np.random.default_rng(seed)
    created = END - pd.to_timedelta(rng.uniform(0, days, n), unit="D")
    channel = rng.choice(CHANNELS, n)
    industry = rng.choice(["retail", "health", "software", "education"], n)
    size = rng.choice(["1-10", "11-50", "51-200", "201+"], n)
    early_chat = rng.random(n) < 0.3
    if signal:
        logit = planted_logit(
            -2.8,
            channel,
            1.3,
            -1.0,
            (industry == "software", 1.4),
            (size == "201+", 1.1),
            (early_chat, 1.6),
        )
    else:
        logit = np.full(n, -1.6)
    if flip_days is not None:
        late = created > END - pd.Timedelta(days=flip_days)
        logit = (
            -1.0
            + np.where(channel == "Email", 0.8, 0)
            + np.where(industry == "software", 2.5, -0.5) * np.where(late, -1, 1)
        )
    p = 1 / (1 + np.exp(-logit))
    converts = rng.random(n) < p
    ids = [f"L{i:05d}" for i in range(n)]
    contacts = pd.DataFrame(
        {
            "contact_id": ids,
            "created_at": created,
            "channel_group": channel,
            "source": "src",
            "medium": "med",
            "industry": industry,
            "company_size": size,
            "country": rng.choice(["de", "fr", "us"], n),
            "first_landing_page": rng.choice(["/", "/products/a", "/help/faq", "/blog/x"], n),
        }
    )
    to_order = rng.exponential(20, n) + 1.5  # days after creation (after the 1-day window)
    orders = pd.DataFrame(
        {
            "contact_id": np.array(ids)[converts],
            "ordered_at": (created + pd.to_timedelta(to_order, unit="D"))[converts],
        }
    )
    chats = []
    for i in np.flatnonzero(early_chat):
        chats.append((ids[i], created[i] + pd.Timedelta(hours=float(rng.uniform(0, 20)))))
    if post_outcome_chats:
        for i in np.flatnonzero(converts):
            for _ in range(3):
                at = created[i] + pd.Timedelta(days=float(to_order[i] + rng.uniform(0, 5)))
                chats.append((ids[i], at))
    conversations = pd.DataFrame(chats, columns=["contact_id", "started_at"])
    # the data end at END: nothing after it has happened yet
    orders = orders[orders["ordered_at"] <= END]
    conversations = conversations[conversations["started_at"] <= END]
    return contacts, conversations, orders


def test_beats_baselines_with_real_signal():
    contacts, conversations, orders = make_leads()
    res = score_leads(contacts, conversations, orders)
    m, auc, brier, lift = holdout_metrics(res, "channel rate", "leads")
    assert auc.value > 0.72 and auc.value > auc.baseline_value + 0.05
    assert brier.value < brier.baseline_value
    assert brier.value < m.loc["brier_base_rate", "baseline_value"]
    assert lift.value > lift.baseline_value and lift.value > 1.8
    assert m.loc["cold_start", "value"] == 0
    # scores: every open lead (no order by data_through), probabilities, dated by the data
    customers = set(orders["contact_id"])
    assert set(res.lead_scores["contact_id"]) == set(contacts["contact_id"]) - customers
    assert res.lead_scores["lead_score"].between(0, 1).all()
    assert (res.lead_scores["data_through"] == END.date()).all()
    # calibration-ish: the mean holdout prediction is near the observed rate
    assert abs(m.loc["base_rate", "value"] - m.loc["base_rate", "baseline_value"]) < 0.1
    # it beats the channel rates on AUC, so it serves, and every row of the run says so
    assert res.method == "calibrated_logistic" and res.serving.served_by == "model"
    assert (res.model_runs["served_by"] == "model").all()
    assert res.model_runs["serving_reason"].str.endswith("the model serves").all()


def _channel_rates_on_all_labelled(contacts, orders, day):
    labelled = label_leads(contacts, orders, day)
    channel = labelled["contact_id"].map(contacts.set_index("contact_id")["channel_group"])
    return ChannelRate.fit(channel, labelled["label"])


def test_the_channel_rates_serve_when_the_model_loses():
    """The industry decides, the other way round for the latest leads (the holdout): the
    model learns the past's lesson and loses on the holdout, so the channel rates (refitted
    on every labelled lead) are what is published."""
    contacts, conversations, orders = make_leads(signal=False, seed=7, flip_days=160)
    res = score_leads(contacts, conversations, orders, age_adjust=False)
    assert_the_baseline_serves(res, "auc", "channel_rate")
    expected = _channel_rates_on_all_labelled(contacts, orders, END.date())
    channel = res.lead_scores["contact_id"].map(contacts.set_index("contact_id")["channel_group"])
    np.testing.assert_allclose(res.lead_scores["lead_score"], expected.predict(channel))
    customers = set(orders["contact_id"])
    assert set(res.lead_scores["contact_id"]) == set(contacts["contact_id"]) - customers


def test_post_outcome_data_does_not_leak():
    """No pre-outcome signal at all; converters chat a lot *after* ordering. A model reading
    those chats would reach AUC ~1 — ours must stay near chance."""
    contacts, conversations, orders = make_leads(signal=False, seed=5)
    res = score_leads(contacts, conversations, orders)
    m = res.model_runs.set_index("metric")
    auc = m.loc["auc", "value"]
    assert m.loc["cold_start", "value"] == 0
    assert auc < 0.6, f"holdout AUC {auc:.3f}: post-outcome conversations leak into features"


def test_features_ignore_everything_after_scoring_time():
    contacts, conversations, _ = make_leads(n=400, seed=2)
    base = build_features(contacts, conversations)
    created = contacts.set_index("contact_id")["created_at"]
    later = conversations["started_at"] >= conversations["contact_id"].map(created) + pd.Timedelta(
        days=1
    )
    # drop, then multiply, every conversation after the scoring time: features do not move
    dropped = build_features(contacts, conversations[~later])
    tripled = build_features(contacts, pd.concat([conversations] + [conversations[later]] * 3))
    pd.testing.assert_frame_equal(base, dropped)
    pd.testing.assert_frame_equal(base, tripled)
    assert base["has_conversation"].sum() > 0


def test_the_warehouse_labels_and_counts_as_the_frame_rules_do():
    """LeadRows (the warehouse pass the scorer reads) labels the leads as label_leads does
    and counts the conversations known at scoring time as build_features does, with rows
    after data_through ignored."""
    contacts, conversations, orders = make_leads(n=800, seed=3)
    day = (END - pd.Timedelta(days=40)).date()
    stop = end_of_day(day)
    with duckdb.connect() as conn:
        rows = LeadRows.prepare(
            conn,
            load_frames(conn, contacts, conversations, orders),
            day,
            horizon_days=lead_scoring.HORIZON_DAYS,
            feature_window_days=lead_scoring.FEATURE_WINDOW_DAYS,
        )
        labels = rows.labels()
        known = conn.execute(
            "select contact_id, known_conversations from lead_rows order by contact_id"
        ).df()
    visible = contacts[contacts["created_at"] < stop]
    expected = label_leads(visible, orders[orders["ordered_at"] < stop], day)
    expected = expected.sort_values(["created_at", "contact_id"], ignore_index=True)
    assert 0 < expected["label"].sum() < len(expected) < len(visible)
    assert labels["label"].tolist() == expected["label"].tolist()
    assert (labels["created_at"] == expected["created_at"]).all()
    np.testing.assert_allclose(labels["days_to_convert"], expected["days_to_convert"])
    features = build_features(
        visible, conversations[conversations["started_at"] < stop], as_of=stop
    ).sort_index()
    counts = np.expm1(features["log_conversations"]).round().astype(int)
    assert known["known_conversations"].tolist() == counts.tolist()
    assert known["known_conversations"].gt(0).any()


def test_only_closed_windows_are_labelled_and_future_rows_are_ignored():
    contacts, conversations, orders = make_leads(n=2000, seed=3)
    labelled = label_leads(contacts, orders, END.date())
    assert (
        labelled["created_at"] + pd.Timedelta(days=90) < END.normalize() + pd.Timedelta(days=1)
    ).all()
    assert labelled["label"].isin([0, 1]).all()
    assert (labelled.loc[labelled["label"] == 1, "days_to_convert"] <= 90).all()
    # replay: scoring as of an earlier day gives the same result with or without later rows
    cut = (END - pd.Timedelta(days=60)).date()
    full = score_leads(contacts, conversations, orders, data_through=cut)
    visible = score_leads(
        contacts[contacts["created_at"] < pd.Timestamp(cut) + pd.Timedelta(days=1)],
        conversations[conversations["started_at"] < pd.Timestamp(cut) + pd.Timedelta(days=1)],
        orders[orders["ordered_at"] < pd.Timestamp(cut) + pd.Timedelta(days=1)],
    )
    pd.testing.assert_frame_equal(full.lead_scores, visible.lead_scores)
    pd.testing.assert_frame_equal(full.model_runs, visible.model_runs)
    assert full.data_through == cut


def test_cold_start_uses_channel_rates():
    contacts, conversations, orders = make_leads(n=500, seed=4)
    res = score_leads(contacts, conversations, orders)
    m = res.model_runs.set_index("metric")
    assert res.method == "channel_rate"
    assert m.loc["cold_start", "value"] == 1
    assert (res.model_runs["served_by"] == "rules").all()
    assert res.model_runs["serving_reason"].str.startswith("cold start: ").all()
    assert m.loc["converted_leads", "value"] < 120 == m.loc["converted_leads", "baseline_value"]
    assert res.lead_scores["lead_score"].between(0, 1).all()
    # unadjusted scores are exactly the smoothed channel rates
    raw = score_leads(contacts, conversations, orders, age_adjust=False)
    per_channel = raw.lead_scores.merge(contacts, on="contact_id").groupby("channel_group")
    assert (per_channel["lead_score"].nunique() == 1).all()


def test_age_adjustment_lowers_old_open_leads():
    contacts, conversations, orders = make_leads(n=3000, seed=6)
    res = score_leads(contacts, conversations, orders)
    raw = score_leads(contacts, conversations, orders, age_adjust=False)
    joined = res.lead_scores.merge(raw.lead_scores, on="contact_id").merge(contacts)
    age = (END.normalize() + pd.Timedelta(days=1) - joined["created_at"]).dt.days
    assert (joined.loc[age >= 90, "lead_score_x"] == 0).all()
    assert (joined["lead_score_x"] <= joined["lead_score_y"] + 1e-12).all()
    young = joined[age < 3]
    assert (young["lead_score_x"] > 0.8 * young["lead_score_y"]).all()


def test_lift_and_channel_rate_helpers():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert lift_at(y, np.arange(10)[::-1], 0.1) == 5.0
    assert lift_at(y, np.ones(10), 0.1) == 1.0
    cr = ChannelRate.fit(pd.Series(["a", "a", "b"]), pd.Series([1, 1, 0]), strength=0)
    assert cr.predict(pd.Series(["a", "b", "zzz"])).tolist() == [1.0, 0.0, 2 / 3]


def test_the_classifier_trains_on_a_bounded_stratified_sample(monkeypatch):
    """Above ``max_train`` labelled leads the classifier fits a label × month sample of that
    size (the base rate kept); every open lead is still scored, in batches that change
    nothing; with the cap above the leads nothing changes at all."""
    contacts, conversations, orders = make_leads()
    full = score_leads(contacts, conversations, orders)
    assert_frame_equal(
        score_leads(contacts, conversations, orders, max_train=10**9).lead_scores,
        full.lead_scores,
    )
    fitted = []
    fit = lead_scoring._pipeline

    def recording(n_train, random_state):
        model = fit(n_train, random_state)
        original = model.fit
        model.fit = lambda x, y: fitted.append((len(x), float(np.mean(y)))) or original(x, y)
        return model

    monkeypatch.setattr(lead_scoring, "_pipeline", recording)
    capped = score_leads(contacts, conversations, orders, max_train=800, batch_rows=97)
    assert [n for n, _ in fitted] == [800, 800]  # the holdout's fit and the final one
    base = full.model_runs.set_index("metric").loc["base_rate", "baseline_value"]
    assert abs(fitted[0][1] - base) < 0.01  # the training base rate, to a lead
    runs = capped.model_runs.set_index("metric")
    assert runs.loc["auc", "value"] > runs.loc["auc", "baseline_value"]
    assert set(capped.lead_scores["contact_id"]) == set(full.lead_scores["contact_id"])
    monkeypatch.setattr(lead_scoring, "_pipeline", fit)
    batched = score_leads(contacts, conversations, orders, batch_rows=97)
    assert_frame_equal(batched.lead_scores, full.lead_scores)
    assert batched.model_runs.equals(full.model_runs)  # the holdout, too, in batches
