"""Conversation topics: the intents customers bring (what they want done), without labels.

Method (SPEC §6, "Conversation topics"; the clustering itself is :mod:`.intents`):

1. Text = the user messages of a conversation. Entities are removed before anything is
   counted: catalogue words (:func:`~.intents.catalog_terms`, from the site's product pages
   and the search queries landing on catalogue pages), sizes, calendar words, countries,
   anything with a digit (order numbers, codes, dates), redaction tokens.
2. TF-IDF, over-clustered into micro-clusters, words weighted by how concentrated they are in
   few micro-clusters (filler every intent uses weighs little), micro-clusters merged where the
   modularity of their similarity graph peaks, conversations moved to the nearest intent
   centroid. The number of topics is learned; there is no range or ceiling. The fit uses a
   bounded sample (:data:`~.intents.MAX_FIT`); every conversation is then scored in batches,
   and one too far from every topic (or without a usable word) stays unassigned (NULL).
3. Each topic gets a representative customer question (a real, redacted sentence of a
   conversation near the topic's centre, preferring short questions without entities or
   typos, :mod:`.typos`) and 2–4 key terms; ``label`` = the question and its key terms.
4. Time split: fit on conversations before the last ``holdout_days`` (28) days, evaluate on
   those last days — mean cosine similarity of each held-out conversation to its nearest
   topic centroid, against a one-topic baseline (the cosine to the overall centroid) — plus
   the stability of held-out assignments between the train-only model and the final model
   (ARI, baseline 0 = chance). Then refit on everything for the assignments.
5. Stable ids: given the previous run's assignments (and topics), every new topic is matched
   to the previous topic it shares most conversations with (Hungarian assignment on the
   overlap; a match needs most of the new topic's earlier conversations and a fair part of
   the old topic's); the match keeps the old id, the others get ids above the highest id ever
   used (``max_topic_id``), so ids are never reused. Without a previous run, ids are 1-based
   by volume (1 = the most common intent).
6. Cold start: with fewer than ``min_conversations`` (200) conversations in the training
   split no model is trained; the rule-based keyword classifier :data:`DEFAULT_RULES` serves
   instead and ``model_runs`` says so (metric ``cold_start`` = 1).

``data_through`` is the last ``started_at`` date in the data, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import normalize

from flywheel_pipeline.insights._common import (
    DESCRIPTIVE,
    HIGHER_IS_BETTER,
    empty_model_runs,
    max_date,
    metric_kinds,
    model_run_rows,
    to_utc_naive,
)
from flywheel_pipeline.insights.intents import (
    BATCH_SIZE,
    MAX_FIT,
    STOP_WORDS,
    Analyzer,
    IntentModel,
    Scores,
    catalog_terms,
    clean_text,
    fit_intents,
    fit_sample,
    light_stem,
    surface_forms,
    surface_words,
)
from flywheel_pipeline.insights.topic_rows import PreviousRun, TopicRows, load_frames
from flywheel_pipeline.insights.typos import likely_typos

__all__ = [
    "DEFAULT_RULES",
    "OTHER_LABEL",
    "STOP_WORDS",
    "TopicResult",
    "TopicRows",
    "catalog_terms",
    "classify_by_rules",
    "discover_topic_rows",
    "discover_topics",
    "key_terms",
    "label_from_terms",
    "match_topic_ids",
    "representative_question",
    "score_against_labels",
    "topic_ids",
    "topic_trends",
    "trend_table",
    "user_text_from_messages",
]

MODEL_NAME = "conversation_topics"
#: The metrics of ml.conversation_topics_runs against their baselines: the holdout's fit and
#: stability (the rules' coverage on a cold start) are quality; counts and shares of the
#: data are descriptive.
METRIC_KINDS = metric_kinds(
    {
        "holdout_mean_cosine_to_topic": HIGHER_IS_BETTER,
        "holdout_assignment_stability_ari": HIGHER_IS_BETTER,
        "rule_coverage": HIGHER_IS_BETTER,
        "n_topics": DESCRIPTIVE,
        "training_conversations_available": DESCRIPTIVE,
        "retrain_same_topic_share": DESCRIPTIVE,
        "unassigned_share": DESCRIPTIVE,
    }
)
MIN_CONVERSATIONS = 200
HOLDOUT_DAYS = 28
MAX_KEY_TERMS = 4
#: Conversations near a topic's centre searched for its representative question.
QUESTION_POOL = 300
QUESTION_MAX_CHARS = 90
#: A bigram is a key term when its words stand together this often (Dice coefficient).
MIN_PHRASE_DICE = 0.25
#: A new topic inherits an old id when this share of its earlier conversations had that id …
MATCH_NEW_SHARE = 0.5
#: … and they are at least this share of the old topic's conversations.
MATCH_OLD_SHARE = 0.25

TOPIC_COLUMNS = [
    "topic_id",
    "label",
    "representative_question",
    "top_terms",
    "conversations",
    "conversations_28d",
    "conversations_prev_28d",
    "trend_28d",
    "rank_volume",
    "rank_rising",
    "max_topic_id",
    "data_through",
]
ASSIGNMENT_COLUMNS = ["conversation_id", "topic_id", "data_through"]
#: assignments read from the warehouse and written back at a time
ASSIGNMENT_BATCH_ROWS = 100_000
#: the trend compares the last this many days with as many before
TREND_DAYS = 28
TREND_COLUMNS = [
    "topic_id",
    "conversations_28d",
    "conversations_prev_28d",
    "trend_28d",
    "rising_score",
    "rank_volume",
    "rank_rising",
]

#: Rule-based fallback for cold start: topic label -> keywords (word prefixes; a keyword of
#: several words counts double). A conversation goes to the topic with the most keyword hits
#: (ties: the first topic listed); no hit at all -> "Other".
DEFAULT_RULES: dict[str, tuple[str, ...]] = {
    "Delivery and order tracking": (
        "delivery",
        "deliver",
        "shipping",
        "ship",
        "tracking",
        "track",
        "courier",
        "parcel",
        "package",
        "arrive",
        "dispatch",
        "late",
        "delayed",
        "where is my order",
    ),
    "Returns and refunds": (
        "return",
        "refund",
        "exchange",
        "send back",
        "money back",
        "damaged",
        "broken",
        "faulty",
        "wrong item",
        "wrong size",
    ),
    "Payment and invoices": (
        "payment",
        "pay",
        "card",
        "charge",
        "invoice",
        "billing",
        "receipt",
        "vat",
        "paypal",
    ),
    "Product questions": (
        "size",
        "sizing",
        "fit",
        "material",
        "colour",
        "color",
        "stock",
        "available",
        "availability",
        "compatible",
        "specification",
        "dimension",
        "warranty",
    ),
    "Account and login": (
        "account",
        "login",
        "log in",
        "password",
        "sign in",
        "reset",
        "unsubscribe",
        "newsletter",
    ),
    "Business accounts and quotes": (
        "bulk",
        "quote",
        "wholesale",
        "business account",
        "volume discount",
        "b2b",
        "trade",
        "net 30",
        "purchase order",
    ),
    "Discounts and promotions": ("discount", "coupon", "promo", "voucher", "code", "sale"),
}
OTHER_LABEL = "Other"


@dataclass
class TopicResult:
    """Outputs of :func:`discover_topic_rows` (frames shaped like the ``ml`` tables)."""

    topics: pd.DataFrame  # TOPIC_COLUMNS
    model_runs: pd.DataFrame  # contracts.md ml.model_runs
    method: str  # "intents" or "rules" (cold start)
    data_through: dt.date | None
    #: the topic id of every conversation by its position in the TopicRows (-1: unassigned)
    topic_of: np.ndarray = field(repr=False)
    #: the assignments (conversation_id, topic_id, data_through) a batch at a time; on a
    #: warehouse, while its connection is open
    assignment_batches: Callable[[], Iterator[pd.DataFrame]] = field(repr=False)
    n_topics: int = 0
    details: dict = field(default_factory=dict)

    @property
    def assignments(self) -> pd.DataFrame:
        """Every assignment in one frame (for a small shop: the warehouse writes the batches)."""
        return pd.concat(list(self.assignment_batches()), ignore_index=True)


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


# --------------------------------------------------------------------------------------------
# labels: key terms and a representative question


def label_from_terms(
    terms: Sequence[str], weights: Sequence[float] | None = None, max_terms: int = 3
) -> str:
    """2–3 readable terms joined by " / " (see :func:`key_terms`)."""
    chosen = key_terms(terms, weights, max_terms)
    return " / ".join(chosen) if chosen else OTHER_LABEL


def key_terms(
    terms: Sequence[str], weights: Sequence[float] | None = None, max_terms: int = MAX_KEY_TERMS
) -> list[str]:
    """The strongest terms in order, a single word upgraded to the first listed bigram that
    contains it ("money" -> "money back") when that bigram weighs at least half as much, terms
    whose words are already covered skipped (no n-gram soup)."""
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
    return chosen


def _readable(term: str, surface: Mapping[str, str]) -> str:
    return " ".join(surface.get(w, w) for w in term.split())


def _topic_terms(
    centroid: np.ndarray,
    vocab: np.ndarray,
    surface: Mapping[str, str],
    counts: Counter,
    n: int = 20,
) -> list[str]:
    """Key terms: the centroid's strongest words, and bigrams only where customers write the
    two words together as a phrase ("gift card", not "says payment"): adjacent in the text at
    least twice and a Dice coefficient of at least :data:`MIN_PHRASE_DICE` (``counts``:
    words and adjacent bigrams of the topic's conversations)."""
    order = [i for i in np.argsort(-centroid, kind="stable")[: 3 * n] if centroid[i] > 0]
    order = [i for i in order if _is_phrase(str(vocab[i]), counts)][:n]
    chosen = key_terms([str(vocab[i]) for i in order], [float(centroid[i]) for i in order])
    return [_readable(t, surface) for t in chosen]


def _is_phrase(term: str, counts: Counter) -> bool:
    words = term.split()
    if len(words) == 1:
        return True
    together = counts[term]
    return together >= 2 and 2 * together >= MIN_PHRASE_DICE * sum(counts[w] for w in words)


_SENTENCE_BREAK = re.compile(r"(?<=[.?!])\s+|\s+[-–—]\s+|\n+")
_DIGIT_TOKEN = re.compile(r"[#(]?\S*\d\S*")
_PLACEHOLDER_TOKEN = re.compile(r"\[[a-z_]+\]", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+")


def _sentences(text: str) -> list[str]:
    return [p.strip(" ,;:") for p in _SENTENCE_BREAK.split(text) if p.strip(" ,;:")]


def _redact(sentence: str) -> str:
    """Order numbers, codes, amounts, phone numbers and e-mail addresses masked; whitespace
    tidied; capitalised; at most :data:`QUESTION_MAX_CHARS` characters."""
    out = _PLACEHOLDER_TOKEN.sub("", _DIGIT_TOKEN.sub("…", _EMAIL.sub("…", sentence)))
    out = re.sub(r"\s+", " ", out).strip()
    if len(out) > QUESTION_MAX_CHARS:
        out = out[:QUESTION_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return out[:1].upper() + out[1:]


def representative_question(
    texts: Sequence[str],
    centroid: np.ndarray,
    vectorize: Callable[[list[str]], sp.spmatrix],
    entities: Iterable[str] = (),
) -> str:
    """The opening sentence (where customers say what they want) of one of ``texts``
    (conversations near the topic's centre) that stands for the topic: the highest cosine to
    ``centroid``, favouring questions, phrasings several customers used, short sentences and
    sentences without entity words, digits, redaction tokens or typos (see
    :func:`_question_score`; what remains of digits and tokens is masked)."""
    candidates = [s for text in texts for s in _sentences(str(text))[:1]]
    if not candidates:
        return ""
    words = [surface_words(s) for s in candidates]
    keys = [" ".join(w) for w in words]
    repeats = Counter(keys)
    typos = likely_typos(Counter(w for sentence in words for w in set(sentence)))
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    unique = sorted(first.values())
    sims = np.asarray(vectorize([candidates[i] for i in unique]) @ centroid).ravel()
    entity_set = frozenset(entities)
    scores = [
        _question_score(candidates[i], sim, repeats[keys[i]], entity_set, typos)
        for i, sim in zip(unique, sims, strict=True)
    ]
    return _redact(candidates[unique[int(np.argmax(scores))]])


def _question_score(
    sentence: str, similarity: float, repeats: int, entities: frozenset, typos: set[str]
) -> float:
    words = surface_words(sentence)
    score = similarity * (1.0 + 0.15 * math.log1p(repeats - 1))  # a phrasing many customers use
    score *= 1.2 if sentence.rstrip().endswith("?") else 1.0
    score *= 1.0 if len(words) >= 4 else 0.7
    score /= 1.0 + 0.04 * max(0, len(words) - 10)  # short reads at a glance
    score *= 0.6 if entities.intersection(light_stem(w) for w in words) else 1.0
    score *= 0.8 if _DIGIT_TOKEN.search(sentence) else 1.0
    # a misspelt word drops out of the vectors, which can raise the sentence's cosine
    score *= 0.5 if typos.intersection(words) else 1.0
    return score * (0.5 if _PLACEHOLDER_TOKEN.search(sentence) or _EMAIL.search(sentence) else 1.0)


def _label(question: str, terms: Sequence[str]) -> str:
    shown = ", ".join(terms[:3])
    if question and shown:
        return f"{question} ({shown})"
    return question or shown or OTHER_LABEL


# --------------------------------------------------------------------------------------------
# stable ids


def _previous_max_id(previous: PreviousRun, previous_topics: pd.DataFrame | None) -> int:
    """The largest topic id ever used: in the previous assignments or topics (whose
    ``max_topic_id`` remembers ids since retired)."""
    found = [previous.max_topic_id]
    for col in ("topic_id", "max_topic_id"):
        if previous_topics is not None and col in previous_topics.columns:
            values = pd.to_numeric(previous_topics[col], errors="coerce").dropna()
            if len(values):
                found.append(int(values.max()))
    return max(found)


def match_topic_ids(
    labels: np.ndarray,
    previous_topic: np.ndarray | None = None,
    previous_sizes: Mapping[int, int] | None = None,
    *,
    max_previous_id: int = 0,
) -> dict[int, int]:
    """Topic id of every new topic (``labels`` >= 0, one per conversation).

    A new topic keeps the id of the previous topic it shares most conversations with
    (Hungarian assignment maximising the overlap) when most of its earlier conversations
    (:data:`MATCH_NEW_SHARE`) had that id and they are a fair part of that old topic
    (:data:`MATCH_OLD_SHARE`); the others get ids above ``max_previous_id``, the largest
    first. ``previous_topic``: the previous run's topic id of each conversation (-1: none);
    ``previous_sizes``: conversations per topic in the previous run (by default counted
    from ``previous_topic``)."""
    labels = np.asarray(labels)
    volume = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.array([], int)
    topics = [c for c in range(len(volume)) if volume[c] > 0]
    ids: dict[int, int] = {}
    if previous_topic is not None and topics:
        previous_topic = np.asarray(previous_topic)
        both = (labels >= 0) & (previous_topic >= 0)
        if both.any():
            old_ids, old = np.unique(previous_topic[both], return_inverse=True)
            cells = np.bincount(
                labels[both] * len(old_ids) + old, minlength=len(volume) * len(old_ids)
            )
            overlap = cells.reshape(len(volume), len(old_ids))
            new_ids = np.flatnonzero(overlap.sum(axis=1))  # the new topics seen before
            overlap = overlap[new_ids]
            if previous_sizes is None:
                previous_sizes = Counter(previous_topic[previous_topic >= 0].tolist())
            old_size = np.array([previous_sizes.get(int(t), 0) for t in old_ids])
            new_seen = overlap.sum(axis=1)
            rows, cols = linear_sum_assignment(-overlap)
            for r, c in zip(rows, cols, strict=True):
                shared = overlap[r, c]
                mostly = shared > MATCH_NEW_SHARE * new_seen[r]
                if mostly and shared >= MATCH_OLD_SHARE * old_size[c]:
                    ids[int(new_ids[r])] = int(old_ids[c])
    next_id = max(max_previous_id, max(ids.values(), default=0)) + 1
    for c in sorted((c for c in topics if c not in ids), key=lambda c: (-volume[c], c)):
        ids[c] = next_id
        next_id += 1
    return ids


# --------------------------------------------------------------------------------------------
# rule-based fallback


def _compile_rules(rules: Mapping[str, Sequence[str]]):
    compiled = []
    for label, keywords in rules.items():
        pats = [
            (
                re.compile(r"\b" + r"\s+".join(map(re.escape, kw.lower().split())) + r"\w*"),
                2 if " " in kw.strip() else 1,
            )
            for kw in keywords
        ]
        compiled.append((label, pats))
    return compiled


def classify_by_rules(
    texts: Sequence[str], rules: Mapping[str, Sequence[str]] = DEFAULT_RULES
) -> list[str]:
    """Rule-based topic label of each text (see :data:`DEFAULT_RULES`)."""
    compiled = _compile_rules(rules)
    out = []
    for text in texts:
        clean = clean_text(text)
        best, best_score = OTHER_LABEL, 0
        for label, pats in compiled:
            score = sum(w * len(p.findall(clean)) for p, w in pats)
            if score > best_score:
                best, best_score = label, score
        out.append(best)
    return out


def _rules_result(
    rows: TopicRows,
    rules: Mapping[str, Sequence[str]],
    cold_start: tuple[int, int],
    previous_topics: pd.DataFrame | None,
    max_fit: int,
) -> TopicResult:
    """A cold start: fewer training conversations than ``min_conversations`` (or no usable
    word). Every text is classified by the rules a batch at a time; the questions come from
    a bounded sample."""
    min_conversations, n_train = cold_start
    order = [*rules.keys(), OTHER_LABEL]
    rule_of = {label: i for i, label in enumerate(order)}
    found = np.array(
        [
            rule_of[name]
            for batch in rows.batches(0, BATCH_SIZE)
            for name in classify_by_rules(batch, rules)
        ],
        dtype=np.int64,
    )
    counts = np.bincount(found, minlength=len(order))
    # topic indices by volume (ties: the order the rules are listed in)
    ranked = sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))
    index_of = np.full(len(order), -1)
    index_of[ranked] = np.arange(len(ranked))
    labels = index_of[found]
    present = [order[i] for i in ranked]
    sample = fit_sample(len(rows), max_fit)
    questions = _rule_questions(rows.take(sample), labels[sample], len(present))
    metrics = [
        ("cold_start", 1.0, None),
        ("training_conversations_available", n_train, min_conversations),
        ("rule_coverage", 1 - counts[-1] / len(found) if len(found) else np.nan, None),
        ("n_topics", len(present), None),
    ]
    return _result(
        rows,
        labels,
        previous_topics,
        previous_topic=rows.previous_topics(),
        labels_of=present,
        questions=questions,
        terms=[list(rules.get(lab, ()))[:MAX_KEY_TERMS] for lab in present],
        metrics=metrics,
        train_rows=0,
        holdout_rows=0,
        method="rules",
        details={"reason": f"{n_train} training conversations < minimum {min_conversations}"},
    )


def _rule_questions(texts: list[str], labels: np.ndarray, k: int) -> list[str]:
    try:
        vec = TfidfVectorizer(analyzer=Analyzer(), sublinear_tf=True)
        x = normalize(vec.fit_transform(texts))
    except ValueError:  # no usable word at all
        return [""] * k
    out = []
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        if not len(rows):  # a rare topic missing from the sample
            out.append("")
            continue
        centroid = normalize(np.asarray(x[rows].mean(axis=0))).ravel()
        near = rows[np.argsort(-np.asarray(x[rows] @ centroid).ravel())[:QUESTION_POOL]]
        out.append(
            representative_question(
                [texts[i] for i in near], centroid, lambda s: normalize(vec.transform(s))
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# output frames


def _result(
    rows: TopicRows,
    labels: np.ndarray,
    previous_topics: pd.DataFrame | None,
    *,
    previous_topic: np.ndarray,
    labels_of: Sequence[str] | None = None,
    questions: Sequence[str],
    terms: Sequence[Sequence[str]],
    metrics: list[tuple[str, object, object]],
    train_rows: int,
    holdout_rows: int,
    method: str,
    details: dict,
) -> TopicResult:
    """Frames from per-conversation topic indices (-1 = unassigned) and per-topic texts;
    ``previous_topic``: the previous run's topic id of each conversation (-1: none)."""
    day = rows.data_through
    max_prev = _previous_max_id(rows.previous, previous_topics)
    ids = match_topic_ids(labels, previous_topic, rows.previous.sizes, max_previous_id=max_prev)
    # the id of each index, and -1 last: label -1 (unassigned) reads it
    id_of = np.array([*(ids.get(c, -1) for c in range(labels.max(initial=-1) + 1)), -1])
    topic_of = id_of[labels]
    counts = Counter(int(c) for c in labels if c >= 0)
    present = sorted(counts, key=lambda c: (-counts[c], ids[c]))
    max_id = max([max_prev, *ids.values()])
    topics = pd.DataFrame(
        {
            "topic_id": [ids[c] for c in present],
            "label": [
                labels_of[c] if labels_of is not None else _label(questions[c], terms[c])
                for c in present
            ],
            "representative_question": [questions[c] for c in present],
            "top_terms": [", ".join(terms[c]) for c in present],
            "conversations": [counts[c] for c in present],
            "max_topic_id": max_id,
            "data_through": day,
        }
    )
    trends = trend_table(topics["topic_id"].tolist(), *_window_counts(rows, topic_of))
    topics = topics.merge(trends.drop(columns=["rising_score"]), on="topic_id", how="left")
    kept = _kept_share(topic_of, previous_topic, rows.previous, day)
    if kept is not None:
        metrics = [*metrics, ("retrain_same_topic_share", kept, None)]
        details = {**details, "retrain_same_topic_share": kept}
    unassigned = float(np.mean(labels < 0)) if len(labels) else 0.0
    runs = model_run_rows(
        MODEL_NAME,
        day,
        train_rows=train_rows,
        holdout_rows=holdout_rows,
        metrics=[*metrics, ("unassigned_share", unassigned, None)],
        kinds=METRIC_KINDS,
    )
    return TopicResult(
        topics=_typed_topics(topics),
        model_runs=runs,
        method=method,
        data_through=day,
        topic_of=topic_of,
        assignment_batches=lambda: _assignment_batches(rows, topic_of),
        n_topics=len(present),
        details={**details, "unassigned_share": unassigned},
    )


def _assignment_batches(rows: TopicRows, topic_of: np.ndarray) -> Iterator[pd.DataFrame]:
    for start in range(0, len(rows), ASSIGNMENT_BATCH_ROWS):
        topic = topic_of[start : start + ASSIGNMENT_BATCH_ROWS]
        yield pd.DataFrame(
            {
                "conversation_id": rows.conversation_ids(start, start + len(topic)),
                "topic_id": topic_ids(topic),
                "data_through": rows.data_through,
            },
            columns=ASSIGNMENT_COLUMNS,
        )
    if not len(rows):
        yield pd.DataFrame(columns=ASSIGNMENT_COLUMNS)


def topic_ids(topic_of: np.ndarray) -> pd.arrays.IntegerArray:
    """Topic ids as a nullable column (-1: unassigned, NULL)."""
    topic_of = np.asarray(topic_of, dtype=np.int64)
    return pd.arrays.IntegerArray(topic_of, topic_of < 0)


def _window_counts(rows: TopicRows, topic_of: np.ndarray) -> tuple[Counter, Counter]:
    """Conversations per topic id in the last :data:`TREND_DAYS` and the as many days before,
    from positions: the rows are in time order."""
    stop = pd.Timestamp(rows.data_through) + pd.Timedelta(days=1)
    mid = stop - pd.Timedelta(days=TREND_DAYS)
    first, middle, last = (rows.count_before(t) for t in (mid - (stop - mid), mid, stop))
    return (
        Counter(topic_of[middle:last][topic_of[middle:last] >= 0].tolist()),
        Counter(topic_of[first:middle][topic_of[first:middle] >= 0].tolist()),
    )


def _kept_share(
    topic_of: np.ndarray, previous_topic: np.ndarray, previous: PreviousRun, day: dt.date
) -> float | None:
    """Share of the previous run's assigned conversations (those still in the data) that keep
    their topic id; None without a previous run, or when the "previous" run is this one
    replayed on the same data (a replay must write the run as it was first written)."""
    if previous.data_through is not None and previous.data_through >= day:
        return None
    seen = previous_topic >= 0
    if not seen.any():
        return None
    return float(np.mean(topic_of[seen] == previous_topic[seen]))


def _typed_topics(frame: pd.DataFrame) -> pd.DataFrame:
    typed = frame.astype(
        {
            "topic_id": "int64",
            "conversations": "int64",
            "conversations_28d": "int64",
            "conversations_prev_28d": "int64",
            "trend_28d": "float64",
            "rank_volume": "int64",
            "rank_rising": "int64",
            "max_topic_id": "int64",
        }
    )
    return typed[TOPIC_COLUMNS].reset_index(drop=True)


def _empty_result() -> TopicResult:
    return TopicResult(
        topics=pd.DataFrame(columns=TOPIC_COLUMNS),
        model_runs=empty_model_runs(),
        method="none",
        data_through=None,
        topic_of=np.zeros(0, dtype=np.int64),
        assignment_batches=lambda: iter([pd.DataFrame(columns=ASSIGNMENT_COLUMNS)]),
    )


# --------------------------------------------------------------------------------------------
# public entry points


def discover_topics(
    conversations: pd.DataFrame,
    *,
    previous_assignments: pd.DataFrame | None = None,
    **options,
) -> TopicResult:
    """Discover the intents of conversations from frames, through the same warehouse pass as
    :func:`discover_topic_rows` (an in-memory DuckDB).

    ``conversations``: ``conversation_id, started_at (UTC), user_text``.
    ``previous_assignments`` (conversation_id, topic_id, data_through): the last run's
    assignments, for stable ids. ``options``: those of :func:`discover_topic_rows`.
    """
    with duckdb.connect() as conn:
        relations = load_frames(conn, conversations, previous_assignments)
        result = discover_topic_rows(TopicRows.prepare(conn, *relations), **options)
        assignments = result.assignments
    return replace(result, assignment_batches=lambda: iter([assignments]))


def discover_topic_rows(
    rows: TopicRows,
    *,
    min_conversations: int = MIN_CONVERSATIONS,
    holdout_days: int = HOLDOUT_DAYS,
    k: int | None = None,
    random_state: int = 0,
    rules: Mapping[str, Sequence[str]] = DEFAULT_RULES,
    pages: pd.DataFrame | None = None,
    queries: pd.DataFrame | None = None,
    previous_topics: pd.DataFrame | None = None,
    max_fit: int = MAX_FIT,
) -> TopicResult:
    """Discover the intents of the conversations of ``rows`` (method: module docstring).

    ``pages`` (page_path, page_title) and ``queries`` (query/search_query, page/page_url)
    name the catalogue whose words must not define a topic. ``previous_topics`` (topic_id,
    optional max_topic_id) are the last run's topics; its assignments are in ``rows``, for
    stable ids. ``k`` fixes the number of topics (default: learned). Only the fit samples,
    the batch being scored and the texts describing the topics are ever in memory; the
    assignments are read as :attr:`TopicResult.assignment_batches` are.
    """
    data_through = rows.data_through
    if data_through is None:
        return _empty_result()
    cutoff = pd.Timestamp(data_through) - pd.Timedelta(days=holdout_days - 1)
    n_train = rows.count_before(cutoff)  # the rows are in time order: training rows first
    n_holdout = len(rows) - n_train
    if n_train < min_conversations or n_holdout == 0:
        return _rules_result(rows, rules, (min_conversations, n_train), previous_topics, max_fit)
    entities = catalog_terms(pages, queries)
    fit = {"entities": entities, "random_state": random_state, "max_fit": max_fit, "n_intents": k}
    # of equally good clusterings, the published one is the closest to the previous topics;
    # the evaluation fit ignores them, so that a replay on the same data reproduces the run
    reference = rows.previous_topics()
    # the fits draw their bounded samples here (the rows fit_intents would draw), so that only
    # the sampled texts are fetched
    train_rows = fit_sample(n_train, max_fit, random_state)
    all_rows = fit_sample(len(rows), max_fit, random_state)
    try:
        # 1) fit on the training split, evaluate on the held-out last days
        trained = fit_intents(rows.take(train_rows), **fit)
        # 2) refit on all conversations, for the assignments
        final = fit_intents(rows.take(all_rows), reference=reference[all_rows], **fit)
    except ValueError:  # no usable vocabulary (e.g. every text is a greeting)
        return _rules_result(rows, rules, (min_conversations, n_train), previous_topics, max_fit)
    # one-topic baseline: the direction of (a bounded sample of) all training texts
    sample = np.random.default_rng(random_state).permutation(n_train)[:max_fit]
    direction = trained.mean_direction(rows.take(np.sort(sample)))
    hold, baseline = _score_holdout(trained, rows, n_train, direction)
    scores = _score_all(final, rows)
    labels = scores.labels
    stability = adjusted_rand_score(hold.labels, labels[n_train:])
    questions, terms = _describe(final, rows, scores, entities)
    metrics = [
        ("cold_start", 0.0, None),
        ("holdout_mean_cosine_to_topic", float(np.mean(hold.similarity)), baseline),
        ("holdout_assignment_stability_ari", float(stability), 0.0),
        ("n_topics", len(np.unique(labels[labels >= 0])), 1),
    ]
    return _result(
        rows,
        labels,
        previous_topics,
        previous_topic=reference,
        questions=questions,
        terms=terms,
        metrics=metrics,
        train_rows=n_train,
        holdout_rows=n_holdout,
        method="intents",
        details={"n_intents_train": trained.n_intents, "catalog_terms": sorted(entities)},
    )


def _score_holdout(
    model: IntentModel, texts: TopicRows, start: int, direction: np.ndarray
) -> tuple[Scores, float]:
    """Scores of the held-out texts (positions ``start`` on) and their mean cosine to
    ``direction``, batch by batch (the batches :meth:`IntentModel.mean_cosine` would make)."""
    parts, total, n = [], 0.0, 0
    for batch in texts.batches(start, BATCH_SIZE):
        parts.append(model.score(batch))
        total = model.cosine_sum(batch, direction, total)
        n += len(batch)
    return _concat(parts), total / max(n, 1)


def _score_all(model: IntentModel, texts: TopicRows) -> Scores:
    return _concat([model.score(batch) for batch in texts.batches(0, BATCH_SIZE)])


def _concat(parts: list[Scores]) -> Scores:
    if not parts:
        empty = np.zeros(0)
        return Scores(np.zeros(0, dtype=np.int64), empty, empty)
    return Scores(
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.similarity for p in parts]),
        np.concatenate([p.margin for p in parts]),
    )


def _describe(
    model: IntentModel, texts: TopicRows, scores: Scores, entities: Iterable[str]
) -> tuple[list[str], list[list[str]]]:
    """Representative question and key terms of every intent, from its core: the
    conversations with the largest margin over the next topic (closest to it *and* far from
    every other topic), so that a tight group of borderline conversations cannot speak for
    the topic."""
    vocab = model.vectorizer.get_feature_names_out()
    analyzer = model.vectorizer.analyzer
    cores = []
    for c in range(model.n_intents):
        rows = np.flatnonzero(scores.labels == c)
        cores.append(rows[np.argsort(-scores.margin[rows], kind="stable")[:QUESTION_POOL]])
    fetched = iter(texts.take(np.concatenate([np.zeros(0, np.int64), *cores])))  # one read
    questions, terms = [], []
    for c, core in enumerate(cores):
        near = [next(fetched) for _ in core]
        if not near:
            questions.append("")
            terms.append([])
            continue
        counts = Counter(
            t for text in near for t in [*analyzer.tokens(text), *analyzer.phrases(text)]
        )
        terms.append(_topic_terms(model.centroids[c], vocab, surface_forms(near), counts))
        questions.append(
            representative_question(near, model.centroids[c], model.vectors, analyzer.entities)
        )
    return questions, terms


# --------------------------------------------------------------------------------------------
# trend and evaluation


def topic_trends(
    assignments: pd.DataFrame,
    conversations: pd.DataFrame,
    *,
    data_through: dt.date | None = None,
    window_days: int = TREND_DAYS,
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
    if end is None:
        return pd.DataFrame(columns=TREND_COLUMNS)
    stop = pd.Timestamp(end) + pd.Timedelta(days=1)
    mid = stop - pd.Timedelta(days=window_days)
    start = mid - pd.Timedelta(days=window_days)
    cur = frame[(frame["started_at"] >= mid) & (frame["started_at"] < stop)]
    prev = frame[(frame["started_at"] >= start) & (frame["started_at"] < mid)]
    return trend_table(
        frame["topic_id"].dropna().unique().tolist(),
        cur["topic_id"].value_counts(),
        prev["topic_id"].value_counts(),
    )


def trend_table(
    topic_ids: Sequence[int], current: Mapping[int, int], previous: Mapping[int, int]
) -> pd.DataFrame:
    """The trend columns of :func:`topic_trends` from the conversations per topic in the
    current and the previous window."""
    out = pd.DataFrame({"topic_id": sorted(topic_ids)})
    out["conversations_28d"] = [int(current.get(t, 0)) for t in out["topic_id"]]
    out["conversations_prev_28d"] = [int(previous.get(t, 0)) for t in out["topic_id"]]
    out = out.astype({"conversations_28d": "int64", "conversations_prev_28d": "int64"})
    prev_n = out["conversations_prev_28d"].replace(0, np.nan)
    out["trend_28d"] = (out["conversations_28d"] - prev_n) / prev_n
    out["rising_score"] = np.log1p(out["conversations_28d"]) - np.log1p(
        out["conversations_prev_28d"]
    )
    out["rank_volume"] = (
        out["conversations_28d"].rank(ascending=False, method="first").astype("int64")
    )
    out = out.sort_values(
        ["rising_score", "conversations_28d", "topic_id"], ascending=[False, False, True]
    )
    out["rank_rising"] = np.arange(1, len(out) + 1)
    return out[TREND_COLUMNS].reset_index(drop=True)


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
