"""Intent clustering: group customer messages by what the customer wants done.

Used by :mod:`.topics`. The method, and why (each step was measured on the demo against the
planted issue types, three seeds at two scales, see the topics evaluation):

1. **Entities out.** Catalogue words (:func:`catalog_terms`: product names from the site's
   product pages and the attributes that recur across product search queries), clothing
   sizes, calendar words, country names (babel's English CLDR names), anything with
   a digit (order numbers, codes, quantities, dates), e-mail addresses, URLs and redaction
   tokens are dropped before any counting: a customer returning a jacket and one returning
   chinos want the same thing.
2. **Words light-stemmed** (plural endings, so "returns" = "return"); unigrams and bigrams of
   consecutive kept words, TF-IDF (sublinear tf).
3. **Over-cluster**: k-means on an LSA embedding into many more clusters than intents
   ("micro-clusters", roughly one per way of phrasing a question; :data:`DOCS_PER_MICRO`).
4. **Weight words by concentration**: how far a word's spread over the micro-clusters is from
   the clusters' sizes (Kullback-Leibler divergence / log k, 0–1). Filler ("thanks", "talk to a
   real person") and leftover entity words that every intent uses weigh little; the words that
   say what is wanted weigh most. The micro-clustering is redone on the weighted text.
5. **Merge micro-clusters into intents**: average-linkage (cosine) dendrogram of their
   weighted centroids, cut where the modularity of the micro-cluster similarity graph (edge =
   centroid cosine × both sizes) peaks. The number of intents is what this optimum says: no
   range, no ceiling (a shop with four intents gets about four, one with thirty about thirty;
   the micro-cluster count is the only bound).
6. **Refine**: every conversation moves to its nearest intent centroid (a few k-means
   passes), which repairs micro-clusters that straddled two intents; intents under
   ``min_topic_size`` conversations are dissolved into their nearest neighbour.
7. **Steady**: steps 3–6 run from :data:`CANDIDATES` random starts; a retrain keeps the
   clustering closest to the previous topics, a first run the most typical one.
8. **Score** any text by cosine to the intent centroids in the weighted TF-IDF space, in
   batches; a text without a usable word, or further than :data:`MIN_SIMILARITY` from every
   centroid, is left unassigned.

The fit uses at most :data:`MAX_FIT` conversations (a seeded sample), so its cost is bounded
at any volume; every conversation is then scored in batches of :data:`BATCH_SIZE`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from babel import Locale
from scipy.cluster.hierarchy import cut_tree, linkage
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

#: Conversations the fit looks at, at most (the rest are only scored).
MAX_FIT = 20_000
#: One micro-cluster per this many fitted conversations (bounded by MICRO_RANGE).
DOCS_PER_MICRO = 25
MICRO_RANGE = (20, 300)
LSA_DIMS = 100
#: Exponent of the concentration weight (0: plain TF-IDF; 1: the concentration itself).
WEIGHT_POWER = 0.75
REFINE_PASSES = 3
RESOLUTION = 1.0
#: Clusterings from different random starts, of which one is kept (see fit_intents).
CANDIDATES = 3
#: A conversation further than this (cosine) from every intent centroid stays unassigned.
MIN_SIMILARITY = 0.05
BATCH_SIZE = 20_000

# Words that carry no intent in customer-service chat, on top of scikit-learn's English list.
CHAT_STOP_WORDS = frozenset(
    (
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "thx",
        "please",
        "pls",
        "ok",
        "okay",
        "yes",
        "yeah",
        "sure",
        "hope",
        "just",
        "like",
        "want",
        "wanted",
        "need",
        "needed",
        "know",
        "let",
        "could",
        "would",
        "get",
        "got",
        "also",
        "really",
        "still",
        "one",
        "two",
        "im",
        "ive",
        "dont",
        "cant",
        "wondering",
        "question",
        "asking",
        "ask",
        "help",
        "good",
        "great",
        "morning",
        "afternoon",
        "evening",
        "regards",
        "cheers",
        "email",
        "phone",
        "hmm",
        "lot",
        "doe",
        "does",
        "did",
        "didnt",
        "doesnt",
        "isnt",
        "wont",
        "youre",
        "thats",
        "theres",
        "its",
        "whats",
        "id",
        "ill",
        "shop",
        "store",
        "website",
        "site",
    )
)
# scikit-learn's list drops words that matter in a shop ("bill", "back" as in "money back").
KEEP_WORDS = frozenset(
    (
        "amount",
        "back",
        "bill",
        "call",
        "detail",
        "empty",
        "fill",
        "find",
        "front",
        "full",
        "interest",
        "move",
        "name",
        "part",
        "side",
        "system",
        "top",
    )
)
STOP_WORDS = frozenset((ENGLISH_STOP_WORDS - KEEP_WORDS) | CHAT_STOP_WORDS)

# Calendar words (dates say when, not what); babel's CLDR names add the other spellings.
_CALENDAR = frozenset(
    (
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "mon",
        "tue",
        "tues",
        "wed",
        "thu",
        "thur",
        "thurs",
        "fri",
        "sat",
        "sun",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "today",
        "tomorrow",
        "yesterday",
        "tonight",
        "week",
        "weekend",
        "month",
        "year",
        "day",
        "hour",
        "minute",
        "ago",
        "last",
        "next",
    )
)
_SIZE = re.compile(r"^(?:x{0,4}[sml]|x+l|\d?x[sl])$")
# First path segments of catalogue pages (product detail and category pages) on common shops.
PRODUCT_SEGMENTS = frozenset(("products", "product", "p", "item", "items", "dp", "sku"))
CATEGORY_SEGMENTS = frozenset(
    (
        "collections",
        "collection",
        "category",
        "categories",
        "catalog",
        "catalogue",
        "c",
        "shop",
        "store",
        "department",
    )
)
#: A word of product search queries is an attribute (colour, cut, audience, …) when queries
#: landing on at least this many distinct catalogue pages use it.
ATTRIBUTE_MIN_PAGES = 3

_PLACEHOLDER = re.compile(r"\[[a-z_]+\]", re.IGNORECASE)
_ADDRESS = re.compile(r"https?://\S+|www\.\S+|\S+@\S+", re.IGNORECASE)
_HAS_DIGIT = re.compile(r"\S*\d\S*")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_TITLE_SUFFIX = re.compile(r"\s+[|\-–—:]\s+.*$")
_SEGMENT_WORDS = re.compile(r"[-_+.]")


# --------------------------------------------------------------------------------------------
# words


def light_stem(word: str) -> str:
    """Plural endings off ("returns" -> "return", "duties" -> "duty", "hoodies" and "hoodie"
    -> "hoody"), so singular and plural count as one word; nothing else."""
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ie"):
        return word[:-2] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def clean_text(text: object) -> str:
    """Lower case; redaction tokens, URLs, e-mail addresses and any token with a digit
    (order numbers, codes, amounts, dates) blanked."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    out = _PLACEHOLDER.sub(" ", str(text))
    out = _ADDRESS.sub(" ", out)
    return _HAS_DIGIT.sub(" ", out).lower()


def surface_words(text: object) -> list[str]:
    """The words of a cleaned text, apostrophes dropped ("doesn't" -> "doesnt")."""
    return [w.replace("'", "").replace("’", "") for w in _WORD.findall(clean_text(text))]


@functools.cache
def entity_words() -> frozenset[str]:
    """Calendar words and country names (stemmed), in English (babel's CLDR names)."""
    found = set(_CALENDAR)
    english = Locale("en")
    for width in ("wide", "abbreviated"):
        for ctx in ("format", "stand-alone"):
            found.update(str(n).lower() for n in english.months[ctx][width].values())
            found.update(str(n).lower() for n in english.days[ctx][width].values())
    for name in english.territories.values():
        parts = surface_words(name)
        if len(parts) == 1 and len(parts[0]) > 3:
            found.add(parts[0])
    return frozenset(light_stem(w) for w in found)


def _is_entity(word: str, stem: str, entities: frozenset[str]) -> bool:
    return stem in entities or word in entities or bool(_SIZE.match(word))


def _segments(path: object) -> list[str]:
    text = str(path or "")
    text = re.sub(r"^[a-z]+://[^/]+", "", text.strip().lower())  # full URLs -> path
    return [s for s in text.split("?")[0].split("/") if s]


def _page_kind(path: object) -> str:
    segs = _segments(path)
    if len(segs) >= 2 and segs[0] in PRODUCT_SEGMENTS:
        return "product"
    if len(segs) >= 2 and segs[0] in CATEGORY_SEGMENTS:
        return "category"
    return "other"


def _stems(text: str) -> set[str]:
    return {light_stem(w) for w in surface_words(text) if len(w) > 2} - STOP_WORDS


def catalog_terms(
    pages: pd.DataFrame | None = None, queries: pd.DataFrame | None = None
) -> frozenset[str]:
    """Entity words of the shop's catalogue, stemmed: the words of product pages' titles
    (before the " | Site name" suffix) and last path segments, plus attribute words (colour,
    cut, audience) that queries landing on at least :data:`ATTRIBUTE_MIN_PAGES` distinct
    catalogue pages share, unless a query landing on any other page (help, blog) uses them.

    ``pages``: page_path, page_title (GA4). ``queries``: query or search_query, and page or
    page_url (Search Console).
    """
    terms: set[str] = set()
    if pages is not None and len(pages) and "page_path" in pages.columns:
        catalogue = pages.drop_duplicates("page_path")
        catalogue = catalogue[catalogue["page_path"].map(_page_kind) == "product"]
        titles = catalogue.get("page_title", pd.Series(dtype=object)).dropna()
        for title in titles.astype(str):
            terms |= _stems(_TITLE_SUFFIX.sub("", title))
        for path in catalogue["page_path"]:
            terms |= _stems(_SEGMENT_WORDS.sub(" ", _segments(path)[-1]))
    if queries is not None and len(queries):
        qcol = "query" if "query" in queries.columns else "search_query"
        pcol = "page" if "page" in queries.columns else "page_url"
        if qcol in queries.columns and pcol in queries.columns:
            pairs = queries[[qcol, pcol]].dropna().drop_duplicates()
            kind = pairs[pcol].map(_page_kind)
            pages_of: dict[str, set[str]] = {}
            elsewhere: set[str] = set()
            for query, page, k in zip(pairs[qcol], pairs[pcol], kind, strict=True):
                words = _stems(str(query))
                if k == "other":
                    elsewhere |= words
                    continue
                for w in words:
                    pages_of.setdefault(w, set()).add(str(page))
            terms |= {w for w, p in pages_of.items() if len(p) >= ATTRIBUTE_MIN_PAGES} - elsewhere
    return frozenset(terms)


class Analyzer:
    """Text -> stemmed unigrams and bigrams without stop words and entities (picklable)."""

    def __init__(self, entities: Iterable[str] = ()) -> None:
        self.entities = frozenset(light_stem(e) for e in entities) | entity_words()

    def _runs(self, text: object) -> list[list[str]]:
        """Stems in runs of adjacent kept words (a stop word or an entity ends a run)."""
        runs: list[list[str]] = [[]]
        for word in surface_words(text):
            stem = light_stem(word)
            skip = len(word) < 3 or word in STOP_WORDS or stem in STOP_WORDS
            if skip or _is_entity(word, stem, self.entities):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(stem)
        return [r for r in runs if r]

    def tokens(self, text: object) -> list[str]:
        return [stem for run in self._runs(text) for stem in run]

    def __call__(self, text: object) -> list[str]:
        # Bigrams of consecutive kept words, across the stop words between them: "return
        # (the) order" links phrasings better than strictly adjacent pairs do (measured).
        toks = self.tokens(text)
        return toks + [f"{a} {b}" for a, b in itertools.pairwise(toks)]

    def phrases(self, text: object) -> list[str]:
        """Bigrams of words adjacent in the text (readable in a label)."""
        return [f"{a} {b}" for run in self._runs(text) for a, b in itertools.pairwise(run)]


def surface_forms(texts: Iterable[str]) -> dict[str, str]:
    """stem -> its most common spelling in ``texts`` (for labels: "hoody" reads "hoodie")."""
    counts: dict[str, Counter] = {}
    for text in texts:
        for word in surface_words(text):
            if len(word) >= 3:
                counts.setdefault(light_stem(word), Counter())[word] += 1
    return {stem: c.most_common(1)[0][0] for stem, c in counts.items()}


# --------------------------------------------------------------------------------------------
# the clustering


@dataclass
class IntentModel:
    """A fitted intent model: scores any text against the intent centroids."""

    vectorizer: TfidfVectorizer
    term_weights: np.ndarray  # per vocabulary term, 0–1 (concentration ** WEIGHT_POWER)
    centroids: np.ndarray  # intents × vocabulary, l2-normalised, in the weighted space
    min_similarity: float = MIN_SIMILARITY

    @property
    def n_intents(self) -> int:
        return self.centroids.shape[0]

    def vectors(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Weighted, l2-normalised TF-IDF rows (an empty text is a zero row)."""
        return _weighted(self.vectorizer.transform(texts), self.term_weights)

    def similarities(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.vectors(texts) @ self.centroids.T)

    def score(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> Scores:
        """Every text's intent (-1: unassigned), cosine to it and margin over the runner-up,
        computed ``batch_size`` texts at a time (memory stays bounded at any volume)."""
        n = len(texts)
        out = Scores(np.full(n, -1, dtype=np.int64), np.zeros(n), np.zeros(n))
        if self.n_intents == 0:
            return out
        for start in range(0, n, batch_size):
            with threadpool_limits(limits=1):
                sims = self.similarities(texts[start : start + batch_size])
            rows = slice(start, start + len(sims))
            top2 = -np.partition(-sims, min(1, sims.shape[1] - 1), axis=1)[:, :2]
            best = top2[:, 0]
            out.labels[rows] = np.where(best >= self.min_similarity, sims.argmax(axis=1), -1)
            out.similarity[rows] = best
            out.margin[rows] = best - (top2[:, 1] if sims.shape[1] > 1 else 0.0)
        return out

    def assign(
        self, texts: Sequence[str], batch_size: int = BATCH_SIZE
    ) -> tuple[np.ndarray, np.ndarray]:
        """Intent index of every text (-1: unassigned) and its cosine to that intent."""
        scores = self.score(texts, batch_size)
        return scores.labels, scores.similarity

    def mean_cosine(self, texts: Sequence[str], direction: np.ndarray) -> float:
        """Mean cosine of ``texts`` to one l2-normalised ``direction`` (batched)."""
        return self.cosine_sum(texts, direction) / max(len(texts), 1)

    def cosine_sum(self, texts: Sequence[str], direction: np.ndarray, total: float = 0.0) -> float:
        """``total`` plus the cosines of ``texts`` to ``direction``, summed batch by batch (so
        that texts streamed in batches of :data:`BATCH_SIZE` sum as :meth:`mean_cosine` does)."""
        for start in range(0, len(texts), BATCH_SIZE):
            with threadpool_limits(limits=1):
                batch = self.vectors(texts[start : start + BATCH_SIZE])
            total += float(np.asarray(batch @ direction).sum())
        return total

    def mean_direction(self, texts: Sequence[str]) -> np.ndarray:
        """The l2-normalised mean of ``texts``' vectors (batched): a one-topic model."""
        total = np.zeros(self.centroids.shape[1])
        for start in range(0, len(texts), BATCH_SIZE):
            with threadpool_limits(limits=1):
                total += np.asarray(
                    self.vectors(texts[start : start + BATCH_SIZE]).sum(axis=0)
                ).ravel()
        norm = np.linalg.norm(total)
        return total / norm if norm > 0 else total


@dataclass
class Scores:
    """Per text: intent index (-1 = unassigned), cosine to it, margin over the runner-up."""

    labels: np.ndarray
    similarity: np.ndarray
    margin: np.ndarray


def _weighted(tfidf: sp.spmatrix, weights: np.ndarray | None) -> sp.csr_matrix:
    if weights is not None:
        tfidf = tfidf @ sp.diags(weights)
    return normalize(sp.csr_matrix(tfidf))


def _membership(labels: np.ndarray, k: int) -> sp.csr_matrix:
    """k × n indicator matrix of ``labels`` (values in 0..k-1; -1 rows ignored)."""
    keep = labels >= 0
    cols = np.flatnonzero(keep)
    return sp.csr_matrix((np.ones(len(cols)), (labels[keep], cols)), shape=(k, len(labels)))


def _centroids(x: sp.csr_matrix, labels: np.ndarray, k: int) -> np.ndarray:
    return normalize(np.asarray((_membership(labels, k) @ x).todense()))


def concentration(tfidf: sp.spmatrix, labels: np.ndarray, k: int) -> np.ndarray:
    """Per term, 0–1: how far its documents' spread over the ``k`` clusters is from the
    clusters' sizes (Kullback-Leibler divergence / log k). A word every cluster uses in
    proportion to its size scores 0; one that lives in a single small cluster scores high."""
    member = _membership(labels, k)
    sizes = np.asarray(member.sum(axis=1)).ravel()
    prior = sizes / max(sizes.sum(), 1.0)
    counts = np.asarray((member @ (tfidf > 0).astype(np.float64)).todense())
    share = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(share > 0, share * np.log(share / prior[:, None]), 0.0)
    kl = np.nan_to_num(terms).sum(axis=0)
    return np.clip(kl / np.log(max(k, 2)), 0.0, 1.0)


MICRO_INIT = "sample"
SEED_PER_CENTRE = 5


def term_weights(conc: np.ndarray) -> np.ndarray:
    """Concentration -> weight (``** WEIGHT_POWER``: 0.5–1 measured alike, 0.75 a bit
    steadier)."""
    return conc**WEIGHT_POWER


def _micro_clusters(x: sp.csr_matrix, k: int, random_state: int) -> np.ndarray:
    dims = min(LSA_DIMS, x.shape[1] - 1, x.shape[0] - 1)
    if dims >= 2:
        emb = normalize(TruncatedSVD(dims, random_state=random_state).fit_transform(x))
    else:
        emb = x.toarray()
    # no more clusters than distinct points (repeated short messages are common)
    k = max(1, min(k, emb.shape[0] // 2, len(np.unique(np.round(emb, 6), axis=0))))
    if MICRO_INIT == "sample":
        # k-means++ seeding costs n·k per centre: seed on a sample, then Lloyd on everything
        rng = np.random.default_rng(random_state)
        n_seed = min(emb.shape[0], max(SEED_PER_CENTRE * k, 1000))
        seed_rows = emb[np.sort(rng.choice(emb.shape[0], n_seed, replace=False))]
        centres, _ = kmeans_plusplus(seed_rows, k, random_state=random_state)
        return KMeans(k, init=centres, n_init=1, random_state=random_state).fit(emb).labels_
    if MICRO_INIT == "random":
        return KMeans(k, init="random", n_init=3, random_state=random_state).fit(emb).labels_
    return KMeans(k, n_init=2, random_state=random_state).fit(emb).labels_


def modularity(adjacency: np.ndarray, labels: np.ndarray) -> float:
    """Newman modularity of a partition of a weighted graph (dense symmetric adjacency)."""
    total = adjacency.sum()
    if total <= 0:
        return 0.0
    member = np.zeros((labels.max() + 1, len(labels)))
    member[labels, np.arange(len(labels))] = 1.0
    within = np.einsum("ci,ij,cj->c", member, adjacency, member)
    degree = member @ adjacency.sum(axis=1)
    return float((within / total - RESOLUTION * (degree / total) ** 2).sum())


def merge_by_modularity(
    centroids: np.ndarray, sizes: np.ndarray, n_groups: int | None = None
) -> np.ndarray:
    """Group micro-clusters: average-linkage (cosine) dendrogram of their centroids, cut at
    the number of groups whose partition of the similarity graph (cosine × both sizes) has
    the highest modularity (or at ``n_groups``). Returns a 0-based group per micro-cluster.

    Modularity is updated merge by merge (O(k²) in all), not recomputed per cut."""
    k = len(centroids)
    if k < 3:
        return np.arange(k)
    sim = np.clip(centroids @ centroids.T, 0.0, None)
    adjacency = np.outer(sizes, sizes) * sim
    tree = linkage(centroids, method="average", metric="cosine")
    if n_groups is None:
        n_groups = k - _best_merge_count(tree, adjacency)
    n_groups = int(np.clip(n_groups, 1, k))
    return cut_tree(tree, n_clusters=n_groups).ravel().astype(np.int64)


def _best_merge_count(tree: np.ndarray, adjacency: np.ndarray) -> int:
    """How many merges of ``tree`` (scipy linkage) maximise the modularity of the graph."""
    k = len(adjacency)
    total = adjacency.sum()
    if total <= 0:
        return 0
    edges = adjacency.copy()
    degree = np.concatenate([adjacency.sum(axis=1), np.zeros(k - 1)])
    slot = np.concatenate([np.arange(k), np.zeros(k - 1, dtype=np.int64)])
    q = float((np.diag(adjacency) / total - RESOLUTION * (degree[:k] / total) ** 2).sum())
    best_q, best_m = q, 0
    for m, (a, b) in enumerate(tree[:, :2].astype(np.int64), start=1):
        sa, sb = slot[a], slot[b]
        q += (edges[sa, sb] + edges[sb, sa]) / total - 2 * RESOLUTION * degree[a] * degree[
            b
        ] / total**2
        edges[sa, :] += edges[sb, :]
        edges[:, sa] += edges[:, sb]
        edges[sb, :] = 0.0
        edges[:, sb] = 0.0
        slot[k + m - 1] = sa
        degree[k + m - 1] = degree[a] + degree[b]
        if q > best_q + 1e-12:
            best_q, best_m = q, m
    return best_m


def _refine(x: sp.csr_matrix, labels: np.ndarray, passes: int) -> tuple[np.ndarray, np.ndarray]:
    """Move every row to its nearest centroid, ``passes`` times; centroids and labels."""
    k = labels.max() + 1
    cents = _centroids(x, labels, k)
    for _ in range(passes):
        labels = np.asarray(x @ cents.T).argmax(axis=1)
        cents = _centroids(x, labels, k)
    return labels, cents


def _dissolve_small(
    x: sp.csr_matrix, labels: np.ndarray, min_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Intents under ``min_size`` rows give their rows to the nearest remaining intent."""
    counts = np.bincount(labels)
    keep = np.flatnonzero(counts >= min_size)
    if len(keep) == 0:
        keep = np.array([counts.argmax()])
    remap = np.full(len(counts), -1)
    remap[keep] = np.arange(len(keep))
    cents = _centroids(x, np.where(remap[labels] >= 0, remap[labels], -1), len(keep))
    labels = np.asarray(x @ cents.T).argmax(axis=1)
    return labels, _centroids(x, labels, len(keep))


def n_micro_clusters(n_docs: int) -> int:
    lo, hi = MICRO_RANGE
    return int(np.clip(round(n_docs / DOCS_PER_MICRO), lo, hi))


@dataclass
class _Candidate:
    weights: np.ndarray
    labels: np.ndarray
    centroids: np.ndarray


def fit_sample(n: int, max_fit: int = MAX_FIT, random_state: int = 0) -> np.ndarray:
    """The positions (sorted) of the texts :func:`fit_intents` fits on out of ``n``: all of
    them up to ``max_fit``, else a seeded sample of ``max_fit``. A caller holding its texts
    elsewhere (a warehouse) fetches just these and gets the same fit."""
    if n <= max_fit:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, max_fit, False))


def fit_intents(
    texts: Sequence[str],
    *,
    entities: Iterable[str] = (),
    random_state: int = 0,
    max_fit: int = MAX_FIT,
    n_micro: int | None = None,
    min_topic_size: int | None = None,
    n_intents: int | None = None,
    candidates: int = CANDIDATES,
    reference: Sequence[int] | np.ndarray | None = None,
) -> IntentModel:
    """Fit an :class:`IntentModel` on ``texts`` (method: module docstring).

    ``entities``: extra words to ignore (e.g. :func:`catalog_terms`). At most ``max_fit``
    texts (a seeded sample) are used. ``n_micro``: micro-clusters (default from the size).
    ``min_topic_size``: smallest intent kept (default 0.2 % of the fitted texts, at least 3).
    ``n_intents`` fixes the number of intents (default: the modularity optimum).
    ``candidates`` clusterings from different random starts are made; the one kept is the
    one that agrees most with ``reference`` (an earlier topic per text, -1 = none: a retrain
    keeps what it can of the previous topics) or, without one, the most typical one (highest
    mean agreement with the others), which steadies the result.
    """
    ref = np.full(len(texts), -1) if reference is None else np.asarray(reference)
    if len(ref) != len(texts):
        raise ValueError("reference must hold one value per text")
    # One BLAS/OpenMP thread: these matrices are small, and multi-threaded OpenBLAS on a
    # busy 2-core machine was measured 50x slower (threads spinning against each other).
    with threadpool_limits(limits=1):
        pool = list(texts)
        if len(pool) > max_fit:
            rows = fit_sample(len(pool), max_fit, random_state)
            pool, ref = [pool[i] for i in rows], ref[rows]
        vectorizer = TfidfVectorizer(
            analyzer=Analyzer(entities),
            sublinear_tf=True,
            min_df=max(2, int(np.ceil(0.0005 * len(pool)))),
            max_df=0.5,
            max_features=30_000,
            dtype=np.float64,
        )
        tfidf = vectorizer.fit_transform(pool)
        # texts with no word left (greetings, entities only) say nothing about intents
        kept = np.flatnonzero(tfidf.getnnz(axis=1) > 0)
        tfidf, ref = tfidf[kept], ref[kept]
        k = n_micro or n_micro_clusters(tfidf.shape[0])
        min_size = min_topic_size or max(3, int(np.ceil(0.002 * tfidf.shape[0])))
        first = _micro_clusters(_weighted(tfidf, None), k, random_state)
        weights = term_weights(concentration(tfidf, first, first.max() + 1))
        fits = [
            _candidate(tfidf, weights, k, random_state + r, n_intents, min_size)
            for r in range(max(1, candidates))
        ]
        best = fits[choose_candidate([f.labels for f in fits], ref)]
    return IntentModel(vectorizer=vectorizer, term_weights=best.weights, centroids=best.centroids)


def _candidate(
    tfidf: sp.csr_matrix,
    weights: np.ndarray,
    k: int,
    random_state: int,
    n_intents: int | None,
    min_size: int,
) -> _Candidate:
    """One clustering: micro-clusters on the weighted text, words re-weighted by them, merged
    where modularity peaks, refined, small intents dissolved."""
    micro = _micro_clusters(_weighted(tfidf, weights), k, random_state)
    k_used = micro.max() + 1
    weights = term_weights(concentration(tfidf, micro, k_used))
    x = _weighted(tfidf, weights)
    sizes = np.bincount(micro, minlength=k_used).astype(np.float64)
    groups = merge_by_modularity(_centroids(x, micro, k_used), sizes, n_intents)
    labels, _ = _refine(x, groups[micro], REFINE_PASSES)
    labels = np.unique(labels, return_inverse=True)[1]
    labels, cents = _dissolve_small(x, labels, min_size)
    return _Candidate(weights, labels, cents)


def choose_candidate(labelings: Sequence[np.ndarray], reference: np.ndarray | None = None) -> int:
    """Index of the labelling that agrees most (adjusted Rand index) with ``reference`` on
    the rows it knows (>= 0), or, without a reference, the medoid: the highest mean
    agreement with the other labellings (the first on ties)."""
    if len(labelings) == 1:
        return 0
    known = np.flatnonzero(reference >= 0) if reference is not None else np.array([], int)
    if len(known) and len(np.unique(reference[known])) > 1:
        scores = [adjusted_rand_score(reference[known], lab[known]) for lab in labelings]
    else:
        scores = [
            np.mean([adjusted_rand_score(a, b) for j, b in enumerate(labelings) if j != i])
            for i, a in enumerate(labelings)
        ]
    return int(np.argmax(np.round(scores, 12)))
