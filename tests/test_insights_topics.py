"""Topic discovery on planted synthetic clusters, cold start, trends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from flywheel_pipeline.insights.topics import (
    DEFAULT_RULES,
    classify_by_rules,
    discover_topics,
    label_from_terms,
    score_against_labels,
    topic_trends,
    user_text_from_messages,
)

PLANTED = {
    "delivery": ["parcel", "courier", "tracking number", "delivery late", "shipped", "arrive"],
    "refund": ["refund", "return label", "money back", "send it back", "returned item"],
    "invoice": ["invoice", "vat number", "billing address", "payment failed", "card charged"],
    "sizing": ["size chart", "fits small", "sizing", "measurements", "too tight", "length"],
    "bulk": ["bulk order", "wholesale price", "quote", "business account", "volume discount"],
    "password": ["password reset", "login", "locked out", "account access", "sign in"],
}
FILLER = ["hi", "hello there", "thanks", "please", "my order", "today", "can you check",
          "I bought", "last week", "the website", "your shop", "asap"]  # fmt: skip


def make_conversations(n: int, seed: int = 0, days: int = 120, rising: str | None = None):
    rng = np.random.default_rng(seed)
    topics = list(PLANTED)
    end = pd.Timestamp("2026-06-30 18:00")
    rows, truth = [], []
    for i in range(n):
        offset = rng.uniform(0, days)
        if rising and offset < 28 and rng.random() < 0.5:
            topic = rising
        else:
            topic = topics[rng.integers(len(topics))]
        words = list(rng.choice(PLANTED[topic], size=rng.integers(2, 4), replace=False))
        words += list(rng.choice(FILLER, size=rng.integers(2, 5)))
        # some noise: a word from another topic
        if rng.random() < 0.2:
            other = topics[rng.integers(len(topics))]
            words.append(str(rng.choice(PLANTED[other])))
        rng.shuffle(words)
        cid = f"c{i:05d}"
        rows.append({
            "conversation_id": cid,
            "started_at": end - pd.Timedelta(days=float(offset)),
            "user_text": " ".join(words) + " contact me at [email] or [phone]",
        })  # fmt: skip
        truth.append({"conversation_id": cid, "topic": topic})
    return pd.DataFrame(rows), pd.DataFrame(truth)


def test_recovers_planted_clusters():
    conv, truth = make_conversations(900, seed=1)
    res = discover_topics(conv)
    assert res.method == "kmeans"
    scores = score_against_labels(res.assignments, truth, "topic")
    # baseline: one topic for everything (NMI = ARI = 0); random assignment to k topics
    rng = np.random.default_rng(0)
    rand = rng.integers(res.n_topics, size=len(truth))
    base_nmi = normalized_mutual_info_score(truth["topic"], rand)
    base_ari = adjusted_rand_score(truth["topic"], rand)
    print(
        f"planted k=6, chosen k={res.n_topics}: NMI={scores['nmi']:.3f} ARI={scores['ari']:.3f}"
        f" (random baseline NMI={base_nmi:.3f} ARI={base_ari:.3f})"
    )
    assert scores["nmi"] > 0.8 and scores["ari"] > 0.7
    assert scores["nmi"] > base_nmi + 0.5
    assert 5 <= res.n_topics <= 8
    # model_runs: evaluation on the time split with a baseline beside it
    runs = res.model_runs.set_index("metric")
    cos = runs.loc["holdout_mean_cosine_to_topic"]
    assert cos["value"] > cos["baseline_value"]
    assert runs.loc["cold_start", "value"] == 0
    assert cos["holdout_rows"] > 0 and cos["train_rows"] > 0
    assert cos["holdout_rows"] + cos["train_rows"] == len(conv)
    assert res.model_runs["run_id"].nunique() == 1
    # outputs
    assert len(res.assignments) == len(conv)
    assert res.topics["conversations"].sum() == len(conv)
    assert list(res.topics["topic_id"]) == list(range(1, res.n_topics + 1))
    assert res.topics["conversations"].is_monotonic_decreasing
    for label in res.topics["label"]:
        assert 1 <= len(label.split(" / ")) <= 3
    assert not res.topics["top_terms"].str.contains("email|phone").any()


def test_deterministic_and_dated_by_data():
    conv, _ = make_conversations(400, seed=2)
    a = discover_topics(conv, k_range=(4, 8))
    b = discover_topics(conv.sample(frac=1.0, random_state=3), k_range=(4, 8))
    pd.testing.assert_frame_equal(a.topics, b.topics)
    pd.testing.assert_frame_equal(a.model_runs, b.model_runs)
    merged = a.assignments.merge(b.assignments, on="conversation_id")
    assert (merged["topic_id_x"] == merged["topic_id_y"]).all()
    expected = conv["started_at"].max().date()
    assert a.data_through == expected
    assert (a.assignments["data_through"] == expected).all()
    assert (a.model_runs["trained_at"] == pd.Timestamp(expected)).all()


def test_cold_start_falls_back_to_rules():
    conv, truth = make_conversations(150, seed=3)
    res = discover_topics(conv)
    assert res.method == "rules"
    runs = res.model_runs.set_index("metric")
    assert runs.loc["cold_start", "value"] == 1
    assert runs.loc["training_conversations_available", "baseline_value"] == 200
    assert len(res.assignments) == len(conv)
    assert set(res.topics["label"]) <= {*DEFAULT_RULES, "Other"}
    # the rules still make sense on this data
    joined = res.assignments.merge(truth, on="conversation_id").merge(res.topics, on="topic_id")
    deliveries = joined[joined["topic"] == "delivery"]
    assert (deliveries["label"] == "Delivery and order tracking").mean() > 0.6
    # just above the minimum, a model is trained
    conv2, _ = make_conversations(400, seed=3)
    assert discover_topics(conv2, min_conversations=200, k=6).method == "kmeans"


def test_rule_classifier():
    labels = classify_by_rules(
        ["Where is my parcel? tracking says delayed", "I want a refund", "hello", "bulk quote"]
    )
    assert labels == ["Delivery and order tracking", "Returns and refunds", "Other",
                      "Business accounts and quotes"]  # fmt: skip


def test_label_from_terms():
    assert label_from_terms(["refund", "refund request", "money", "money back", "label"]) == (
        "refund request / money back / label"
    )


def test_trends_find_rising_topic():
    conv, truth = make_conversations(1200, seed=4, days=84, rising="invoice")
    truth_ids = truth.assign(topic_id=truth["topic"].map({t: i for i, t in enumerate(PLANTED)}))
    trends = topic_trends(truth_ids[["conversation_id", "topic_id"]], conv)
    top = trends.iloc[0]
    assert top["topic_id"] == list(PLANTED).index("invoice")
    assert top["rank_rising"] == 1 and top["trend_28d"] > 0.5
    assert (
        trends["conversations_28d"].sum()
        == (
            conv["started_at"] >= conv["started_at"].max().normalize() - pd.Timedelta(days=27)
        ).sum()
    )


def test_user_text_from_messages():
    msgs = pd.DataFrame({
        "conversation_id": ["a", "a", "a", "b"],
        "message_index": [2, 0, 1, 0],
        "role": ["user", "user", "assistant", "USER"],
        "text": ["second", "first", "bot", "only"],
    })  # fmt: skip
    joined = user_text_from_messages(msgs)
    assert joined["a"] == "first second" and joined["b"] == "only"


def test_missing_columns_raise():
    with pytest.raises(ValueError, match="user_text"):
        discover_topics(pd.DataFrame({"conversation_id": [], "started_at": []}))
