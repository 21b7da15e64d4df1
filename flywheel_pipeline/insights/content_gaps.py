"""Content gaps: conversation topics with high volume that no page or search query answers.

Rule (SPEC §6, "Content gaps"):

- A topic is described by its top terms (``top_terms``, strongest first). Each term gets a
  weight ``1 / sqrt(rank)`` so the strongest terms count most; only the first
  ``max_terms`` (8) are used.
- A page is described by the words of its path, its title and the search queries that land on
  it (queries with at least ``min_query_impressions`` impressions). Words are lower-cased and
  lightly stemmed (:func:`stem`), so "returns" and "returned" match "return".
- A term is *covered* by a page when all its words occur in the page's words (a term of
  several words earns the share of its words that occur). The page's coverage of a topic is
  the weighted credit of its terms over their total weight. The topic is *answered* when its
  best page covers at least ``answered_threshold`` (0.4) of it.
- A topic has *high volume* when it has at least ``min_conversations`` (10) conversations and
  at least half the mean topic volume.
- ``is_content_gap`` = high volume and not answered. ``gap_evidence`` says why in words.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlparse

import pandas as pd

from flywheel_pipeline.insights.topics import STOP_WORDS

ANSWERED_THRESHOLD = 0.4
MAX_TERMS = 8
MIN_CONVERSATIONS = 10
MIN_QUERY_IMPRESSIONS = 10

_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_STOP = frozenset(STOP_WORDS) | {"www", "http", "https", "html", "htm", "php", "com", "index"}

OUTPUT_COLUMNS = [
    "topic_id",
    "is_content_gap",
    "gap_evidence",
    "best_page",
    "best_page_coverage",
    "covered_terms",
    "missing_terms",
    "high_volume",
]


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
    """Stemmed content words of a text (stop words dropped)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    return [stem(w) for w in _WORD.findall(str(text).lower()) if w not in _STOP]


def page_path(page: object) -> str:
    """A path from a full URL (Search Console) or a path (GA4): ``/help/returns``."""
    text = str(page or "").strip()
    path = urlparse(text).path if "://" in text else text.split("?")[0].split("#")[0]
    path = path or "/"
    return path if path == "/" else path.rstrip("/")


def _page_documents(
    pages: pd.DataFrame | None, queries: pd.DataFrame | None, min_query_impressions: int
) -> dict[str, set[str]]:
    docs: dict[str, set[str]] = {}
    if pages is not None and len(pages):
        for row in pages.itertuples(index=False):
            path = page_path(row.page_path)
            title = getattr(row, "page_title", "")
            docs.setdefault(path, set()).update(words(path.replace("-", " ").replace("_", " ")))
            docs[path].update(words(title))
    if queries is not None and len(queries):
        q = queries.copy()
        if "impressions" in q.columns:
            q = q.groupby(["query", "page"], as_index=False)["impressions"].sum()
            q = q[q["impressions"] >= min_query_impressions]
        for row in q.itertuples(index=False):
            path = page_path(row.page)
            docs.setdefault(path, set()).update(words(path.replace("-", " ").replace("_", " ")))
            docs[path].update(words(row.query))
    return docs


def _terms(top_terms: object, max_terms: int) -> list[tuple[str, frozenset[str]]]:
    out = []
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
    answered_threshold: float = ANSWERED_THRESHOLD,
    max_terms: int = MAX_TERMS,
    min_conversations: int = MIN_CONVERSATIONS,
    min_query_impressions: int = MIN_QUERY_IMPRESSIONS,
) -> pd.DataFrame:
    """Per topic: is it a content gap, why, and which page answers it best.

    ``topics``: topic_id, label, top_terms (comma-separated, strongest first), conversations.
    ``pages``: page_path, page_title (GA4 pages; either may be a full URL or a path).
    ``queries``: query, page (URL or path), impressions (Search Console).
    Output columns: :data:`OUTPUT_COLUMNS`.
    """
    docs = _page_documents(pages, queries, min_query_impressions)
    volumes = topics["conversations"].astype(float)
    mean_volume = float(volumes.mean()) if len(volumes) else 0.0
    rows = []
    for topic in topics.itertuples(index=False):
        terms = _terms(topic.top_terms, max_terms)
        n = int(topic.conversations)
        high_volume = n >= min_conversations and n >= 0.5 * mean_volume
        if not terms:
            rows.append({
                "topic_id": topic.topic_id, "is_content_gap": False,
                "gap_evidence": "no topic terms to match (catch-all topic)", "best_page": None,
                "best_page_coverage": math.nan, "covered_terms": "", "missing_terms": "",
                "high_volume": high_volume,
            })  # fmt: skip
            continue
        weights = [1 / math.sqrt(i + 1) for i in range(len(terms))]
        total = sum(weights)
        best_path, best_cov, best_hits = None, 0.0, [False] * len(terms)
        for path in sorted(docs):
            doc = docs[path]
            credit = [len(toks & doc) / len(toks) for _, toks in terms]
            hits = [c == 1.0 for c in credit]
            cov = sum(w * c for w, c in zip(weights, credit, strict=True)) / total
            if cov > best_cov:
                best_path, best_cov, best_hits = path, cov, hits
        covered = [t for (t, _), h in zip(terms, best_hits, strict=True) if h]
        missing = [t for (t, _), h in zip(terms, best_hits, strict=True) if not h]
        answered = best_cov >= answered_threshold
        gap = high_volume and not answered
        share = f"{n} conversations ({n / volumes.sum():.0%} of all)" if volumes.sum() else ""
        if best_path is None:
            where = f"no page or search query matches any of its top terms ({', '.join(missing)})"
        else:
            where = (
                f"best page {best_path} covers {best_cov:.0%} of its top terms "
                f"(threshold {answered_threshold:.0%}; matched: {', '.join(covered) or 'none'}; "
                f"missing: {', '.join(missing) or 'none'})"
            )
        if gap:
            evidence = f"Content gap: {share}; {where}."
        elif answered:
            evidence = f"Answered: {where}."
        else:
            evidence = f"Low volume ({share}); {where}."
        rows.append({
            "topic_id": topic.topic_id, "is_content_gap": bool(gap), "gap_evidence": evidence,
            "best_page": best_path, "best_page_coverage": round(best_cov, 4),
            "covered_terms": ", ".join(covered), "missing_terms": ", ".join(missing),
            "high_volume": bool(high_volume),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def with_content_gaps(topics: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """``topics`` plus ``is_content_gap`` and ``gap_evidence`` (the ``ml.conversation_topics``
    shape of docs/contracts.md)."""
    cols = ["topic_id", "label", "top_terms", "conversations", "is_content_gap",
            "gap_evidence", "data_through"]  # fmt: skip
    merged = topics.drop(columns=["is_content_gap", "gap_evidence"], errors="ignore").merge(
        gaps[["topic_id", "is_content_gap", "gap_evidence"]], on="topic_id", how="left"
    )
    merged["is_content_gap"] = merged["is_content_gap"].fillna(False).astype(bool)
    return merged[[c for c in cols if c in merged.columns]]
