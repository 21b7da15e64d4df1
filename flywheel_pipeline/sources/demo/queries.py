"""The search queries the shop ranks for, their true CTR behaviour and the CTR-by-position curve.

Each query has a landing page (a path of the site), a mean position, a search volume and a
true CTR factor: 1 ≈ an ordinary snippet, < 1 a poor title (the under-performers that
`rewrite_title` fixes), > 1 brand queries. Queries about content-gap topics rank badly on a
page that does not answer them until `create_content` publishes one.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import PAGE_INDEX, TOPICS
from flywheel_pipeline.sources.demo.config import key_rng

# Public priors (#1 ≈ 28 %, #3 ≈ 11 %, #10 ≈ 2.5 %, page 2 < 1 %), interpolated in log space.
_CTR_POINTS = np.array(
    [
        (1, 0.28),
        (2, 0.16),
        (3, 0.11),
        (4, 0.08),
        (5, 0.062),
        (6, 0.048),
        (7, 0.039),
        (8, 0.032),
        (9, 0.028),
        (10, 0.025),
        (11, 0.0095),
        (12, 0.008),
        (15, 0.0062),
        (20, 0.0045),
        (30, 0.0028),
        (50, 0.0015),
        (100, 0.0008),
    ]
)


def expected_ctr(position: np.ndarray) -> np.ndarray:
    pos = np.clip(np.asarray(position, dtype=np.float64), 1.0, 100.0)
    return np.exp(np.interp(pos, _CTR_POINTS[:, 0], np.log(_CTR_POINTS[:, 1])))


def visibility(position: np.ndarray) -> np.ndarray:
    """Share of searches in which a result at this position is seen (page 2+ rarely)."""
    pos = np.asarray(position, dtype=np.float64)
    return np.where(pos <= 10.5, 1.0, 0.10 * np.exp(-(pos - 10.5) / 9.0))


# Calibrates searches/day so that scale 1 gets ~600 query clicks/day and < 100k rows.
VOLUME_PER_SCALE = 0.45

# search_queries.csv: query, page path, relative searches/day, mean position, kind, topic key.
# kind: brand | product | help | gap. Gap queries sit on pages that do not answer them.
_CORE_FILE = "search_queries.csv"

_LONG_TAIL_PRODUCTS = [
    ("merino sweater", "/products/merino-crew-sweater"),
    ("rain jacket", "/products/rain-shell-jacket"),
    ("cotton tee", "/products/organic-cotton-tee"),
    ("chinos", "/products/slim-chino-trousers"),
    ("beanie", "/products/wool-beanie"),
    ("linen shirt", "/products/linen-shirt"),
    ("denim jacket", "/products/denim-jacket"),
    ("hoodie", "/products/fleece-hoodie"),
    ("knitwear", "/collections/knitwear"),
    ("outerwear", "/collections/outerwear"),
    ("work polo", "/products/work-polo"),
]
_LONG_TAIL_MODIFIERS = [
    "black",
    "navy",
    "olive",
    "grey",
    "cream",
    "womens",
    "mens",
    "sustainable",
    "best",
    "cheap",
    "oversized",
    "slim fit",
    "organic",
    "recycled",
    "plus size",
    "tall",
]


def query_catalog(seed: int, scale: float) -> pd.DataFrame:
    """Queries with their true behaviour. The long tail grows with the size of the business."""
    rng = key_rng(seed, "queries", 0)
    with resources.files(__package__).joinpath(_CORE_FILE).open(encoding="utf-8") as file:
        core = pd.read_csv(file)
    core["topic_key"] = core["topic_key"].astype(object).where(core["topic_key"].notna(), None)
    n_tail = round(30 * np.sqrt(scale))
    combos = [(m, p) for m in _LONG_TAIL_MODIFIERS for p in _LONG_TAIL_PRODUCTS]
    pick = rng.choice(len(combos), size=min(n_tail, len(combos)), replace=False)
    extra = rng.integers(0, 3, size=len(pick))
    suffix = np.array(["", " online", " uk"])
    tail = pd.DataFrame(
        {
            "query": [
                f"{combos[i][0]} {combos[i][1][0]}{suffix[e]}"
                for i, e in zip(pick, extra, strict=True)
            ],
            "page": [combos[i][1][1] for i in pick],
            "volume": np.round(rng.lognormal(np.log(90), 0.8, len(pick))),
            "position": np.round(rng.uniform(3, 35, len(pick)), 1),
            "kind": "product",
            "topic_key": None,
        }
    )
    queries = pd.concat([core, tail], ignore_index=True).drop_duplicates("query", ignore_index=True)
    n = len(queries)
    # Per-query snippet quality: ordinary noise, brand lift, and poor titles on some queries.
    factor = np.exp(rng.normal(0, 0.15, n))
    kind = queries["kind"].to_numpy()
    factor = np.where(kind == "brand", factor * 1.45, factor)
    pos = queries["position"].to_numpy()
    under = (kind != "brand") & (pos <= 12) & (rng.random(n) < 0.22)
    factor = np.where(under, rng.uniform(0.35, 0.6, n), factor)
    # Striking distance: some queries on good pages deserve a top-5 rank.
    potential = (kind != "gap") & (pos >= 6) & (pos <= 20) & (rng.random(n) < 0.45)
    should = np.where(potential, rng.uniform(2.0, 5.0, n), pos)
    should = np.where(kind == "gap", pos * 0.5, should)  # what a dedicated page would reach
    queries["true_ctr_factor"] = np.round(factor, 4)
    queries["is_under_performer"] = under
    queries["should_position"] = np.round(should, 2)
    queries["search_volume"] = queries["volume"].to_numpy() * scale * VOLUME_PER_SCALE
    queries["page_idx"] = queries["page"].map(PAGE_INDEX).astype(np.int64).to_numpy()
    planned = {t.key: t.planned_page for t in TOPICS if t.planned_page}
    queries["planned_page"] = queries["topic_key"].map(planned)
    return queries


def click_gain(queries: pd.DataFrame) -> np.ndarray:
    """Clicks/day gained if the query ranked and performed as it should (average demand)."""
    volume = queries["search_volume"].to_numpy()
    pos = queries["position"].to_numpy()
    should = queries["should_position"].to_numpy()
    factor = queries["true_ctr_factor"].to_numpy()
    now = volume * visibility(pos) * expected_ctr(pos) * factor
    target_factor = np.where(queries["is_under_performer"].to_numpy(), 1.0, factor)
    best = volume * visibility(should) * expected_ctr(should) * target_factor
    return np.maximum(best - now, 0.0)
