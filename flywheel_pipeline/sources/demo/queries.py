"""The search queries the shop ranks for, their true CTR behaviour and the CTR-by-position curve.

Each query has a landing page (a path of the site), a mean position, a search volume and a
true CTR factor: 1 ≈ an ordinary snippet, < 1 a poor title (the under-performers that
`rewrite_title` fixes), > 1 brand queries. Queries about content-gap topics rank badly on a
page that does not answer them until `create_content` publishes one.
"""

from __future__ import annotations

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

# (query, page path, relative searches/day, mean position, kind, topic key)
# kind: brand | product | help | gap. Gap queries sit on pages that do not answer them.
_CORE = [
    ("shop example", "/", 520, 1.1, "brand", None),
    ("shopexample", "/", 110, 1.2, "brand", None),
    ("shop example clothing", "/", 90, 1.3, "brand", None),
    ("shop example discount code", "/help/discount-codes", 140, 1.6, "brand", "discount_codes"),
    ("shop example returns", "/help/returns", 95, 1.4, "brand", "returns_exchanges"),
    ("shop example login", "/account/login", 60, 1.2, "brand", "account_login"),
    ("shop example gift card", "/help/gift-cards", 30, 1.5, "brand", "gift_cards"),
    ("shop example track order", "/help/order-tracking", 70, 1.3, "brand", "order_tracking"),
    ("merino crew sweater", "/products/merino-crew-sweater", 900, 6.5, "product", None),
    ("mens merino sweater", "/collections/knitwear", 700, 8.8, "product", None),
    ("womens merino jumper", "/collections/knitwear", 520, 11.5, "product", None),
    ("rain shell jacket", "/products/rain-shell-jacket", 760, 5.2, "product", None),
    ("lightweight rain jacket women", "/collections/outerwear", 1100, 12.8, "product", None),
    ("packable rain jacket", "/products/rain-shell-jacket", 420, 9.4, "product", None),
    ("organic cotton t shirt", "/products/organic-cotton-tee", 1300, 7.9, "product", None),
    ("organic cotton tee men", "/products/organic-cotton-tee", 380, 4.1, "product", None),
    ("slim chino trousers", "/products/slim-chino-trousers", 640, 9.8, "product", None),
    ("chinos men slim fit", "/products/slim-chino-trousers", 900, 14.5, "product", None),
    ("wool beanie", "/products/wool-beanie", 820, 8.1, "product", None),
    ("linen shirt men", "/products/linen-shirt", 950, 10.9, "product", None),
    ("linen shirt women summer", "/products/linen-shirt", 600, 6.8, "product", None),
    ("denim jacket women", "/products/denim-jacket", 1500, 17.5, "product", None),
    ("fleece hoodie", "/products/fleece-hoodie", 1000, 13.2, "product", None),
    ("sustainable clothing brand", "/blog/our-sustainability-story", 700, 15.5, "product", None),
    ("capsule wardrobe checklist", "/blog/capsule-wardrobe-guide", 880, 4.6, "product", None),
    ("how to layer clothes for autumn", "/blog/how-to-layer-for-autumn", 540, 3.3, "product", None),
    ("workwear polo shirts", "/products/work-polo", 430, 7.2, "product", None),
    ("staff uniforms polo", "/collections/workwear", 260, 10.2, "product", None),
    ("womens clothing sale", "/collections/sale", 1400, 18.5, "product", None),
    ("knitwear sale", "/collections/sale", 380, 9.1, "product", None),
    ("clothing returns policy 60 days", "/help/returns", 210, 3.8, "help", "returns_exchanges"),
    (
        "how to exchange clothes online order",
        "/help/returns",
        160,
        5.5,
        "help",
        "returns_exchanges",
    ),
    ("clothing delivery time europe", "/help/shipping", 240, 6.1, "help", "shipping_delay"),
    ("why is my parcel late", "/help/shipping", 180, 9.6, "help", "shipping_delay"),
    ("sweater size guide", "/help/size-guide", 330, 3.1, "help", "sizing_fit"),
    ("what size jacket should i get", "/help/size-guide", 260, 7.4, "help", "sizing_fit"),
    (
        "clothing discount code first order",
        "/help/discount-codes",
        300,
        8.3,
        "help",
        "discount_codes",
    ),
    ("card payment declined online shop", "/help/payment", 150, 8.9, "help", "payment_failed"),
    ("klarna payment failed", "/help/payment", 90, 11.8, "help", "payment_failed"),
    ("track clothing order", "/help/order-tracking", 120, 6.3, "help", "order_tracking"),
    ("reset password online shop account", "/help/account", 70, 9.9, "help", "account_login"),
    ("clothing gift card online", "/help/gift-cards", 260, 12.5, "help", "gift_cards"),
    ("how to wash merino wool", "/blog/how-to-layer-for-autumn", 1600, 24.0, "gap", "product_care"),
    (
        "does organic cotton shrink",
        "/products/organic-cotton-tee",
        700,
        21.5,
        "gap",
        "product_care",
    ),
    (
        "how to reproof a rain jacket",
        "/products/rain-shell-jacket",
        450,
        27.0,
        "gap",
        "product_care",
    ),
    ("wool beanie care instructions", "/products/wool-beanie", 160, 16.5, "gap", "product_care"),
    ("bulk order t shirts with logo", "/collections/workwear", 800, 19.0, "gap", "bulk_quotes"),
    ("custom workwear quote company", "/collections/workwear", 320, 22.5, "gap", "bulk_quotes"),
    ("wholesale hoodies for staff", "/products/fleece-hoodie", 500, 28.0, "gap", "bulk_quotes"),
    ("customs fees clothing order from eu", "/help/shipping", 430, 18.0, "gap", "customs_duties"),
    ("import duty clothes uk to us", "/help/shipping", 520, 23.0, "gap", "customs_duties"),
    ("does shop example ship to canada", "/help/shipping", 90, 12.0, "gap", "customs_duties"),
    ("received damaged clothes what to do", "/help/returns", 260, 17.0, "gap", "damaged_item"),
    ("broken zip on new jacket", "/products/rain-shell-jacket", 210, 25.0, "gap", "damaged_item"),
]

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
    core = pd.DataFrame(_CORE, columns=["query", "page", "volume", "position", "kind", "topic_key"])
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
