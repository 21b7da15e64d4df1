"""Content gaps: customer topics that no page of the site answers.

A topic is a *content gap* when many customers bring it and no content page of the site
answers it. Whether a page answers a topic is judged from text: what customers write in the
topic's conversations against what the page says about itself (path and title) and the searches
that land on it. Rule (SPEC §6, "Content gaps"):

1. **Page documents.** Each page seen in GA4 (``page_path``, ``page_title``) or Search Console
   becomes one document: its path and title words (one unit vector) plus the Search Console
   queries that land on it, each query's unit vector weighted by its share of the page's
   clicks. Clicks, not impressions: a page shown on page three for "import duty" (impressions,
   no clicks) is not what searchers pick for import duty, so it does not count as an answer.
   Words in more than half of all titles (the shop's name) and the names of sections shared by
   several pages ("help", "products") carry no content and are dropped.
2. **Page kinds, from path structure.** The home page, catalogue pages (first path segment in
   :data:`CATALOGUE_SECTIONS`: products, collections, category, shop, ...) and transactional
   pages (:data:`TRANSACTIONAL_SECTIONS`: cart, checkout, account, login, ...) may come closest
   to a topic but never *answer* it: a product page that names the merino sweater does not say
   how to wash it. Every other page (help, FAQ, blog, guides, contact) is a content page.
3. **Intent words.** Words of catalogue titles and paths that no content page uses are entity
   words (product names: "merino", "chino", "beanie"). Topics are compared on their intent
   words only, so "How should I wash the merino sweater?" is about washing, not the sweater.
   Pages keep their full norm, so a page that is mostly product names scores low on any intent.
4. **Topic text.** With ``topic_texts`` (one row per conversation): the mean of the unit
   TF-IDF vectors (lightly stemmed words) of the topic's *core* conversations, the half
   (:data:`CORE_SHARE`) closest to the topic's centre, so that a minority of other questions
   mixed into an imperfect topic does not decide which page answers it. Without
   ``topic_texts``: the topic's label, representative question and top terms as one document.
   The similarity of a topic and a page is the cosine of the topic's intent profile and the
   page document (0–1).
5. **Answered.** A content page answers a topic when (a) its similarity is at least
   :data:`MIN_SIMILARITY` (0.05; below it, topic and page share no more than an incidental
   word) and (b) it is closer to the topic than to the rest of the conversations:
   *lift* = similarity to the topic / similarity to all the other conversations (same
   weighting, unassigned ones included) > :data:`MIN_LIFT` (1). The reference is how close the
   site's own conversations come to the page, so there is no per-site threshold to tune: a page
   about the topic passes, most by a wide margin (demo, 3 seeds × 2 scales: returns page vs
   returns questions, lift 30–50; order-tracking page vs delivery delays, which share their
   words with order tracking, 1.5–1.8), while a page that merely shares the shop's everyday
   words ("order", "ship", "parcel") with the topic is closer to the other conversations than
   to this one (customs duties vs the shipping page: 0.6–0.8; the four planted gaps: at most
   0.83). The closest answering page is the topic's ``best_page``.
6. **High volume.** At least ``min_conversations`` (10) conversations and at least
   ``min_share`` (1 %) of all assigned conversations: one customer in a hundred, however
   finely the topics are cut.
7. ``is_content_gap`` = high volume and not answered (``is_answered``). ``best_page`` is the
   answering page or, for an unanswered topic, the closest page of any kind;
   ``best_page_similarity`` is its similarity (0–1) and ``best_page_kind`` its kind.
   ``covered_terms`` / ``missing_terms`` are the topic's top terms the best page does / does
   not contain; ``gap_evidence`` says all of this in words (for a gap: the closest content
   page and why it does not count).

Limits: matching is lexical. A page answers only in the words of its path, title and landing
searches, so a topic phrased in words none of these use ("does it run small?" against a "Size
guide") can be flagged although the page covers it; and a topic that mixes a cohesive group of
another intent's questions into a gap (a fifth of "has my order shipped?" in customs duties)
can look answered by that intent's page. A topic model with one topic per intent keeps both
rare; the core trimming of step 4 absorbs small mixtures.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from flywheel_pipeline.insights.intents import STOP_WORDS

MIN_SIMILARITY = 0.05
MIN_LIFT = 1.0
CORE_SHARE = 0.5
MIN_CONVERSATIONS = 10
MIN_SHARE = 0.01
MAX_TERMS = 8
#: At most this many conversations' texts profile the topics (:func:`topic_text_sample`): a
#: uniform sample keeps each topic's share, and the cost stays bounded at any volume.
MAX_TOPIC_TEXTS = 100_000

#: First path segments of catalogue pages on common shop platforms (Shopify, WooCommerce,
#: Magento, BigCommerce, Squarespace): they list or sell products, they do not answer questions.
CATALOGUE_SECTIONS = frozenset(
    (
        "products",
        "product",
        "collections",
        "collection",
        "category",
        "categories",
        "product-category",
        "shop",
        "store",
        "catalog",
        "catalogue",
        "p",
        "c",
        "item",
        "items",
        "brands",
        "brand",
    )
)
#: First path segments of pages where the visitor does something rather than reads.
TRANSACTIONAL_SECTIONS = frozenset(
    (
        "cart",
        "basket",
        "bag",
        "checkout",
        "account",
        "accounts",
        "login",
        "signin",
        "sign-in",
        "register",
        "signup",
        "sign-up",
        "search",
        "wishlist",
        "my-account",
    )
)
CONTENT, CATALOGUE, TRANSACTIONAL, HOME = "content", "catalogue", "transactional", "home"

_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
# The topic model's stop words (chat filler on top of the English list), and URL parts.
_STOP = STOP_WORDS | frozenset(("www", "http", "https", "html", "htm", "php", "com", "index"))

#: ``ml.conversation_topics`` columns of docs/contracts.md, in order.
CONTRACT_COLUMNS = [
    "topic_id",
    "label",
    "top_terms",
    "conversations",
    "is_content_gap",
    "gap_evidence",
    "data_through",
]
#: Columns :func:`with_content_gaps` adds after the topic columns.
PAGE_COLUMNS = ["is_answered", "best_page", "best_page_similarity"]
OUTPUT_COLUMNS = [
    "topic_id",
    "is_content_gap",
    "is_answered",
    "gap_evidence",
    "best_page",
    "best_page_similarity",
    "best_page_kind",
    "covered_terms",
    "missing_terms",
    "high_volume",
]


# --------------------------------------------------------------------------------------------
# words and pages


def stem(word: str) -> str:
    """A deliberately light stemmer so that page and topic words meet: plural ``s``/``ies``,
    ``ing``/``ed`` (with a doubled final consonant undone), ``ment`` and a final ``e`` go —
    "returned" and "returns" -> "return", "shipping" -> "ship", "sizing"/"size" -> "siz"."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]
            break
    if len(w) > 7 and w.endswith("ment"):
        w = w[:-4]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def words(text: object) -> list[str]:
    """Stemmed content words of a text (stop words and redaction tokens dropped)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    return [stem(w) for w in _WORD.findall(str(text).lower()) if w not in _STOP]


def page_path(page: object) -> str:
    """A path from a full URL (Search Console) or a path (GA4): ``/help/returns``."""
    text = str(page or "").strip()
    path = urlparse(text).path if "://" in text else text.split("?")[0].split("#")[0]
    path = path or "/"
    return path if path == "/" else path.rstrip("/")


def page_kind(path: str) -> str:
    """``home``, ``catalogue``, ``transactional`` or ``content`` from the path's first segment
    (see :data:`CATALOGUE_SECTIONS`, :data:`TRANSACTIONAL_SECTIONS`)."""
    segments = [s for s in page_path(path).lower().split("/") if s]
    if not segments:
        return HOME
    if segments[0] in CATALOGUE_SECTIONS:
        return CATALOGUE
    if segments[0] in TRANSACTIONAL_SECTIONS:
        return TRANSACTIONAL
    return CONTENT


def _path_text(path: str, sections: set[str]) -> str:
    segments = [s for s in path.lower().split("/") if s]
    if len(segments) > 1 and segments[0] in sections:
        segments = segments[1:]
    return " ".join(re.sub(r"[-_.+]", " ", s) for s in segments)


@dataclass
class _Pages:
    paths: list[str]
    kinds: list[str]
    meta: list[str]  # path + title text
    queries: pd.DataFrame  # query, path, clicks


def _collect_pages(pages: pd.DataFrame | None, queries: pd.DataFrame | None) -> _Pages:
    titles: dict[str, str] = {}
    if pages is not None and len(pages):
        frame = pd.DataFrame(
            {
                "path": pages["page_path"].map(page_path),
                "title": pages["page_title"] if "page_title" in pages.columns else "",
            }
        )
        frame["title"] = frame["title"].fillna("").astype(str)
        for path, group in frame.groupby("path", sort=True):
            titles[path] = group["title"].mode().iat[0] if len(group) else ""
    q = pd.DataFrame(columns=["query", "path", "clicks"])
    if queries is not None and len(queries):
        q = pd.DataFrame(
            {
                "query": queries["query"].fillna("").astype(str),
                "path": queries["page"].map(page_path),
                # without clicks, impressions are the best stand-in for what searchers pick
                "clicks": pd.to_numeric(
                    queries["clicks"]
                    if "clicks" in queries.columns
                    else queries.get("impressions", 1),
                    errors="coerce",
                ).fillna(0.0),
            }
        )
        q = q.groupby(["query", "path"], as_index=False)["clicks"].sum()
        q = q[q["clicks"] > 0]
        for path in q["path"].unique():
            titles.setdefault(path, "")
    paths = sorted(titles)
    first = Counter(s[0] for s in (p.lower().split("/")[1:] for p in paths if p != "/") if s)
    sections = {s for s, n in first.items() if n > 1}
    meta = [f"{_path_text(p, sections)} {titles[p]}" for p in paths]
    return _Pages(paths, [page_kind(p) for p in paths], meta, q)


def _boilerplate(titles: Iterable[str]) -> set[str]:
    """Words in more than half of the page titles: the shop's name, not content."""
    titles = [t for t in titles if t and t.strip()]
    counts = Counter(w for t in titles for w in set(words(t)))
    return {w for w, n in counts.items() if len(titles) >= 3 and n > 0.5 * len(titles)}


# --------------------------------------------------------------------------------------------
# similarity


@dataclass
class _Space:
    vectorizer: TfidfVectorizer
    intent: np.ndarray  # 1 for intent words, 0 for entity words (per vocabulary column)
    pages: np.ndarray  # page × vocabulary, unit rows (full vocabulary)


def _page_titles(pages: pd.DataFrame | None) -> list[str]:
    if pages is None or not len(pages) or "page_title" not in pages.columns:
        return []
    return pages.drop_duplicates("page_path")["page_title"].fillna("").astype(str).tolist()


def _fit_space(site: _Pages, titles: list[str], corpus: list[str]) -> _Space:
    drop = _boilerplate(titles)

    def analyze(text: str) -> list[str]:
        return [w for w in words(text) if w not in drop]

    vectorizer = TfidfVectorizer(analyzer=analyze, sublinear_tf=True)
    vectorizer.fit(corpus + site.meta + site.queries["query"].tolist() + ["placeholder"])
    vocab = vectorizer.vocabulary_
    catalogue = {
        w for m, k in zip(site.meta, site.kinds, strict=True) if k == CATALOGUE for w in analyze(m)
    }
    content = {
        w for m, k in zip(site.meta, site.kinds, strict=True) if k == CONTENT for w in analyze(m)
    }
    intent = np.ones(len(vocab))
    for w in catalogue - content:
        if w in vocab:
            intent[vocab[w]] = 0.0
    docs = np.zeros((len(site.paths), len(vocab)))
    if site.paths:
        docs = normalize(vectorizer.transform(site.meta)).toarray()
        q = site.queries
        if len(q):
            index = {p: i for i, p in enumerate(site.paths)}
            share = q["clicks"] / q.groupby("path")["clicks"].transform("sum")
            rows = q["path"].map(index).to_numpy()
            weights = sparse.csr_matrix(
                (share.to_numpy(), (rows, np.arange(len(q)))), shape=(len(site.paths), len(q))
            )
            landing = weights @ normalize(vectorizer.transform(q["query"]))
            docs = docs + np.asarray(landing.todense())
        docs = normalize(docs)
    return _Space(vectorizer, intent, docs)


def topic_text_sample(n: int, max_texts: int = MAX_TOPIC_TEXTS, seed: int = 0) -> np.ndarray:
    """Positions (sorted) of the conversations whose texts profile the topics, out of ``n``:
    all of them up to ``max_texts``, else a seeded uniform sample of ``max_texts`` (topic
    shares, and so the profiles, are kept in expectation; the cost stays bounded)."""
    if n <= max_texts:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_texts, replace=False))


def _topic_profiles(
    topics: pd.DataFrame, topic_texts: pd.DataFrame | None, space: _Space, core_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per topic: the intent profile of its core conversations and the profile of all *other*
    conversations (both unit vectors)."""
    ids = topics["topic_id"].tolist()
    own_docs = [_topic_document(t) for t in topics.itertuples(index=False)]
    own = np.asarray(normalize(space.vectorizer.transform(own_docs)).todense())
    weights = topics["conversations"].astype(float).clip(lower=0).to_numpy()
    sums = own * weights[:, None]
    total = sums.sum(axis=0)
    if topic_texts is not None and len(topic_texts):
        texts = topic_texts["text"].fillna("").astype(str).tolist()
        x = normalize(space.vectorizer.transform(texts)).multiply(space.intent[None, :]).tocsr()
        total = np.asarray(x.sum(axis=0)).ravel()
        codes = topic_texts["topic_id"].map({t: i for i, t in enumerate(ids)})
        member = _membership(codes, len(ids), np.ones(len(texts)))
        counts = np.asarray(member.sum(axis=1)).ravel()
        all_sums = np.asarray((member @ x).todense())
        core = _membership(codes, len(ids), _core_weights(x, codes, all_sums, core_share))
        core_sums = np.asarray((core @ x).todense())
        # a topic without conversations in topic_texts keeps its label/terms document
        sums = np.where(counts[:, None] > 0, core_sums, sums)
        rest = total[None, :] - np.where(counts[:, None] > 0, all_sums, 0.0)
    else:
        rest = total[None, :] - sums
    return normalize(sums * space.intent), normalize(np.clip(rest, 0, None) * space.intent)


def _membership(codes: pd.Series, n_topics: int, weights: np.ndarray) -> sparse.csr_matrix:
    keep = codes.notna().to_numpy() & (weights > 0)
    rows = codes[keep].astype(int).to_numpy()
    return sparse.csr_matrix(
        (weights[keep], (rows, np.flatnonzero(keep))), shape=(n_topics, len(codes))
    )


def _core_weights(x, codes: pd.Series, sums: np.ndarray, core_share: float) -> np.ndarray:
    """1 for the ``core_share`` of each topic's conversations closest to its centre, else 0:
    a minority of other questions mixed into a topic must not decide which page answers it."""
    centres = normalize(sums)
    known = codes.notna().to_numpy()
    closeness = np.full(len(codes), -np.inf)
    rows = codes[known].astype(int).to_numpy()
    # conversation × topic is small (unlike a dense centre row per conversation)
    closeness[known] = np.asarray(x[known] @ centres.T)[np.arange(len(rows)), rows]
    frame = pd.DataFrame({"topic": codes, "closeness": closeness})[known]
    cutoff = frame.groupby("topic")["closeness"].transform(lambda c: c.quantile(1 - core_share))
    weights = np.zeros(len(codes))
    weights[np.flatnonzero(known)] = (frame["closeness"] >= cutoff).to_numpy(dtype=float)
    return weights


def _topic_document(topic) -> str:
    parts = [
        getattr(topic, "representative_question", None),
        getattr(topic, "label", None),
        getattr(topic, "top_terms", None),
    ]
    return " ".join(str(p) for p in parts if isinstance(p, str) and p)


# --------------------------------------------------------------------------------------------
# the decision


def _terms(top_terms: object, max_terms: int) -> list[tuple[str, frozenset[str]]]:
    out: list[tuple[str, frozenset[str]]] = []
    for term in str(top_terms or "").split(","):
        term = term.strip()
        toks = frozenset(words(term))
        if term and toks and all(toks != t for _, t in out):
            out.append((term, toks))
        if len(out) >= max_terms:
            break
    return out


def find_content_gaps(
    topics: pd.DataFrame,
    pages: pd.DataFrame | None = None,
    queries: pd.DataFrame | None = None,
    *,
    topic_texts: pd.DataFrame | None = None,
    min_similarity: float = MIN_SIMILARITY,
    min_lift: float = MIN_LIFT,
    core_share: float = CORE_SHARE,
    min_conversations: int = MIN_CONVERSATIONS,
    min_share: float = MIN_SHARE,
    max_terms: int = MAX_TERMS,
) -> pd.DataFrame:
    """Per topic: is it a content gap, which page comes closest and how close.

    ``topics``: topic_id, label, top_terms (comma-separated, strongest first), conversations;
    optional representative_question.
    ``pages``: page_path, page_title (GA4; a path or a full URL).
    ``queries``: query, page (URL or path), clicks (Search Console; impressions if no clicks).
    ``topic_texts``: topic_id, text: one row per conversation (null topic_id = unassigned),
    or per conversation of a uniform sample (:func:`topic_text_sample`); without it each
    topic is described by its label, question and top terms.
    Output columns: :data:`OUTPUT_COLUMNS` (rule: module docstring).
    """
    if topics is None or topics.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    topics = topics.reset_index(drop=True)
    site = _collect_pages(pages, queries)
    corpus = [] if topic_texts is None else topic_texts["text"].fillna("").astype(str).tolist()
    corpus += [_topic_document(t) for t in topics.itertuples(index=False)]
    space = _fit_space(site, _page_titles(pages), corpus)
    own, rest = _topic_profiles(topics, topic_texts, space, core_share)
    similarity = own @ space.pages.T  # topic × page
    baseline = rest @ space.pages.T  # the other conversations × page
    content = np.array([k == CONTENT for k in site.kinds], dtype=bool)
    answers = content & (similarity >= min_similarity) & (similarity > min_lift * baseline)
    page_words = _page_words(site, space)
    volumes = topics["conversations"].astype(float).clip(lower=0)
    total = float(volumes.sum())
    rows = []
    for i, topic in enumerate(topics.itertuples(index=False)):
        n = int(volumes.iat[i])
        match = _Match(similarity[i], baseline[i], answers[i], content, site)
        high_volume = n >= min_conversations and total > 0 and n / total >= min_share
        gap = high_volume and not match.answered
        rows.append(
            {
                "topic_id": topic.topic_id,
                "is_content_gap": bool(gap),
                "is_answered": match.answered,
                "gap_evidence": match.evidence(_volume_text(n, total), gap, min_similarity),
                "high_volume": bool(high_volume),
                **match.columns(_terms(getattr(topic, "top_terms", ""), max_terms), page_words),
            }
        )
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def _page_words(site: _Pages, space: _Space) -> list[set[str]]:
    analyze = space.vectorizer.build_analyzer()
    found = [set(analyze(m)) for m in site.meta]
    index = {p: i for i, p in enumerate(site.paths)}
    for query, path in zip(site.queries["query"], site.queries["path"], strict=True):
        found[index[path]].update(words(query))
    return found


def _volume_text(n: int, total: float) -> str:
    return f"{n:,} conversations ({n / total:.0%} of all)" if total else f"{n:,} conversations"


@dataclass
class _Match:
    """One topic against every page: similarities, the other conversations' similarities and
    which content pages answer it."""

    sims: np.ndarray
    base: np.ndarray
    answers: np.ndarray
    content: np.ndarray
    site: _Pages

    @property
    def answered(self) -> bool:
        return bool(self.answers.any())

    @property
    def best(self) -> int | None:
        """The closest answering page; without one, the closest page of any kind."""
        if self.answered:
            return int(np.argmax(np.where(self.answers, self.sims, -1.0)))
        if len(self.sims) and self.sims.max() > 0:
            return int(np.argmax(self.sims))
        return None

    def columns(self, terms: list[tuple[str, frozenset[str]]], page_words: list[set[str]]):
        best = self.best
        found = page_words[best] if best is not None else set()
        return {
            "best_page": self.site.paths[best] if best is not None else None,
            "best_page_similarity": round(float(self.sims[best]), 4)
            if best is not None
            else math.nan,
            "best_page_kind": self.site.kinds[best] if best is not None else None,
            "covered_terms": ", ".join(t for t, toks in terms if toks <= found),
            "missing_terms": ", ".join(t for t, toks in terms if not toks <= found),
        }

    def evidence(self, volume: str, gap: bool, min_similarity: float) -> str:
        best = self.best
        if self.answered:
            page, sim, base = self.site.paths[best], self.sims[best], self.base[best]
            return (
                f"Answered by {page}: similarity {sim:.2f}, against {base:.2f} for the "
                f"other conversations; {volume}."
            )
        lead = "Content gap" if gap else "Unanswered but low volume"
        parts = [
            f"{lead}: {volume} and no page of the site answers them.",
            self._closest_content(min_similarity),
        ]
        if best is not None and not self.content[best]:
            parts.append(
                f"Closest page overall: {self.site.paths[best]} (similarity "
                f"{self.sims[best]:.2f}), a {self.site.kinds[best]} page, which does "
                f"not answer questions."
            )
        return " ".join(parts)

    def _closest_content(self, min_similarity: float) -> str:
        if not self.content.any():
            return "The site has no help or other content pages."
        j = int(np.argmax(np.where(self.content, self.sims, -1.0)))
        page, sim, base = self.site.paths[j], self.sims[j], self.base[j]
        if sim < min_similarity:
            return f"Closest content page: {page} (similarity {sim:.2f}), barely related."
        return (
            f"Closest content page: {page} (similarity {sim:.2f}), but it is closer to the "
            f"other conversations ({base:.2f}): it is about something else."
        )


def with_content_gaps(topics: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """``topics`` plus the gap verdict: the ``ml.conversation_topics`` columns of
    docs/contracts.md first, then the topics' other columns (e.g. representative_question),
    then :data:`PAGE_COLUMNS` (read by the content recommendations)."""
    added = ["is_content_gap", "gap_evidence", *PAGE_COLUMNS]
    merged = topics.drop(columns=added, errors="ignore").merge(
        gaps[["topic_id", *[c for c in added if c in gaps.columns]]], on="topic_id", how="left"
    )
    merged["is_content_gap"] = merged["is_content_gap"].fillna(False).astype(bool)
    if "is_answered" in merged.columns:
        merged["is_answered"] = merged["is_answered"].fillna(False).astype(bool)
    contract = [c for c in CONTRACT_COLUMNS if c in merged.columns]
    extra = [c for c in merged.columns if c not in contract and c not in added]
    tail = [c for c in PAGE_COLUMNS if c in merged.columns]
    return merged[contract + extra + tail]
