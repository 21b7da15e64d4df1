"""Intent topics on planted synthetic intents: recovery, learned topic count, entities that
must not define a topic, labels, stable ids across retrains, cold start, trends."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import cut_tree, linkage
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from flywheel_pipeline.insights import topics as topics_module
from flywheel_pipeline.insights.assets import conversation_topic_model
from flywheel_pipeline.insights.intents import (
    Analyzer,
    catalog_terms,
    choose_candidate,
    fit_intents,
    fit_sample,
    light_stem,
    merge_by_modularity,
    modularity,
)
from flywheel_pipeline.insights.topics import (
    DEFAULT_RULES,
    TOPIC_COLUMNS,
    TopicRows,
    classify_by_rules,
    discover_topic_rows,
    discover_topics,
    key_terms,
    label_from_terms,
    match_topic_ids,
    representative_question,
    score_against_labels,
    topic_trends,
    user_text_from_messages,
)
from flywheel_pipeline.insights.typos import likely_typos
from flywheel_pipeline.warehouse import WarehouseResource, connect, read_relation, replace_table

END = pd.Timestamp("2026-06-30 18:00")

PLANTED = {
    "delivery": ["parcel", "courier", "tracking number", "delivery late", "shipped", "arrive"],
    "refund": ["refund", "return label", "money back", "send it back", "returned item"],
    "invoice": ["invoice", "vat number", "billing address", "payment failed", "card charged"],
    "sizing": ["size chart", "fits small", "sizing", "measurements", "too tight", "length"],
    "bulk": ["bulk order", "wholesale price", "quote", "business account", "volume discount"],
    "password": ["password reset", "login", "locked out", "account access", "sign in"],
}
FILLER = [
    "hi",
    "hello there",
    "thanks",
    "please",
    "my order",
    "today",
    "can you check",
    "I bought",
    "last week",
    "the website",
    "your shop",
    "asap",
]
PRODUCTS = [
    "merino crew sweater",
    "rain shell jacket",
    "organic cotton tee",
    "slim chinos",
    "wool beanie",
    "linen shirt",
    "denim jacket",
    "fleece hoodie",
]
PAGES = pd.DataFrame(
    {
        "page_path": ["/", "/help/returns", "/blog/care-guide"]
        + ["/products/" + p.replace(" ", "-") for p in PRODUCTS],
        "page_title": ["Shop | Clothing", "Returns & Refunds | Shop Help", "Care guide | Shop"]
        + [f"{p.title()} | Shop" for p in PRODUCTS],
    }
)


def make_conversations(n: int, seed: int = 0, days: int = 120, rising: str | None = None):
    """Conversations about the six PLANTED issues, with filler and a product name."""
    rng = np.random.default_rng(seed)
    topics = list(PLANTED)
    rows, truth = [], []
    for i in range(n):
        offset = rng.uniform(0, days)
        if rising and offset < 28 and rng.random() < 0.5:
            topic = rising
        else:
            topic = topics[rng.integers(len(topics))]
        words = list(rng.choice(PLANTED[topic], size=rng.integers(2, 4), replace=False))
        words += list(rng.choice(FILLER, size=rng.integers(2, 5)))
        words.append(f"the {rng.choice(PRODUCTS)}")
        # some noise: a word from another topic
        if rng.random() < 0.2:
            other = topics[rng.integers(len(topics))]
            words.append(str(rng.choice(PLANTED[other])))
        rng.shuffle(words)
        cid = f"c{i:05d}"
        rows.append(
            {
                "conversation_id": cid,
                "started_at": END - pd.Timedelta(days=float(offset)),
                "user_text": " ".join(words) + " order #SE-48213 contact me at [email] or [phone]",
            }
        )
        truth.append({"conversation_id": cid, "topic": topic})
    return pd.DataFrame(rows), pd.DataFrame(truth)


def _pseudo_words(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct made-up words (CVCVC), so that any number of intents has its own words."""
    consonants, vowels = list("bdfgklmnprstvz"), list("aeiou")
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(consonants if j % 2 == 0 else vowels) for j in range(5)))
    return sorted(out)


def make_intents(
    n_intents: int,
    per_intent: int,
    seed: int = 0,
    days: float = 150,
    late: dict[int, int] | None = None,
):
    """Synthetic chat: each intent has its own 10 words, three phrasings built from them and
    follow-up details; every message also names a product, an order number, a weekday and
    a size, and a third end with a reaction any intent gets. ``late``: intent -> first day
    (counted back from the end) it occurs on, for intents that appear during the data."""
    rng = np.random.default_rng(seed)
    vocab = _pseudo_words(rng, 10 * n_intents)
    reactions = ["thanks a lot", "that does not answer my question", "ok great", "hmm"]
    rows, truth = [], []
    for intent in range(n_intents):
        words = vocab[10 * intent : 10 * intent + 10]
        phrasings = [list(rng.choice(words[:8], 4, replace=False)) for _ in range(3)]
        span = (late or {}).get(intent, days)
        volume = int(per_intent * rng.uniform(0.6, 1.4))
        for j in range(volume):
            parts = [f"hi my {rng.choice(PRODUCTS)}"]
            parts += list(phrasings[rng.integers(3)])
            parts += [f"order {rng.integers(100000, 999999)} on monday size XL?"]
            if rng.random() < 0.6:
                parts += list(rng.choice(words[6:], 2, replace=False))
            if rng.random() < 0.35:
                parts.append(str(rng.choice(reactions)))
            cid = f"i{intent:02d}-{j:04d}"
            rows.append(
                {
                    "conversation_id": cid,
                    "started_at": END - pd.Timedelta(days=float(rng.uniform(0, span))),
                    "user_text": " ".join(parts),
                }
            )
            truth.append({"conversation_id": cid, "topic": intent})
    return pd.DataFrame(rows), pd.DataFrame(truth)


# --------------------------------------------------------------------------------------------
# recovery, topic count, entities


def test_recovers_planted_clusters():
    conv, truth = make_conversations(900, seed=1)
    res = discover_topics(conv, pages=PAGES)
    assert res.method == "intents"
    scores = score_against_labels(res.assignments.fillna({"topic_id": -1}), truth, "topic")
    # baseline: random assignment to as many topics
    rng = np.random.default_rng(0)
    rand = rng.integers(res.n_topics, size=len(truth))
    base_nmi = normalized_mutual_info_score(truth["topic"], rand)
    print(
        f"planted k=6, found k={res.n_topics}: NMI={scores['nmi']:.3f} ARI={scores['ari']:.3f}"
        f" (random baseline NMI={base_nmi:.3f})"
    )
    assert scores["nmi"] > 0.8 and scores["ari"] > 0.7
    assert 5 <= res.n_topics <= 8
    # model_runs: evaluation on the time split with a baseline beside it
    runs = res.model_runs.set_index("metric")
    cos = runs.loc["holdout_mean_cosine_to_topic"]
    assert cos["value"] > cos["baseline_value"]
    assert runs.loc["cold_start", "value"] == 0
    assert runs.loc["holdout_assignment_stability_ari", "value"] > 0.5
    assert runs.loc["unassigned_share", "value"] < 0.05
    assert cos["holdout_rows"] > 0 and cos["train_rows"] > 0
    assert cos["holdout_rows"] + cos["train_rows"] == len(conv)
    assert res.model_runs["run_id"].nunique() == 1
    # outputs: the columns other modules rely on, plus the new ones
    assert list(res.topics.columns) == TOPIC_COLUMNS
    assert len(res.assignments) == len(conv)
    assigned = res.assignments["topic_id"].notna()
    assert res.topics["conversations"].sum() == assigned.sum()
    assert list(res.topics["topic_id"]) == list(range(1, res.n_topics + 1))
    assert res.topics["conversations"].is_monotonic_decreasing
    words = set(" ".join(res.topics["top_terms"]).replace(",", " ").split())
    assert not words & {"email", "phone", "merino", "jacket", "se", "contact"}


@pytest.mark.parametrize(("n_intents", "per_intent"), [(4, 150), (30, 70)])
def test_the_number_of_topics_is_learned_without_a_ceiling(n_intents, per_intent):
    conv, truth = make_intents(n_intents, per_intent, seed=n_intents)
    res = discover_topics(conv, pages=PAGES)
    scores = score_against_labels(res.assignments.fillna({"topic_id": -1}), truth, "topic")
    print(f"{n_intents} planted: {res.n_topics} found, NMI {scores['nmi']:.3f}")
    assert abs(res.n_topics - n_intents) <= max(1, round(0.15 * n_intents))
    assert scores["nmi"] > 0.9 and scores["ari"] > 0.8


def test_products_sizes_dates_and_order_numbers_do_not_define_topics():
    conv, truth = make_intents(5, 120, seed=3)
    product = conv["user_text"].str.extract(f"({'|'.join(PRODUCTS)})")[0]
    res = discover_topics(conv, pages=PAGES)
    joined = res.assignments.merge(truth, on="conversation_id").assign(product=product)
    assert normalized_mutual_info_score(joined["topic"], joined["topic_id"].fillna(-1)) > 0.9
    assert normalized_mutual_info_score(joined["product"], joined["topic_id"].fillna(-1)) < 0.05
    words = " ".join(res.topics["top_terms"]).replace(",", " ").split()
    forbidden = {"merino", "sweater", "jacket", "chinos", "hoodie", "monday", "xl", "size"}
    assert not forbidden & set(words)
    # without the pages, the words every intent uses still weigh too little to split topics
    bare = discover_topics(conv)
    assert abs(bare.n_topics - 5) <= 1


def test_the_analyzer_drops_entities():
    analyzer = Analyzer(entities=catalog_terms(PAGES))
    text = (
        "Hi, my Merino Crew Sweaters (size XXL) from order #SE-123456 on Monday 3 March, "
        "shipped to Norway on 2026-05-01, code WELCOME10 - refund please! me@x.com [email]"
    )
    assert analyzer.tokens(text) == ["size", "order", "shipped", "code", "refund"]
    assert "code refund" in analyzer(text) and "code refund" in analyzer.phrases(text)
    assert "shipped code" in analyzer(text) and "shipped code" not in analyzer.phrases(text)
    assert light_stem("duties") == "duty" and light_stem("hoodies") == light_stem("hoodie")
    assert light_stem("returns") == "return" and light_stem("address") == "address"


def test_catalog_terms_come_from_product_pages_and_product_queries():
    queries = pd.DataFrame(
        {
            "query": [
                "navy merino sweater",
                "navy rain jacket",
                "navy wool beanie",
                "does organic cotton shrink",
                "how to return navy items",
                "fit guide",
                "slim fit chinos",
            ],
            "page": [
                "https://shop.example/products/merino-crew-sweater",
                "/products/rain-shell-jacket",
                "/products/wool-beanie",
                "/products/organic-cotton-tee",
                "/help/returns",
                "/help/size",
                "/products/slim-chinos",
            ],
        }
    )
    terms = catalog_terms(PAGES, queries)
    assert {"merino", "crew", "sweater", "rain", "jacket", "hoody", "chino", "linen"} <= terms
    # help and blog pages name intents, not products
    assert not {"return", "refund", "care", "guide", "shop", "clothing"} & terms
    # a product query's word is an attribute only when it spans several products and no
    # query of another page uses it ("navy" appears on a help query; "shrink" on one page)
    assert not {"navy", "shrink", "fit"} & terms
    queries.loc[4, "query"] = "how to return items"
    assert "navy" in catalog_terms(PAGES, queries)
    assert catalog_terms(None, None) == frozenset()


# --------------------------------------------------------------------------------------------
# labels


def test_key_terms_and_label_from_terms():
    assert label_from_terms(["refund", "refund request", "money", "money back", "label"]) == (
        "refund request / money back / label"
    )
    terms = ["gift card", "gift", "card", "balance", "card balance", "expire"]
    assert key_terms(terms) == ["gift card", "card balance", "expire"]
    assert key_terms(terms, max_terms=2) == ["gift card", "card balance"]


def test_topics_are_labelled_by_a_real_question_and_key_terms():
    conv, truth = make_conversations(900, seed=1)
    res = discover_topics(conv, pages=PAGES)
    texts = " ".join(conv["user_text"]).lower()
    for topic in res.topics.itertuples():
        terms = topic.top_terms.split(", ")
        assert 2 <= len(terms) <= 4
        question = topic.representative_question
        assert question and len(question) <= 91
        assert "[" not in question and not any(ch.isdigit() for ch in question)
        assert topic.label.startswith(question) and terms[0] in topic.label
    # the refund topic's terms say refund; its question is a real message's opening
    joined = res.assignments.merge(truth, on="conversation_id")
    refund_id = joined[joined["topic"] == "refund"]["topic_id"].mode()[0]
    refund = res.topics.set_index("topic_id").loc[refund_id]
    assert any(w in refund["top_terms"] for w in ("refund", "return", "money back"))
    assert refund["representative_question"].lower().split(" ")[0] in texts


def _vectorizer(texts: list[str], vocab: list[str] | None = None):
    """Unit-length term counts over ``vocab`` (default: every term of ``texts``)."""
    vec = Analyzer()
    vocab = vocab if vocab is not None else sorted({t for x in texts for t in vec(x)})
    index = {t: i for i, t in enumerate(vocab)}

    def vectorize(sentences):
        out = np.zeros((len(sentences), len(vocab)))
        for r, s in enumerate(sentences):
            for t in vec(s):
                out[r, index.get(t, 0)] += t in index
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    return vectorize


def test_representative_question_prefers_a_short_clean_opening_question():
    texts = [
        "where is my parcel? it's late. thanks",
        "Where is my parcel? ordered a week ago",
        "my parcel #SE123456 where is it, call me [phone]",
        "parcel parcel parcel parcel courier late late where tracking parcel parcel",
    ]
    vectorize = _vectorizer(texts)
    centroid = vectorize([" ".join(texts)])[0]
    assert representative_question(texts, centroid, vectorize) == "Where is my parcel?"
    masked = representative_question(texts[2:3], centroid, vectorize)
    assert masked == "My parcel … where is it, call me" and "[" not in masked


def test_representative_question_is_not_a_customers_typo():
    # the typo drops "expire" out of the vocabulary, which leaves the misspelt sentence
    # closer to a centre weighted to "gift card" than the phrasing most customers wrote
    texts = [
        *["does the gift card expire?"] * 5,
        *["my gift card, will it expire?"] * 4,
        *["does the gift card expie?"] * 2,
    ]
    vectorize = _vectorizer(texts, vocab=["gift", "card", "gift card", "expire"])
    centroid = vectorize(["gift card"])[0]
    assert representative_question(texts, centroid, vectorize) == "Does the gift card expire?"


def test_likely_typos_are_inner_one_letter_edits_of_a_much_commoner_word():
    counts = {"expire": 25, "expie": 2, "expiire": 1, "exipre": 1, "there": 135, "tehre": 2}
    counts |= {"order": 100, "orders": 3, "sent": 40, "resent": 2, "ship": 40, "shop": 1}
    counts |= {"colour": 10, "color": 5, "delay": 9, "relay": 1}
    # forms of a word (a suffix or prefix), short words, and words not far rarer are kept
    assert likely_typos(counts) == {"expie", "expiire", "exipre", "tehre"}
    assert likely_typos({"expire": 3, "expie": 1}) == set()


# --------------------------------------------------------------------------------------------
# stable ids


def test_match_topic_ids_keeps_ids_and_never_reuses_one():
    # the previous topic of conversations a…j (-1: none); old topic 9 also had three
    # conversations no longer in the data
    prev = np.array([7, 7, 7, 3, 3, 3, 9, 9, -1, -1])
    sizes = {7: 3, 3: 3, 9: 5}
    # new topic 0 = old 3, new topic 1 = old 7, new topic 2 = unseen conversations only
    labels = np.array([1, 1, 1, 0, 0, 0, -1, -1, 2, 2])
    assert match_topic_ids(labels, prev, sizes, max_previous_id=12) == {0: 3, 1: 7, 2: 13}
    # topics that changed a little keep their ids (most of a new topic came from one old
    # one, and they are a fair part of it: 2 of old 9's 5)
    labels = np.array([0, 0, 1, 1, 0, 1, 2, 2])
    assert match_topic_ids(labels, prev[:8], sizes, max_previous_id=12) == {0: 7, 1: 3, 2: 9}
    # … but not a small part (1 of old 9's 5)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, -1])
    assert match_topic_ids(labels, prev[:8], sizes, max_previous_id=12) == {0: 7, 1: 3, 2: 13}
    # without the sizes, they are counted from the previous topics given
    assert match_topic_ids(labels, prev[:8], max_previous_id=12) == {0: 7, 1: 3, 2: 9}
    # a new topic mixing two old ones half and half inherits neither
    assert match_topic_ids(np.array([0, 0]), np.array([7, 3]), max_previous_id=12) == {0: 13}
    # no previous run: ids by volume from 1
    assert match_topic_ids(np.array([1, 0, 1])) == {1: 1, 0: 2}


def test_a_replay_on_the_same_data_writes_the_run_as_it_was():
    """A rerun over the same data_through reads its own earlier output as the previous run:
    it keeps the ids and writes the same rows (no retrain metric against itself)."""
    conv, _ = make_intents(5, 150, seed=4)
    first = discover_topics(conv, pages=PAGES)
    replay = discover_topics(
        conv, pages=PAGES, previous_assignments=first.assignments, previous_topics=first.topics
    )
    pd.testing.assert_frame_equal(first.assignments, replay.assignments)
    pd.testing.assert_frame_equal(first.model_runs, replay.model_runs)
    assert "retrain_same_topic_share" not in set(replay.model_runs["metric"])


def test_ids_survive_a_retrain_on_four_more_weeks():
    # the seventh intent only starts 20 days before the end
    conv, truth = make_intents(7, 220, seed=5, late={6: 20})
    cut = END - pd.Timedelta(days=28)
    early = conv[conv["started_at"] < cut]
    first = discover_topics(early, pages=PAGES)
    # an id retired before the first run must not come back
    first_topics = first.topics.assign(max_topic_id=first.topics["topic_id"].max() + 5)
    second = discover_topics(
        conv, pages=PAGES, previous_assignments=first.assignments, previous_topics=first_topics
    )
    both = first.assignments.merge(second.assignments, on="conversation_id")
    kept = (both["topic_id_x"] == both["topic_id_y"]).mean()
    print(f"retrain: {kept:.1%} of earlier conversations keep their topic id")
    assert kept >= 0.9
    assert second.details["retrain_same_topic_share"] == pytest.approx(kept)
    runs = second.model_runs.set_index("metric")
    assert runs.loc["retrain_same_topic_share", "value"] == pytest.approx(kept)
    # the new intent gets a new id above every id used so far
    late_ids = second.assignments.merge(truth)[lambda f: f["topic"] == 6]["topic_id"]
    new_id = late_ids.mode()[0]
    assert new_id > first.topics["topic_id"].max() + 5
    assert (second.topics["max_topic_id"] == second.topics["topic_id"].max()).all()


# --------------------------------------------------------------------------------------------
# clustering internals


def test_merge_cut_maximises_modularity_over_the_dendrogram():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 6)
    base = rng.normal(size=(4, 30))
    cents = base[groups] + 0.6 * rng.normal(size=(24, 30))
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    sizes = rng.integers(5, 50, size=24).astype(float)
    found = merge_by_modularity(cents, sizes)
    assert adjusted_rand_score(groups, found) == 1.0
    adjacency = np.outer(sizes, sizes) * np.clip(cents @ cents.T, 0, None)
    tree = linkage(cents, method="average", metric="cosine")
    every_cut = [modularity(adjacency, cut_tree(tree, n).ravel()) for n in range(1, 25)]
    assert modularity(adjacency, found) == pytest.approx(max(every_cut))
    assert len(set(merge_by_modularity(cents, sizes, n_groups=6))) == 6


def test_choose_candidate_prefers_the_previous_topics_then_the_typical_one():
    a = np.array([0, 0, 1, 1, 2, 2])
    b = np.array([0, 0, 1, 1, 1, 1])
    c = np.array([1, 1, 0, 0, 2, 2])  # a, relabelled
    assert choose_candidate([b, a, c]) == 1  # a and c agree: the typical one
    previous = np.array([5, 5, 7, 7, 7, -1])  # -1: not in the previous run
    assert choose_candidate([a, b, c], previous) == 1
    assert choose_candidate([a]) == 0


def test_fit_on_a_bounded_sample_scores_every_text():
    conv, truth = make_intents(5, 200, seed=7)
    texts = [*conv["user_text"].tolist(), "", "hello thanks", "order 123456 on monday"]
    model = fit_intents(texts, max_fit=400, random_state=1)
    labels, sims = model.assign(texts, batch_size=137)
    assert len(labels) == len(texts)
    assert (labels[-3:] == -1).all() and (sims[-3:] == 0).all()
    scores = model.score(texts, batch_size=1000)
    assert (scores.labels == labels).all() and (scores.margin[:-3] > 0).all()
    assert (scores.margin <= scores.similarity + 1e-12).all()
    assert adjusted_rand_score(truth["topic"], labels[: len(truth)]) > 0.8


def test_conversations_without_a_usable_word_stay_unassigned():
    conv, _ = make_conversations(600, seed=2)
    empty = conv.head(5).assign(
        conversation_id=[f"e{i}" for i in range(5)], user_text=["", None, "hi thanks", "ok", "?"]
    )
    res = discover_topics(pd.concat([conv, empty]))
    assigned = res.assignments.set_index("conversation_id")["topic_id"]
    assert assigned.loc[[f"e{i}" for i in range(5)]].isna().all()
    assert assigned.drop([f"e{i}" for i in range(5)]).notna().mean() > 0.97
    assert str(res.assignments["topic_id"].dtype) == "Int64"


def test_deterministic_and_dated_by_data():
    conv, _ = make_conversations(400, seed=2)
    a = discover_topics(conv)
    b = discover_topics(conv.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a.topics, b.topics)
    pd.testing.assert_frame_equal(a.model_runs, b.model_runs)
    merged = a.assignments.merge(b.assignments, on="conversation_id")
    assert (merged["topic_id_x"] == merged["topic_id_y"]).all()
    expected = conv["started_at"].max().date()
    assert a.data_through == expected
    assert (a.assignments["data_through"] == expected).all()
    assert (a.topics["data_through"] == expected).all()
    assert (a.model_runs["trained_at"] == pd.Timestamp(expected)).all()


# --------------------------------------------------------------------------------------------
# cold start, rules, trends, inputs


def test_cold_start_falls_back_to_rules():
    conv, truth = make_conversations(150, seed=3)
    res = discover_topics(conv)
    assert res.method == "rules"
    runs = res.model_runs.set_index("metric")
    assert runs.loc["cold_start", "value"] == 1
    assert runs.loc["training_conversations_available", "baseline_value"] == 200
    assert len(res.assignments) == len(conv)
    assert set(res.topics["label"]) <= {*DEFAULT_RULES, "Other"}
    assert list(res.topics.columns) == TOPIC_COLUMNS
    assert (res.topics["representative_question"].str.len() > 0).all()
    # the rules still make sense on this data
    joined = res.assignments.merge(truth, on="conversation_id").merge(res.topics, on="topic_id")
    deliveries = joined[joined["topic"] == "delivery"]
    assert (deliveries["label"] == "Delivery and order tracking").mean() > 0.6
    # just above the minimum, a model is trained
    conv2, _ = make_conversations(400, seed=3)
    assert discover_topics(conv2, min_conversations=200, k=6).method == "intents"


def test_a_cold_start_classifies_every_text_and_describes_from_a_sample(monkeypatch):
    """A new shop can have many conversations and no history (an export of its last weeks):
    the rules label every one, a batch at a time, and only a bounded sample is held to find
    the representative questions."""
    monkeypatch.setattr(topics_module, "BATCH_SIZE", 37)
    conv, _ = make_conversations(150, seed=3)
    whole = discover_topics(conv)
    sampled = discover_topics(conv, max_fit=60)
    assert sampled.method == whole.method == "rules"
    pd.testing.assert_frame_equal(sampled.assignments, whole.assignments)
    pd.testing.assert_frame_equal(
        sampled.model_runs.drop(columns="run_id", errors="ignore"),
        whole.model_runs.drop(columns="run_id", errors="ignore"),
    )
    questions = sampled.topics["representative_question"]
    assert (questions.str.len() > 0).sum() >= len(questions) - 1  # a rare topic may miss it


def test_a_fixed_number_of_topics_is_honoured():
    conv, _ = make_conversations(600, seed=4)
    assert discover_topics(conv, k=3).n_topics == 3


def test_rule_classifier():
    labels = classify_by_rules(
        ["Where is my parcel? tracking says delayed", "I want a refund", "hello", "bulk quote"]
    )
    assert labels == [
        "Delivery and order tracking",
        "Returns and refunds",
        "Other",
        "Business accounts and quotes",
    ]


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


def test_the_topics_frame_ranks_the_rising_topic_first():
    conv, truth = make_conversations(1200, seed=4, days=84, rising="invoice")
    res = discover_topics(conv)
    joined = res.assignments.merge(truth, on="conversation_id")
    invoice_id = joined[joined["topic"] == "invoice"]["topic_id"].mode()[0]
    rising = res.topics.set_index("rank_rising").loc[1]
    assert rising["topic_id"] == invoice_id and rising["trend_28d"] > 0.5
    assert sorted(res.topics["rank_volume"]) == list(range(1, res.n_topics + 1))


def test_user_text_from_messages():
    msgs = pd.DataFrame(
        {
            "conversation_id": ["a", "a", "a", "b"],
            "message_index": [2, 0, 1, 0],
            "role": ["user", "user", "assistant", "USER"],
            "text": ["second", "first", "bot", "only"],
        }
    )
    joined = user_text_from_messages(msgs)
    assert joined["a"] == "first second" and joined["b"] == "only"


def test_missing_columns_raise():
    with pytest.raises(ValueError, match="user_text"):
        discover_topics(pd.DataFrame({"conversation_id": [], "started_at": []}))


# --------------------------------------------------------------------------------------------
# the asset


def _plant(database, texts: pd.DataFrame) -> None:
    queries = pd.DataFrame(
        {
            "report_date": [END.date()] * 2,
            "search_query": ["merino crew sweater", "returns policy"],
            "page_url": [
                "https://shop.example/products/merino-crew-sweater",
                "https://shop.example/help/returns",
            ],
            "clicks": [10, 5],
            "impressions": [100, 50],
            "avg_position": [3.0, 4.0],
        }
    )
    with connect(database) as conn:
        replace_table(conn, "intermediate.int_conversations__texts", texts)
        replace_table(conn, "staging.stg_ga4__pages", PAGES.assign(page_views=10))
        replace_table(conn, "intermediate.int_search__query_pages_daily", queries)


def _materialise(database) -> dict[str, pd.DataFrame]:
    result = dg.materialize(
        [conversation_topic_model],
        resources={"warehouse": WarehouseResource(path=str(database))},
    )
    assert result.success
    with connect(database, read_only=True) as conn:
        return {
            t: read_relation(conn, f"ml.{t}")
            for t in (
                "conversation_topics",
                "conversation_topic_assignments",
                "conversation_topics_runs",
            )
        }


def test_the_asset_keeps_topic_ids_across_runs_and_keeps_every_run(tmp_path):
    conv, _ = make_intents(5, 150, seed=11)
    conv = pd.concat([conv, conv.head(1).assign(conversation_id="blank", user_text="thanks!")])
    database = tmp_path / "w.duckdb"
    _plant(database, conv[conv["started_at"] < END - pd.Timedelta(days=28)])
    first = _materialise(database)
    _plant(database, conv)
    second = _materialise(database)

    before = first["conversation_topic_assignments"]
    after = second["conversation_topic_assignments"].set_index("conversation_id")["topic_id"]
    kept = (
        before.set_index("conversation_id")["topic_id"]
        == after.loc[before["conversation_id"]].to_numpy()
    )
    assert kept.mean() >= 0.9
    assert pd.isna(after.loc["blank"])
    topics = second["conversation_topics"]
    assert {"representative_question", "rank_rising", "is_content_gap"} <= set(topics.columns)
    assert topics["conversations"].sum() == after.notna().sum()
    runs = second["conversation_topics_runs"]
    assert runs["run_id"].nunique() == 2  # the first run's rows are kept
    assert runs.loc[runs["metric"] == "retrain_same_topic_share", "value"].iloc[0] >= 0.9


def test_the_warehouse_rows_give_the_in_memory_result(tmp_path, monkeypatch):
    """The asset's path (conversations numbered in a warehouse table: fit samples fetched,
    scoring and assignments read in batches, previous topics joined in DuckDB) reproduces
    discover_topics on whole frames, sampling and id continuity included."""
    monkeypatch.setattr(topics_module, "BATCH_SIZE", 137)  # many uneven batches
    monkeypatch.setattr(topics_module, "ASSIGNMENT_BATCH_ROWS", 100)
    conv, _ = make_intents(5, 150, seed=3)
    conv = pd.concat([conv, conv.head(1).assign(conversation_id="blank", user_text=None)])
    early = conv[conv["started_at"] < END - pd.Timedelta(days=28)]
    args = {"pages": PAGES, "max_fit": 500}
    first = discover_topics(early, **args)
    in_memory = discover_topics(conv, previous_assignments=first.assignments, **args)
    with connect(tmp_path / "w.duckdb") as conn:
        replace_table(conn, "main.texts", conv.sample(frac=1.0, random_state=1))
        replace_table(conn, "main.previous", first.assignments)
        rows = TopicRows.prepare(conn, "main.texts", "main.previous")
        assert rows.take([5, 2, 5]) == [rows.take([i])[0] for i in (5, 2, 5)]
        n = len(rows)
        assert list(rows.batches(n - 3, 2)) == [rows.take([n - 3, n - 2]), rows.take([n - 1])]
        streamed = discover_topic_rows(rows, **args)
        assignments = streamed.assignments
    assert in_memory.method == streamed.method == "intents"
    assert in_memory.details["retrain_same_topic_share"] > 0.8
    pd.testing.assert_frame_equal(in_memory.assignments, assignments)
    pd.testing.assert_frame_equal(in_memory.topics, streamed.topics)
    pd.testing.assert_frame_equal(
        in_memory.model_runs.drop(columns="run_id", errors="ignore"),
        streamed.model_runs.drop(columns="run_id", errors="ignore"),
    )


def test_fit_sample_is_the_sample_fit_intents_draws():
    assert (fit_sample(50, max_fit=100) == np.arange(50)).all()
    rows = fit_sample(1000, max_fit=100, random_state=4)
    assert len(rows) == 100 and (np.diff(rows) > 0).all()
    assert (rows == fit_sample(1000, max_fit=100, random_state=4)).all()
