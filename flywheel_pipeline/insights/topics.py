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
   conversation near the topic's centre, preferring short questions without entities) and
   2–4 key terms; ``label`` = the question and its key terms.
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

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
from flywheel_pipeline.sql import identifier

__all__ = [
    "DEFAULT_RULES",
    "OTHER_LABEL",
    "STOP_WORDS",
    "FrameTexts",
    "TextSource",
    "TopicResult",
    "WarehouseTexts",
    "catalog_terms",
    "classify_by_rules",
    "discover_topics",
    "key_terms",
    "label_from_terms",
    "match_topic_ids",
    "representative_question",
    "score_against_labels",
    "topic_trends",
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
    """Outputs of :func:`discover_topics` (frames shaped like the ``ml`` tables)."""

    assignments: pd.DataFrame  # conversation_id, topic_id (NULL = unassigned), data_through
    topics: pd.DataFrame  # TOPIC_COLUMNS
    model_runs: pd.DataFrame  # contracts.md ml.model_runs
    method: str  # "intents" or "rules" (cold start)
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


class TextSource(Protocol):
    """The texts of a prepared conversation frame, by position in it (its row order)."""

    def __len__(self) -> int: ...

    def take(self, positions: Sequence[int] | np.ndarray) -> list[str]:
        """The texts at ``positions``, in that order."""
        ...

    def batches(self, start: int, size: int) -> Iterator[list[str]]:
        """The texts from position ``start`` to the end, ``size`` at a time (the last batch
        may be shorter)."""
        ...


class FrameTexts:
    """Texts held in memory (a list)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, positions: Sequence[int] | np.ndarray) -> list[str]:
        return [self.texts[int(i)] for i in positions]

    def batches(self, start: int, size: int) -> Iterator[list[str]]:
        for first in range(start, len(self.texts), size):
            yield self.texts[first : first + size]


class WarehouseTexts:
    """The ``user_text`` of a conversation relation (``conversation_id, started_at,
    user_text``) left in DuckDB: :attr:`frame` is the prepared frame (``conversation_id,
    started_at``, sorted as :func:`_prepare` sorts, one row per conversation), and texts are
    fetched by position (samples) or streamed in order (scoring), never all at once."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, relation: str) -> None:
        self.conn = conn
        [(rows, ids)] = conn.execute(
            f"select count(*), count(distinct conversation_id) from {relation} "
            "where started_at is not null"
        ).fetchall()
        one_per_id = (
            ""
            if rows == ids
            else (
                "qualify row_number() over (partition by conversation_id order by started_at) = 1"
            )
        )
        self.base = (
            "(select conversation_id, started_at, coalesce(cast(user_text as varchar), '') "
            f"as text from {relation} where started_at is not null {one_per_id})"
        )
        self.frame = conn.execute(
            f"select conversation_id, started_at from {self.base} "
            "order by started_at, conversation_id"
        ).df()
        self.frame["started_at"] = to_utc_naive(self.frame["started_at"])
        self.ids = self.frame["conversation_id"].to_numpy()

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, positions: Sequence[int] | np.ndarray) -> list[str]:
        positions = np.asarray(positions, dtype=np.int64)
        wanted = pd.DataFrame({"conversation_id": self.ids[positions]}).drop_duplicates()
        with self._cursor() as cursor:  # a connection of its own for the registration
            cursor.register("_wanted_texts", wanted)
            found = cursor.execute(
                f"select t.conversation_id, t.text from {self.base} t "
                "semi join _wanted_texts w on t.conversation_id = w.conversation_id"
            ).df()
        text_of = dict(zip(found["conversation_id"], found["text"], strict=True))
        return [text_of[c] for c in self.ids[positions]]

    def batches(self, start: int, size: int) -> Iterator[list[str]]:
        if start >= len(self):
            return
        # from position `start` on by a filter, not an offset, so that only those rows are
        # sorted (ids are unique: the sort order is total)
        query = f"select conversation_id, text from {self.base} t"
        params = None
        if start > 0:  # the rows from the conversation at `start` on
            first = f"(select started_at as at from {self.base} where conversation_id = ?) f"
            query += (
                f", {first} where t.started_at > f.at "
                "or (t.started_at = f.at and t.conversation_id >= ?)"
            )
            params = [self.ids[start], self.ids[start]]
        # a cursor of its own leaves the connection free for other queries meanwhile; a
        # relation (not an executed result, which DuckDB would copy whole) streams
        with self._cursor() as cursor:
            reader = cursor.sql(
                f"{query} order by t.started_at, t.conversation_id", params=params
            ).to_arrow_reader(size)
            position, pending_ids, pending = start, [], []
            for record_batch in reader:
                pending_ids += record_batch.column(0).to_pylist()
                pending += record_batch.column(1).to_pylist()
                while len(pending) >= size:
                    yield self._checked(position, pending_ids[:size], pending[:size])
                    position += size
                    pending_ids, pending = pending_ids[size:], pending[size:]
            if pending:
                yield self._checked(position, pending_ids, pending)

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own to the same database, in the same catalog and schema."""
        [(catalog, schema)] = self.conn.execute(
            "select current_database(), current_schema()"
        ).fetchall()
        with self.conn.cursor() as cursor:
            cursor.execute(f"use {identifier(catalog)}.{identifier(schema)}")
            yield cursor

    def _checked(self, position: int, ids: list, texts: list[str]) -> list[str]:
        if list(self.ids[position : position + len(ids)]) != ids:
            raise RuntimeError("streamed conversations out of step with the prepared frame")
        return texts


def _prepare(conversations: pd.DataFrame) -> pd.DataFrame:
    missing = {"conversation_id", "started_at", "user_text"} - set(conversations.columns)
    if missing:
        raise ValueError(f"conversations frame lacks columns: {sorted(missing)}")
    frame = conversations[["conversation_id", "started_at", "user_text"]].copy()
    frame["started_at"] = to_utc_naive(frame["started_at"])
    frame = frame.dropna(subset=["started_at"]).drop_duplicates("conversation_id")
    frame["text"] = frame["user_text"].fillna("").astype(str)
    return frame.sort_values(["started_at", "conversation_id"]).reset_index(drop=True)


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
    sentences without entity words, digits or redaction tokens (see :func:`_question_score`;
    what remains of those is masked)."""
    candidates = [s for text in texts for s in _sentences(str(text))[:1]]
    if not candidates:
        return ""
    keys = [" ".join(surface_words(s)) for s in candidates]
    repeats = Counter(keys)
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    unique = sorted(first.values())
    sims = np.asarray(vectorize([candidates[i] for i in unique]) @ centroid).ravel()
    entity_set = frozenset(entities)
    scores = [
        _question_score(candidates[i], sim, repeats[keys[i]], entity_set)
        for i, sim in zip(unique, sims, strict=True)
    ]
    return _redact(candidates[unique[int(np.argmax(scores))]])


def _question_score(sentence: str, similarity: float, repeats: int, entities: frozenset) -> float:
    words = surface_words(sentence)
    score = similarity * (1.0 + 0.15 * math.log1p(repeats - 1))  # a phrasing many customers use
    score *= 1.2 if sentence.rstrip().endswith("?") else 1.0
    score *= 1.0 if len(words) >= 4 else 0.7
    score /= 1.0 + 0.04 * max(0, len(words) - 10)  # short reads at a glance
    score *= 0.6 if entities.intersection(light_stem(w) for w in words) else 1.0
    score *= 0.8 if _DIGIT_TOKEN.search(sentence) else 1.0
    return score * (0.5 if _PLACEHOLDER_TOKEN.search(sentence) or _EMAIL.search(sentence) else 1.0)


def _label(question: str, terms: Sequence[str]) -> str:
    shown = ", ".join(terms[:3])
    if question and shown:
        return f"{question} ({shown})"
    return question or shown or OTHER_LABEL


# --------------------------------------------------------------------------------------------
# stable ids


def _previous_max_id(
    previous_assignments: pd.DataFrame | None, previous_topics: pd.DataFrame | None
) -> int:
    found = [0]
    for frame, cols in (
        (previous_topics, ("topic_id", "max_topic_id")),
        (previous_assignments, ("topic_id",)),
    ):
        if frame is None:
            continue
        for col in cols:
            if col in frame.columns:
                values = pd.to_numeric(frame[col], errors="coerce").dropna()
                if len(values):
                    found.append(int(values.max()))
    return max(found)


def match_topic_ids(
    conversation_ids: Sequence[str],
    labels: np.ndarray,
    previous_assignments: pd.DataFrame | None = None,
    *,
    max_previous_id: int = 0,
) -> dict[int, int]:
    """Topic id of every new topic (``labels`` >= 0, one per conversation).

    A new topic keeps the id of the previous topic it shares most conversations with
    (Hungarian assignment maximising the overlap) when most of its earlier conversations
    (:data:`MATCH_NEW_SHARE`) had that id and they are a fair part of that old topic
    (:data:`MATCH_OLD_SHARE`); the others get ids above ``max_previous_id``, the largest
    first. ``previous_assignments``: conversation_id, topic_id (NULL = unassigned)."""
    labels = np.asarray(labels)
    volume = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.array([], int)
    topics = [c for c in range(len(volume)) if volume[c] > 0]
    ids: dict[int, int] = {}
    if previous_assignments is not None and len(previous_assignments) and topics:
        now = pd.DataFrame({"conversation_id": list(conversation_ids), "new": labels})
        prev = previous_assignments[["conversation_id", "topic_id"]].dropna()
        both = now[now["new"] >= 0].merge(prev, on="conversation_id")
        if len(both):
            overlap = pd.crosstab(both["new"], both["topic_id"])
            new_seen = overlap.sum(axis=1).to_numpy()
            old_size = prev["topic_id"].value_counts().reindex(overlap.columns).to_numpy()
            rows, cols = linear_sum_assignment(-overlap.to_numpy())
            for r, c in zip(rows, cols, strict=True):
                shared = overlap.iat[r, c]
                mostly = shared > MATCH_NEW_SHARE * new_seen[r]
                if mostly and shared >= MATCH_OLD_SHARE * old_size[c]:
                    ids[int(overlap.index[r])] = int(overlap.columns[c])
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
    frame: pd.DataFrame,
    texts: TextSource,
    data_through: dt.date,
    rules: Mapping[str, Sequence[str]],
    min_conversations: int,
    n_train: int,
    previous: tuple[pd.DataFrame | None, pd.DataFrame | None],
) -> TopicResult:
    # a cold start: fewer training conversations than min_conversations
    all_texts = texts.take(np.arange(len(frame)))
    names = classify_by_rules(all_texts, rules)
    order = [*rules.keys(), OTHER_LABEL]
    counts = Counter(names)
    present = sorted(counts, key=lambda lab: (-counts[lab], order.index(lab)))
    index = {lab: i for i, lab in enumerate(present)}
    labels = np.array([index[n] for n in names], dtype=np.int64)
    questions = _rule_questions(all_texts, labels, len(present))
    coverage = float(np.mean([n != OTHER_LABEL for n in names])) if names else np.nan
    metrics = [
        ("cold_start", 1.0, None),
        ("training_conversations_available", n_train, min_conversations),
        ("rule_coverage", coverage, None),
        ("n_topics", len(present), None),
    ]
    return _result(
        frame,
        data_through,
        labels,
        previous,
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
    frame: pd.DataFrame,
    data_through: dt.date,
    labels: np.ndarray,
    previous: tuple[pd.DataFrame | None, pd.DataFrame | None],
    *,
    labels_of: Sequence[str] | None = None,
    questions: Sequence[str],
    terms: Sequence[Sequence[str]],
    metrics: list[tuple[str, object, object]],
    train_rows: int,
    holdout_rows: int,
    method: str,
    details: dict,
) -> TopicResult:
    """Frames from per-conversation topic indices (-1 = unassigned) and per-topic texts."""
    prev_assignments, prev_topics = previous
    max_prev = _previous_max_id(prev_assignments, prev_topics)
    ids = match_topic_ids(
        frame["conversation_id"].tolist(), labels, prev_assignments, max_previous_id=max_prev
    )
    topic_of = pd.array([ids.get(int(c)) if c >= 0 else None for c in labels], dtype="Int64")
    assignments = pd.DataFrame(
        {
            "conversation_id": frame["conversation_id"].to_numpy(),
            "topic_id": topic_of,
            "data_through": data_through,
        }
    )
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
            "data_through": data_through,
        }
    )
    trends = topic_trends(assignments, frame, data_through=data_through)
    topics = topics.merge(trends.drop(columns=["rising_score"]), on="topic_id", how="left")
    kept = _kept_share(assignments, prev_assignments)
    if kept is not None:
        metrics = [*metrics, ("retrain_same_topic_share", kept, None)]
        details = {**details, "retrain_same_topic_share": kept}
    unassigned = float(np.mean(labels < 0)) if len(labels) else 0.0
    runs = model_run_rows(
        MODEL_NAME,
        data_through,
        train_rows=train_rows,
        holdout_rows=holdout_rows,
        metrics=[*metrics, ("unassigned_share", unassigned, None)],
        kinds=METRIC_KINDS,
    )
    return TopicResult(
        assignments=assignments.astype({"topic_id": "Int64"})[ASSIGNMENT_COLUMNS],
        topics=_typed_topics(topics),
        model_runs=runs,
        method=method,
        data_through=data_through,
        n_topics=len(present),
        details={**details, "unassigned_share": unassigned},
    )


def _kept_share(assignments: pd.DataFrame, previous: pd.DataFrame | None) -> float | None:
    """Share of the previous run's assigned conversations that keep their topic id; None
    without a previous run, or when the "previous" run is this one replayed on the same data
    (a replay must write the run as it was first written)."""
    if previous is None or previous.empty:
        return None
    through = pd.Timestamp(assignments["data_through"].max())
    if "data_through" in previous and (pd.to_datetime(previous["data_through"]) >= through).any():
        return None
    prev = previous[["conversation_id", "topic_id"]].dropna()
    both = prev.merge(
        assignments[["conversation_id", "topic_id"]],
        on="conversation_id",
        suffixes=("_prev", "_now"),
    )
    if both.empty:
        return None
    same = both["topic_id_prev"].astype("Int64") == both["topic_id_now"].astype("Int64")
    return float(same.fillna(False).mean())


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
        assignments=pd.DataFrame(columns=ASSIGNMENT_COLUMNS),
        topics=pd.DataFrame(columns=TOPIC_COLUMNS),
        model_runs=empty_model_runs(),
        method="none",
        data_through=None,
    )


# --------------------------------------------------------------------------------------------
# public entry point


def discover_topics(
    conversations: pd.DataFrame,
    *,
    min_conversations: int = MIN_CONVERSATIONS,
    holdout_days: int = HOLDOUT_DAYS,
    k: int | None = None,
    random_state: int = 0,
    rules: Mapping[str, Sequence[str]] = DEFAULT_RULES,
    pages: pd.DataFrame | None = None,
    queries: pd.DataFrame | None = None,
    previous_assignments: pd.DataFrame | None = None,
    previous_topics: pd.DataFrame | None = None,
    max_fit: int = MAX_FIT,
    texts: TextSource | None = None,
) -> TopicResult:
    """Discover the intents of conversations (method: module docstring).

    ``conversations``: ``conversation_id, started_at (UTC), user_text``. ``pages``
    (page_path, page_title) and ``queries`` (query/search_query, page/page_url) name the
    catalogue whose words must not define a topic. ``previous_assignments`` (conversation_id,
    topic_id) and ``previous_topics`` (topic_id, optional max_topic_id) are the last run's
    outputs, for stable ids. ``k`` fixes the number of topics (default: learned).
    ``texts``: the conversations' texts kept outside the frame (e.g. :class:`WarehouseTexts`,
    streamed from the warehouse); ``conversations`` is then the prepared frame
    (``conversation_id, started_at``, sorted, one row per text) and only the fit samples, the
    batch being scored and the texts describing the topics are ever in memory.
    """
    if texts is None:
        frame = _prepare(conversations)
        texts = FrameTexts(frame["text"].tolist())
        frame = frame[["conversation_id", "started_at"]]
    else:
        frame = conversations[["conversation_id", "started_at"]].reset_index(drop=True)
        frame["started_at"] = to_utc_naive(frame["started_at"])
    if len(texts) != len(frame):
        raise ValueError("texts must hold one text per conversation of the frame")
    data_through = max_date(frame["started_at"])
    if data_through is None:
        return _empty_result()
    previous = (previous_assignments, previous_topics)
    cutoff = pd.Timestamp(data_through) - pd.Timedelta(days=holdout_days - 1)
    is_holdout = (frame["started_at"] >= cutoff).to_numpy()
    n_train, n_holdout = int((~is_holdout).sum()), int(is_holdout.sum())
    cold_start = (min_conversations, n_train, previous)
    if n_train < min_conversations or n_holdout == 0:
        return _rules_result(frame, texts, data_through, rules, *cold_start)
    entities = catalog_terms(pages, queries)
    fit = {"entities": entities, "random_state": random_state, "max_fit": max_fit, "n_intents": k}
    # of equally good clusterings, the published one is the closest to the previous topics;
    # the evaluation fit ignores them, so that a replay on the same data reproduces the run
    reference = _previous_topic_of(frame, previous_assignments)
    # the fits draw their bounded samples here (the rows fit_intents would draw), so that only
    # the sampled texts are fetched; the frame is sorted by time, so training rows come first
    train_rows = fit_sample(n_train, max_fit, random_state)
    all_rows = fit_sample(len(frame), max_fit, random_state)
    try:
        # 1) fit on the training split, evaluate on the held-out last days
        trained = fit_intents(texts.take(train_rows), **fit)
        # 2) refit on all conversations, for the assignments
        final = fit_intents(texts.take(all_rows), reference=reference[all_rows], **fit)
    except ValueError:  # no usable vocabulary (e.g. every text is a greeting)
        return _rules_result(frame, texts, data_through, rules, *cold_start)
    # one-topic baseline: the direction of (a bounded sample of) all training texts
    sample = np.random.default_rng(random_state).permutation(n_train)[:max_fit]
    direction = trained.mean_direction(texts.take(np.sort(sample)))
    hold, baseline = _score_holdout(trained, texts, n_train, direction)
    scores = _score_all(final, texts)
    labels = scores.labels
    stability = adjusted_rand_score(hold.labels, labels[is_holdout])
    questions, terms = _describe(final, texts, scores, entities)
    metrics = [
        ("cold_start", 0.0, None),
        ("holdout_mean_cosine_to_topic", float(np.mean(hold.similarity)), baseline),
        ("holdout_assignment_stability_ari", float(stability), 0.0),
        ("n_topics", len(np.unique(labels[labels >= 0])), 1),
    ]
    return _result(
        frame,
        data_through,
        labels,
        previous,
        questions=questions,
        terms=terms,
        metrics=metrics,
        train_rows=n_train,
        holdout_rows=n_holdout,
        method="intents",
        details={"n_intents_train": trained.n_intents, "catalog_terms": sorted(entities)},
    )


def _previous_topic_of(frame: pd.DataFrame, previous: pd.DataFrame | None) -> np.ndarray:
    """The previous run's topic id of every conversation of ``frame`` (-1: none)."""
    if previous is None or previous.empty:
        return np.full(len(frame), -1, dtype=np.int64)
    ids = previous.dropna(subset=["topic_id"]).drop_duplicates("conversation_id")
    ids = ids.set_index("conversation_id")["topic_id"]
    return frame["conversation_id"].map(ids).fillna(-1).astype(np.int64).to_numpy()


def _score_holdout(
    model: IntentModel, texts: TextSource, start: int, direction: np.ndarray
) -> tuple[Scores, float]:
    """Scores of the held-out texts (positions ``start`` on) and their mean cosine to
    ``direction``, batch by batch (the batches :meth:`IntentModel.mean_cosine` would make)."""
    parts, total, n = [], 0.0, 0
    for batch in texts.batches(start, BATCH_SIZE):
        parts.append(model.score(batch))
        total = model.cosine_sum(batch, direction, total)
        n += len(batch)
    return _concat(parts), total / max(n, 1)


def _score_all(model: IntentModel, texts: TextSource) -> Scores:
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
    model: IntentModel, texts: TextSource, scores: Scores, entities: Iterable[str]
) -> tuple[list[str], list[list[str]]]:
    """Representative question and key terms of every intent, from its core: the
    conversations with the largest margin over the next topic (closest to it *and* far from
    every other topic), so that a tight group of borderline conversations cannot speak for
    the topic."""
    vocab = model.vectorizer.get_feature_names_out()
    analyzer = model.vectorizer.analyzer
    questions, terms = [], []
    for c in range(model.n_intents):
        rows = np.flatnonzero(scores.labels == c)
        order = np.argsort(-scores.margin[rows], kind="stable")[:QUESTION_POOL]
        near = texts.take(rows[order])
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
        "topic_id",
        "conversations_28d",
        "conversations_prev_28d",
        "trend_28d",
        "rising_score",
        "rank_volume",
        "rank_rising",
    ]
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
    out = out.sort_values(
        ["rising_score", "conversations_28d", "topic_id"], ascending=[False, False, True]
    )
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
