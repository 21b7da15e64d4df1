"""Conversation topics: discover the issue types customers bring, without labels.

Method (SPEC §6, "Conversation topics"):

1. Text = the user messages of a conversation joined; redaction tokens (``[email]``,
   ``[phone]``) and digits are dropped.
2. TF-IDF on word uni- and bigrams (sublinear tf, English + chat-filler stop words,
   ``min_df``), reduced with LSA (truncated SVD, re-normalised), clustered with k-means
   (fixed ``random_state``).
3. ``k`` is chosen from the data: the k in ``k_range`` with the best silhouette (cosine) on
   the training split (the smallest k within 2 % of the best, for parsimony).
4. Time split: fit on conversations before the last ``holdout_days`` (28) days, evaluate on
   those last days — mean cosine similarity of each held-out conversation to its assigned
   topic centroid, against a one-topic baseline (the cosine to the overall centroid) — plus
   the stability of held-out assignments between the train-only model and the final model
   (ARI, baseline 0 = chance). Then refit on everything for the assignments.
5. Cold start: with fewer than ``min_conversations`` (200) conversations in the training
   split no model is trained; the rule-based keyword classifier :data:`DEFAULT_RULES` serves
   instead and ``model_runs`` says so (metric ``cold_start`` = 1).

Topic ids are 1-based and ordered by volume (1 = the most common issue type).
``data_through`` is the last ``started_at`` date in the data, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.preprocessing import normalize

from flywheel_pipeline.insights._common import (
    empty_model_runs,
    max_date,
    model_run_rows,
    to_utc_naive,
)

MODEL_NAME = "conversation_topics"
MIN_CONVERSATIONS = 200
HOLDOUT_DAYS = 28
K_RANGE = (3, 15)
TOP_TERMS = 10

# Words that carry no topic in customer-service chat, on top of scikit-learn's English list.
CHAT_STOP_WORDS = frozenset(
    (
        "hi", "hello", "hey", "thanks", "thank", "thx", "please", "pls", "ok", "okay", "yes",
        "yeah", "sure", "hope", "just", "like", "want", "wanted", "need", "needed", "know", "let",
        "could", "would", "get", "got", "also", "really", "still", "one", "two", "im", "ive",
        "dont", "cant", "wondering", "question", "asking", "ask", "help", "good", "great",
        "morning", "afternoon", "evening", "regards", "cheers", "email", "phone",
    )
)  # fmt: skip
# scikit-learn's list drops words that matter in a shop ("bill", "back" as in "money back").
KEEP_WORDS = frozenset(
    ("amount", "back", "bill", "call", "detail", "empty", "fill", "find", "front", "full",
     "interest", "move", "name", "part", "side", "system", "top")
)  # fmt: skip
STOP_WORDS = sorted((ENGLISH_STOP_WORDS - KEEP_WORDS) | CHAT_STOP_WORDS)

_PLACEHOLDER = re.compile(r"\[[a-z_]+\]", re.IGNORECASE)
_TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"

#: Rule-based fallback for cold start: topic label -> keywords (word prefixes; a keyword of
#: several words counts double). A conversation goes to the topic with the most keyword hits
#: (ties: the first topic listed); no hit at all -> "Other".
DEFAULT_RULES: dict[str, tuple[str, ...]] = {
    "Delivery and order tracking": (
        "delivery", "deliver", "shipping", "ship", "tracking", "track", "courier", "parcel",
        "package", "arrive", "dispatch", "late", "delayed", "where is my order",
    ),
    "Returns and refunds": (
        "return", "refund", "exchange", "send back", "money back", "damaged", "broken",
        "faulty", "wrong item", "wrong size",
    ),
    "Payment and invoices": (
        "payment", "pay", "card", "charge", "invoice", "billing", "receipt", "vat", "paypal",
    ),
    "Product questions": (
        "size", "sizing", "fit", "material", "colour", "color", "stock", "available",
        "availability", "compatible", "specification", "dimension", "warranty",
    ),
    "Account and login": (
        "account", "login", "log in", "password", "sign in", "reset", "unsubscribe",
        "newsletter",
    ),
    "Business accounts and quotes": (
        "bulk", "quote", "wholesale", "business account", "volume discount", "b2b", "trade",
        "net 30", "purchase order",
    ),
    "Discounts and promotions": ("discount", "coupon", "promo", "voucher", "code", "sale"),
}  # fmt: skip
OTHER_LABEL = "Other"


@dataclass
class TopicResult:
    """Outputs of :func:`discover_topics` (frames shaped like the ``ml`` tables)."""

    assignments: pd.DataFrame  # conversation_id, topic_id, data_through
    topics: pd.DataFrame  # topic_id, label, top_terms, conversations, data_through
    model_runs: pd.DataFrame  # contracts.md ml.model_runs
    method: str  # "kmeans" or "rules" (cold start)
    data_through: dt.date | None
    n_topics: int = 0
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# inputs


def user_text_from_messages(messages: pd.DataFrame) -> pd.Series:
    """Join the user messages of each conversation (``conversation_id, message_index, role,
    text``) into one text per conversation, indexed by conversation_id."""
    user = messages[messages["role"].astype(str).str.lower() == "user"]
    if "message_index" in user.columns:
        user = user.sort_values(["conversation_id", "message_index"])
    return user.groupby("conversation_id", sort=True)["text"].agg(
        lambda t: " ".join(str(x) for x in t if pd.notna(x))
    )


def _clean(text: object) -> str:
    return _PLACEHOLDER.sub(" ", str(text) if pd.notna(text) else "").lower()


def _prepare(conversations: pd.DataFrame) -> pd.DataFrame:
    missing = {"conversation_id", "started_at", "user_text"} - set(conversations.columns)
    if missing:
        raise ValueError(f"conversations frame lacks columns: {sorted(missing)}")
    frame = conversations[["conversation_id", "started_at", "user_text"]].copy()
    frame["started_at"] = to_utc_naive(frame["started_at"])
    frame = frame.dropna(subset=["started_at"]).drop_duplicates("conversation_id")
    frame["text"] = frame["user_text"].map(_clean)
    return frame.sort_values(["started_at", "conversation_id"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# the model


def _vectorizer(n_docs: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        stop_words=STOP_WORDS,
        token_pattern=_TOKEN_PATTERN,
        min_df=max(2, int(np.ceil(0.002 * n_docs))),
        max_df=0.95,
        max_features=20_000,
        dtype=np.float64,
    )


@dataclass
class _Fitted:
    vectorizer: TfidfVectorizer
    svd: TruncatedSVD | None
    kmeans: KMeans
    labels: np.ndarray
    silhouette: float

    def embed(self, tfidf) -> np.ndarray:
        reduced = self.svd.transform(tfidf) if self.svd is not None else tfidf.toarray()
        return normalize(reduced)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.kmeans.predict(self.embed(self.vectorizer.transform(texts)))

    def term_centroids(self, tfidf) -> np.ndarray:
        """Cluster centroids in TF-IDF space (mean of member rows, l2-normalised)."""
        k = self.kmeans.n_clusters
        cents = np.zeros((k, tfidf.shape[1]))
        for c in range(k):
            rows = tfidf[self.labels == c]
            if rows.shape[0]:
                cents[c] = np.asarray(rows.mean(axis=0)).ravel()
        return normalize(cents)


def _embed_fit(texts: Sequence[str], random_state: int):
    vec = _vectorizer(len(texts))
    tfidf = vec.fit_transform(texts)
    n_comp = min(100, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
    svd = None
    if n_comp >= 2:
        svd = TruncatedSVD(n_components=n_comp, random_state=random_state)
        emb = normalize(svd.fit_transform(tfidf))
    else:
        emb = normalize(tfidf.toarray())
    return vec, tfidf, svd, emb


def _kmeans(emb: np.ndarray, k: int, random_state: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=5, random_state=random_state).fit(emb)


def _silhouette(emb: np.ndarray, labels: np.ndarray, random_state: int) -> float:
    if len(set(labels)) < 2:
        return -1.0
    return float(
        silhouette_score(
            emb, labels, metric="cosine", sample_size=min(3000, len(labels)),
            random_state=random_state,
        )
    )  # fmt: skip


def choose_k(
    emb: np.ndarray, k_range: tuple[int, int] = K_RANGE, random_state: int = 0
) -> tuple[int, dict[int, float]]:
    """The k in ``k_range`` (inclusive) with the best cosine silhouette (the smallest k
    within 2 % of the best), and all scores."""
    lo, hi = k_range
    hi = min(hi, max(2, emb.shape[0] // 10))
    lo = min(lo, hi)
    scores = {}
    for k in range(lo, hi + 1):
        labels = _kmeans(emb, k, random_state).labels_
        scores[k] = _silhouette(emb, labels, random_state)
    # parsimony: the smallest k within 2 % of the best silhouette
    top = max(scores.values())
    best = min(k for k, v in scores.items() if v >= top - 0.02 * abs(top))
    return best, scores


def _fit(
    texts: Sequence[str], k: int | None, k_range: tuple[int, int], random_state: int
) -> tuple[_Fitted, object, dict[int, float]]:
    vec, tfidf, svd, emb = _embed_fit(texts, random_state)
    scores: dict[int, float] = {}
    if k is None:
        k, scores = choose_k(emb, k_range, random_state)
    km = _kmeans(emb, k, random_state)
    fitted = _Fitted(vec, svd, km, km.labels_, _silhouette(emb, km.labels_, random_state))
    return fitted, tfidf, scores


def _top_terms(
    centroid: np.ndarray, vocab: np.ndarray, n: int = TOP_TERMS
) -> list[tuple[str, float]]:
    order = np.argsort(-centroid, kind="stable")[:n]
    return [(str(vocab[i]), float(centroid[i])) for i in order if centroid[i] > 0]


def label_from_terms(
    terms: Sequence[str], weights: Sequence[float] | None = None, max_terms: int = 3
) -> str:
    """2–3 readable terms: the strongest terms in order, a single word upgraded to the first
    listed bigram that contains it ("money" -> "money back") when that bigram weighs at least
    half as much, terms already covered skipped."""
    w = dict(zip(terms, weights if weights is not None else [1.0] * len(terms), strict=True))
    bigrams = [t for t in terms if len(t.split()) > 1]
    chosen: list[str] = []
    for term in terms:
        if len(term.split()) == 1:
            better = [b for b in bigrams if term in b.split() and w[b] >= 0.5 * w[term]]
            term = better[0] if better else term
        words = set(term.split())
        if any(words <= set(c.split()) for c in chosen):
            continue
        chosen = [c for c in chosen if not set(c.split()) <= words]
        chosen.append(term)
        if len(chosen) >= max_terms:
            break
    return " / ".join(chosen) if chosen else OTHER_LABEL


def _unique_labels(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out


# --------------------------------------------------------------------------------------------
# rule-based fallback


def _compile_rules(rules: Mapping[str, Sequence[str]]):
    compiled = []
    for label, keywords in rules.items():
        pats = [
            (re.compile(r"\b" + r"\s+".join(map(re.escape, kw.lower().split())) + r"\w*"),
             2 if " " in kw.strip() else 1)
            for kw in keywords
        ]  # fmt: skip
        compiled.append((label, pats))
    return compiled


def classify_by_rules(
    texts: Sequence[str], rules: Mapping[str, Sequence[str]] = DEFAULT_RULES
) -> list[str]:
    """Rule-based topic label of each text (see :data:`DEFAULT_RULES`)."""
    compiled = _compile_rules(rules)
    out = []
    for text in texts:
        clean = _clean(text)
        best, best_score = OTHER_LABEL, 0
        for label, pats in compiled:
            score = sum(w * len(p.findall(clean)) for p, w in pats)
            if score > best_score:
                best, best_score = label, score
        out.append(best)
    return out


def _rules_result(
    frame: pd.DataFrame,
    data_through: dt.date,
    rules: Mapping[str, Sequence[str]],
    min_conversations: int,
    n_train: int,
) -> TopicResult:
    labels = classify_by_rules(frame["text"].tolist(), rules)
    counts = pd.Series(labels).value_counts()
    order = [*rules.keys(), OTHER_LABEL]
    # ids by volume (ties: rule order), only topics that occur
    present = sorted(counts.index, key=lambda lab: (-counts[lab], order.index(lab)))
    ids = {lab: i + 1 for i, lab in enumerate(present)}
    assignments = pd.DataFrame(
        {
            "conversation_id": frame["conversation_id"].to_numpy(),
            "topic_id": [ids[lab] for lab in labels],
            "data_through": data_through,
        }
    )
    topics = pd.DataFrame(
        {
            "topic_id": [ids[lab] for lab in present],
            "label": present,
            "top_terms": [", ".join(rules.get(lab, ())) for lab in present],
            "conversations": [int(counts[lab]) for lab in present],
            "data_through": data_through,
        }
    )
    coverage = float(np.mean([lab != OTHER_LABEL for lab in labels])) if labels else np.nan
    runs = model_run_rows(
        MODEL_NAME,
        data_through,
        train_rows=0,
        holdout_rows=0,
        metrics=[
            ("cold_start", 1.0, None),
            ("training_conversations_available", n_train, min_conversations),
            ("rule_coverage", coverage, None),
            ("n_topics", len(present), None),
        ],
    )
    return TopicResult(
        assignments=_typed_assignments(assignments),
        topics=_typed_topics(topics),
        model_runs=runs,
        method="rules",
        data_through=data_through,
        n_topics=len(present),
        details={"reason": f"{n_train} training conversations < minimum {min_conversations}"},
    )


def _typed_assignments(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"topic_id": "int64"})[["conversation_id", "topic_id", "data_through"]]


def _typed_topics(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["topic_id", "label", "top_terms", "conversations", "data_through"]
    return frame.astype({"topic_id": "int64", "conversations": "int64"})[cols]


# --------------------------------------------------------------------------------------------
# public entry point


def discover_topics(
    conversations: pd.DataFrame,
    *,
    min_conversations: int = MIN_CONVERSATIONS,
    holdout_days: int = HOLDOUT_DAYS,
    k: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    random_state: int = 0,
    rules: Mapping[str, Sequence[str]] = DEFAULT_RULES,
) -> TopicResult:
    """Discover conversation topics.

    ``conversations``: ``conversation_id, started_at (UTC), user_text``. ``k`` fixes the
    number of topics (default: chosen by silhouette over ``k_range``).
    """
    frame = _prepare(conversations)
    data_through = max_date(frame["started_at"])
    if data_through is None:
        return TopicResult(
            assignments=pd.DataFrame(columns=["conversation_id", "topic_id", "data_through"]),
            topics=pd.DataFrame(
                columns=["topic_id", "label", "top_terms", "conversations", "data_through"]
            ),
            model_runs=empty_model_runs(),
            method="none",
            data_through=None,
        )
    cutoff = pd.Timestamp(data_through) - pd.Timedelta(days=holdout_days - 1)
    is_holdout = frame["started_at"] >= cutoff
    train, holdout = frame[~is_holdout], frame[is_holdout]
    if len(train) < min_conversations or len(holdout) == 0:
        return _rules_result(frame, data_through, rules, min_conversations, len(train))

    # 1) fit on the training split, evaluate on the held-out last days
    fitted, _, k_scores = _fit(train["text"].tolist(), k, k_range, random_state)
    k_chosen = fitted.kmeans.n_clusters
    train_tfidf = fitted.vectorizer.transform(train["text"].tolist())
    hold_tfidf = fitted.vectorizer.transform(holdout["text"].tolist())
    cents = fitted.term_centroids(train_tfidf)
    hold_labels = fitted.kmeans.predict(fitted.embed(hold_tfidf))
    hold_norm = normalize(hold_tfidf)
    cos_model = np.asarray(hold_norm.multiply(cents[hold_labels]).sum(axis=1)).ravel()
    overall = normalize(np.asarray(train_tfidf.mean(axis=0)))
    cos_base = np.asarray(hold_norm @ overall.T).ravel()

    # 2) refit on all conversations with the chosen k, for the assignments
    final, all_tfidf, _ = _fit(frame["text"].tolist(), k_chosen, k_range, random_state)
    stability = adjusted_rand_score(hold_labels, final.labels[is_holdout.to_numpy()])

    counts = np.bincount(final.labels, minlength=k_chosen)
    order = sorted(range(k_chosen), key=lambda c: (-counts[c], c))
    remap = {c: i + 1 for i, c in enumerate(order)}
    all_cents = final.term_centroids(all_tfidf)
    vocab = final.vectorizer.get_feature_names_out()
    terms = {c: _top_terms(all_cents[c], vocab) for c in order}
    labels = _unique_labels(
        [label_from_terms([t for t, _ in terms[c]], [w for _, w in terms[c]]) for c in order]
    )

    assignments = pd.DataFrame(
        {
            "conversation_id": frame["conversation_id"].to_numpy(),
            "topic_id": [remap[c] for c in final.labels],
            "data_through": data_through,
        }
    )
    topics = pd.DataFrame(
        {
            "topic_id": [remap[c] for c in order],
            "label": labels,
            "top_terms": [", ".join(t for t, _ in terms[c]) for c in order],
            "conversations": [int(counts[c]) for c in order],
            "data_through": data_through,
        }
    )
    runs = model_run_rows(
        MODEL_NAME,
        data_through,
        train_rows=len(train),
        holdout_rows=len(holdout),
        metrics=[
            ("cold_start", 0.0, None),
            ("holdout_mean_cosine_to_topic", float(cos_model.mean()), float(cos_base.mean())),
            ("holdout_assignment_stability_ari", float(stability), 0.0),
            ("train_silhouette_cosine", fitted.silhouette, None),
            ("n_topics", k_chosen, 1),
        ],
    )
    return TopicResult(
        assignments=_typed_assignments(assignments),
        topics=_typed_topics(topics),
        model_runs=runs,
        method="kmeans",
        data_through=data_through,
        n_topics=k_chosen,
        details={"k_silhouette": k_scores},
    )


# --------------------------------------------------------------------------------------------
# trend and evaluation


def topic_trends(
    assignments: pd.DataFrame,
    conversations: pd.DataFrame,
    *,
    data_through: dt.date | None = None,
    window_days: int = 28,
) -> pd.DataFrame:
    """Volume per topic in the last ``window_days`` vs the ``window_days`` before.

    Inputs: ``assignments`` (conversation_id, topic_id) and ``conversations``
    (conversation_id, started_at). Output per topic: ``conversations_28d``,
    ``conversations_prev_28d``, ``trend_28d`` (relative change, NaN when the earlier window
    is empty), ``rising_score`` (change of the add-one-smoothed log volume, used for ranking
    so that tiny topics do not top the list on noise), ``rank_volume`` and ``rank_rising``
    (1 = most common / fastest rising). Sorted by ``rank_rising``.
    """
    frame = assignments[["conversation_id", "topic_id"]].merge(
        conversations[["conversation_id", "started_at"]], on="conversation_id", how="left"
    )
    frame["started_at"] = to_utc_naive(frame["started_at"])
    end = data_through or max_date(frame["started_at"])
    cols = [
        "topic_id", "conversations_28d", "conversations_prev_28d", "trend_28d",
        "rising_score", "rank_volume", "rank_rising",
    ]  # fmt: skip
    if end is None:
        return pd.DataFrame(columns=cols)
    stop = pd.Timestamp(end) + pd.Timedelta(days=1)
    mid = stop - pd.Timedelta(days=window_days)
    start = mid - pd.Timedelta(days=window_days)
    cur = frame[(frame["started_at"] >= mid) & (frame["started_at"] < stop)]
    prev = frame[(frame["started_at"] >= start) & (frame["started_at"] < mid)]
    out = pd.DataFrame({"topic_id": sorted(frame["topic_id"].dropna().unique())})
    out["conversations_28d"] = out["topic_id"].map(cur["topic_id"].value_counts()).fillna(0)
    out["conversations_prev_28d"] = out["topic_id"].map(prev["topic_id"].value_counts()).fillna(0)
    out = out.astype({"conversations_28d": "int64", "conversations_prev_28d": "int64"})
    prev_n = out["conversations_prev_28d"].replace(0, np.nan)
    out["trend_28d"] = (out["conversations_28d"] - prev_n) / prev_n
    out["rising_score"] = np.log1p(out["conversations_28d"]) - np.log1p(
        out["conversations_prev_28d"]
    )
    out["rank_volume"] = (
        out["conversations_28d"].rank(ascending=False, method="first").astype("int64")
    )
    out = out.sort_values(["rising_score", "conversations_28d", "topic_id"],
                          ascending=[False, False, True])  # fmt: skip
    out["rank_rising"] = np.arange(1, len(out) + 1)
    return out[cols].reset_index(drop=True)


def score_against_labels(assignments: pd.DataFrame, truth: pd.DataFrame, label_col: str) -> dict:
    """NMI and ARI of ``assignments.topic_id`` against planted labels (evaluation only:
    ``truth`` has conversation_id and ``label_col``), with a one-topic baseline (0, 0)."""
    joined = assignments.merge(truth[["conversation_id", label_col]], on="conversation_id")
    y, pred = joined[label_col].astype(str), joined["topic_id"]
    return {
        "n": len(joined),
        "nmi": float(normalized_mutual_info_score(y, pred)),
        "ari": float(adjusted_rand_score(y, pred)),
        "n_topics": int(pred.nunique()),
        "n_planted": int(y.nunique()),
    }
