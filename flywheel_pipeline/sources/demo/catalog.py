"""The shop's fixed world: traffic sources, site pages, issue topics and the demand calendar.

Vocabularies here are what downstream code sees: GA4 channel group names, page paths and
titles, topic keys (truth only), CRM sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.config import BUSINESS_EPOCH

# --- traffic sources ---------------------------------------------------------------------
# One row per GA4 session source/medium/campaign. `crm_campaign` is what a CRM stores from the
# UTM parameters (empty for organic and direct traffic). `share` is the share of non-search
# sessions; organic search sessions come from Search Console clicks, paid from ad spend.
SOURCES = pd.DataFrame(
    [
        # source, medium, ga4 campaign, crm campaign, channel group, share, lead rate, b2b share
        ("google", "organic", "(organic)", "", "Organic Search", 0.0, 1.0, 0.15),
        ("bing", "organic", "(organic)", "", "Organic Search", 0.0, 1.0, 0.20),
        ("(direct)", "(none)", "(direct)", "", "Direct", 0.42, 0.9, 0.15),
        ("google", "cpc", "brand_search", "brand_search", "Paid Search", 0.0, 1.2, 0.10),
        ("google", "cpc", "generic_apparel", "generic_apparel", "Paid Search", 0.0, 0.9, 0.05),
        ("google", "cpc", "b2b_workwear", "b2b_workwear", "Paid Search", 0.0, 1.6, 0.85),
        (
            "facebook",
            "paid_social",
            "summer_lookbook",
            "summer_lookbook",
            "Paid Social",
            0.0,
            0.7,
            0.02,
        ),
        ("instagram", "paid_social", "retargeting", "retargeting", "Paid Social", 0.0, 1.1, 0.05),
        ("newsletter", "email", "weekly_newsletter", "weekly_newsletter", "Email", 0.16, 1.4, 0.10),
        ("newsletter", "email", "winback", "winback", "Email", 0.04, 1.0, 0.05),
        ("instagram", "social", "(organic)", "", "Organic Social", 0.15, 0.6, 0.03),
        ("pinterest", "social", "(organic)", "", "Organic Social", 0.08, 0.5, 0.02),
        ("styleblog.example", "referral", "(referral)", "", "Referral", 0.10, 0.9, 0.05),
        ("referral", "referral", "refer-a-friend", "refer-a-friend", "Referral", 0.05, 0.0, 0.10),
    ],
    columns=[
        "source",
        "medium",
        "campaign",
        "crm_campaign",
        "channel_group",
        "share",
        "lead_rate",
        "b2b_share",
    ],
)
SRC_GOOGLE_ORGANIC, SRC_BING_ORGANIC = 0, 1
SRC_PAID = [3, 4, 5, 6, 7]
SRC_REFER_A_FRIEND = 13
CHANNEL_GROUPS = (
    "Organic Search",
    "Paid Search",
    "Direct",
    "Email",
    "Organic Social",
    "Paid Social",
    "Referral",
)

# Paid campaigns: daily budget at scale 1 (EUR), clicks per spend^0.85, click-through of ads,
# and flight dates (month-day, inclusive) outside which the campaign does not run.
CAMPAIGNS = pd.DataFrame(
    [
        (3, 45.0, 6.0, 0.085, None),
        (4, 260.0, 2.3, 0.032, None),
        (5, 90.0, 1.5, 0.028, None),
        (6, 170.0, 2.4, 0.011, ((6, 1), (8, 31))),
        (7, 70.0, 2.0, 0.014, None),
    ],
    columns=["source_idx", "budget", "click_k", "ad_ctr", "flight"],
)
SPEND_ELASTICITY = 0.85

DEVICES = ("desktop", "mobile", "tablet")
GSC_DEVICES = ("DESKTOP", "MOBILE", "TABLET")
DEVICE_MIX = np.array([0.36, 0.59, 0.05])
B2B_DEVICE_MIX = np.array([0.70, 0.27, 0.03])
GSC_COUNTRIES = ("usa", "gbr", "deu", "nld", "can")
CRM_COUNTRIES = ("US", "GB", "DE", "NL", "CA")
COUNTRY_MIX = np.array([0.42, 0.26, 0.18, 0.08, 0.06])


# --- topics --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Topic:
    key: str
    label: str
    help_page: str | None  # None: the site has no page answering it (a content gap)
    weight: float  # share of anonymous conversations at the epoch
    growth: float  # log growth per year (rising topics)
    resolve_p: float  # the AI assistant resolves it (lower where no page exists to point to)
    handoff_p: float
    planned_page: str = ""  # where a page would go if one is created (create_content)


TOPICS: tuple[Topic, ...] = (
    Topic("returns_exchanges", "Returns and exchanges", "/help/returns", 0.16, 0.0, 0.84, 0.08),
    Topic("shipping_delay", "Shipping delays", "/help/shipping", 0.11, 0.0, 0.72, 0.15),
    Topic("sizing_fit", "Sizing and fit", "/help/size-guide", 0.13, 0.0, 0.86, 0.04),
    Topic("discount_codes", "Discount codes", "/help/discount-codes", 0.08, 0.0, 0.88, 0.04),
    Topic(
        "bulk_quotes", "Bulk and business quotes", None, 0.05, 0.9, 0.35, 0.62, "/help/bulk-orders"
    ),
    Topic("payment_failed", "Payment failures", "/help/payment", 0.06, 0.0, 0.75, 0.18),
    Topic("order_tracking", "Order tracking", "/help/order-tracking", 0.12, -0.1, 0.90, 0.04),
    Topic(
        "damaged_item",
        "Damaged or faulty items",
        None,
        0.05,
        0.0,
        0.42,
        0.48,
        "/help/damaged-items",
    ),
    Topic("account_login", "Account and login", "/help/account", 0.06, 0.0, 0.82, 0.10),
    Topic(
        "product_care",
        "Product care and materials",
        None,
        0.07,
        0.6,
        0.40,
        0.22,
        "/help/product-care",
    ),
    Topic(
        "customs_duties",
        "International shipping and customs duties",
        None,
        0.04,
        1.4,
        0.38,
        0.30,
        "/help/international-shipping",
    ),
    Topic("gift_cards", "Gift cards", "/help/gift-cards", 0.04, 0.0, 0.87, 0.05),
)
TOPIC_KEYS = tuple(t.key for t in TOPICS)
TOPIC_INDEX = {t.key: i for i, t in enumerate(TOPICS)}
# A carrier disruption: shipping-delay conversations (and late deliveries) spike for 12 days.
SHIPPING_DISRUPTION = ((7, 14), (7, 25))

# Topic mixes of conversations that have a context: a prospect before buying (consumer or
# business) and a customer after an order.
PROSPECT_MIX = {
    "sizing_fit": 0.26,
    "discount_codes": 0.19,
    "shipping_delay": 0.10,
    "returns_exchanges": 0.12,
    "payment_failed": 0.08,
    "account_login": 0.07,
    "product_care": 0.09,
    "customs_duties": 0.05,
    "gift_cards": 0.04,
}
BUSINESS_MIX = {
    "bulk_quotes": 0.52,
    "sizing_fit": 0.12,
    "product_care": 0.12,
    "shipping_delay": 0.10,
    "payment_failed": 0.06,
    "customs_duties": 0.08,
}
POST_ORDER_MIX = {
    "order_tracking": 0.34,
    "returns_exchanges": 0.30,
    "sizing_fit": 0.10,
    "product_care": 0.16,
    "account_login": 0.05,
    "gift_cards": 0.05,
}


def mix_vector(mix: dict[str, float]) -> np.ndarray:
    vec = np.zeros(len(TOPICS))
    for key, weight in mix.items():
        vec[TOPIC_INDEX[key]] = weight
    return vec / vec.sum()


# --- pages ---------------------------------------------------------------------------------
SITE_NAME = "Shop Example"
_PAGES = [
    ("/", "Shop Example | Sustainable Clothing & Everyday Apparel", "home"),
    ("/collections/women", "Women's Clothing | Shop Example", "collection"),
    ("/collections/men", "Men's Clothing | Shop Example", "collection"),
    ("/collections/outerwear", "Outerwear & Rain Jackets | Shop Example", "collection"),
    ("/collections/knitwear", "Knitwear & Merino Sweaters | Shop Example", "collection"),
    ("/collections/workwear", "Workwear Collection | Shop Example", "collection"),
    ("/collections/sale", "Sale | Shop Example", "collection"),
    ("/products/merino-crew-sweater", "Merino Crew Sweater | Shop Example", "product"),
    ("/products/rain-shell-jacket", "Rain Shell Jacket | Shop Example", "product"),
    ("/products/organic-cotton-tee", "Organic Cotton Tee | Shop Example", "product"),
    ("/products/slim-chino-trousers", "Slim Chino Trousers | Shop Example", "product"),
    ("/products/wool-beanie", "Wool Beanie | Shop Example", "product"),
    ("/products/linen-shirt", "Linen Shirt | Shop Example", "product"),
    ("/products/denim-jacket", "Denim Jacket | Shop Example", "product"),
    ("/products/work-polo", "Work Polo | Shop Example", "product"),
    ("/products/fleece-hoodie", "Fleece Hoodie | Shop Example", "product"),
    ("/blog/how-to-layer-for-autumn", "How to Layer for Autumn | Shop Example Journal", "blog"),
    ("/blog/capsule-wardrobe-guide", "The Capsule Wardrobe Guide | Shop Example Journal", "blog"),
    ("/blog/our-sustainability-story", "Our Sustainability Story | Shop Example Journal", "blog"),
    ("/help/returns", "Returns & Exchanges | Shop Example Help", "help"),
    ("/help/shipping", "Shipping & Delivery Times | Shop Example Help", "help"),
    ("/help/size-guide", "Size Guide: Find Your Fit | Shop Example Help", "help"),
    ("/help/discount-codes", "Discount Codes & Promotions | Shop Example Help", "help"),
    ("/help/payment", "Payment Methods & Failed Payments | Shop Example Help", "help"),
    ("/help/order-tracking", "Track Your Order | Shop Example Help", "help"),
    ("/help/account", "Account, Login & Password Reset | Shop Example Help", "help"),
    ("/help/gift-cards", "Gift Cards | Shop Example Help", "help"),
    ("/contact", "Contact Us | Shop Example", "other"),
    ("/about", "About Us | Shop Example", "other"),
    ("/cart", "Your Cart | Shop Example", "funnel"),
    ("/checkout", "Checkout | Shop Example", "funnel"),
    ("/account/login", "Sign In | Shop Example", "funnel"),
]
# Pages that only go live when a create_content action for their topic is applied.
_PLANNED_TITLES = {
    "bulk_quotes": "Bulk Orders & Business Quotes | Shop Example Help",
    "damaged_item": "Damaged or Faulty Items | Shop Example Help",
    "product_care": "Product Care: Washing Merino, Cotton & Wool | Shop Example Help",
    "customs_duties": "International Shipping, Customs & Duties | Shop Example Help",
}


def pages_frame() -> pd.DataFrame:
    base = pd.DataFrame(_PAGES, columns=["page_path", "page_title", "page_type"])
    base["topic_key"] = None
    for topic in TOPICS:
        if topic.help_page:
            base.loc[base["page_path"] == topic.help_page, "topic_key"] = topic.key
    planned = pd.DataFrame(
        [(t.planned_page, _PLANNED_TITLES[t.key], "help", t.key) for t in TOPICS if t.planned_page],
        columns=base.columns,
    )
    base["planned"] = False
    planned["planned"] = True
    return pd.concat([base, planned], ignore_index=True)


PAGES = pages_frame()
PAGE_INDEX = {p: i for i, p in enumerate(PAGES["page_path"])}
LIVE_PAGES = PAGES[~PAGES["planned"]]

# Where non-search traffic lands, by source (weights over page paths).
_LANDING = {
    "(direct)": {
        "/": 0.55,
        "/collections/women": 0.08,
        "/collections/men": 0.07,
        "/account/login": 0.08,
        "/help/order-tracking": 0.07,
        "/help/returns": 0.05,
        "/collections/sale": 0.05,
        "/cart": 0.05,
    },
    "brand_search": {"/": 0.85, "/collections/sale": 0.15},
    "generic_apparel": {
        "/collections/women": 0.2,
        "/collections/men": 0.18,
        "/collections/outerwear": 0.12,
        "/collections/knitwear": 0.1,
        "/products/merino-crew-sweater": 0.1,
        "/products/rain-shell-jacket": 0.1,
        "/products/organic-cotton-tee": 0.08,
        "/products/linen-shirt": 0.06,
        "/products/fleece-hoodie": 0.06,
    },
    "b2b_workwear": {"/collections/workwear": 0.7, "/products/work-polo": 0.3},
    "summer_lookbook": {
        "/collections/women": 0.35,
        "/products/linen-shirt": 0.35,
        "/collections/sale": 0.3,
    },
    "retargeting": {
        "/cart": 0.3,
        "/products/merino-crew-sweater": 0.2,
        "/products/rain-shell-jacket": 0.2,
        "/collections/sale": 0.3,
    },
    "weekly_newsletter": {
        "/collections/sale": 0.4,
        "/collections/women": 0.2,
        "/collections/men": 0.15,
        "/blog/capsule-wardrobe-guide": 0.15,
        "/": 0.1,
    },
    "winback": {"/collections/sale": 0.6, "/": 0.4},
    "instagram_social": {
        "/products/merino-crew-sweater": 0.2,
        "/products/denim-jacket": 0.2,
        "/blog/how-to-layer-for-autumn": 0.2,
        "/collections/women": 0.2,
        "/": 0.2,
    },
    "pinterest": {
        "/blog/capsule-wardrobe-guide": 0.45,
        "/blog/how-to-layer-for-autumn": 0.3,
        "/products/linen-shirt": 0.25,
    },
    "styleblog.example": {
        "/blog/our-sustainability-story": 0.3,
        "/products/organic-cotton-tee": 0.3,
        "/products/merino-crew-sweater": 0.2,
        "/": 0.2,
    },
    "refer-a-friend": {"/": 0.7, "/collections/sale": 0.3},
}
_LANDING_KEY = {
    2: "(direct)",
    3: "brand_search",
    4: "generic_apparel",
    5: "b2b_workwear",
    6: "summer_lookbook",
    7: "retargeting",
    8: "weekly_newsletter",
    9: "winback",
    10: "instagram_social",
    11: "pinterest",
    12: "styleblog.example",
    13: "refer-a-friend",
}


def landing_matrix(organic_weights: np.ndarray) -> np.ndarray:
    """Landing-page weights per source (rows sum to 1); organic rows follow Search Console."""
    matrix = np.zeros((len(SOURCES), len(PAGES)))
    matrix[SRC_GOOGLE_ORGANIC] = organic_weights
    matrix[SRC_BING_ORGANIC] = organic_weights
    for src, key in _LANDING_KEY.items():
        for path, weight in _LANDING[key].items():
            matrix[src, PAGE_INDEX[path]] = weight
    return matrix / matrix.sum(axis=1, keepdims=True)


# --- demand calendar ------------------------------------------------------------------------
# Monday first. Consumers browse on Sunday evenings; business buyers work on weekdays.
WEEKDAY = np.array([1.08, 1.04, 1.02, 1.0, 0.93, 0.86, 1.07])
B2B_WEEKDAY = np.array([1.25, 1.25, 1.2, 1.15, 0.95, 0.1, 0.1])
_EVENTS = (  # (start month-day, end month-day, multiplier)
    ((1, 2), (1, 10), 1.25),  # January sale
    ((6, 26), (7, 6), 1.35),  # summer sale
    ((8, 20), (9, 5), 1.12),  # back to school / office
    ((11, 24), (12, 1), 1.6),  # Black Friday week
    ((12, 8), (12, 20), 1.3),  # gifting
)


def _month_day(days: np.ndarray) -> np.ndarray:
    stamp = pd.DatetimeIndex(days)
    return stamp.month.to_numpy() * 100 + stamp.day.to_numpy()


def in_window(days: np.ndarray, window: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    md = _month_day(days)
    (m0, d0), (m1, d1) = window
    return (md >= m0 * 100 + d0) & (md <= m1 * 100 + d1)


def years_since_epoch(days: np.ndarray) -> np.ndarray:
    epoch = np.datetime64(BUSINESS_EPOCH, "D")
    return (days.astype("datetime64[D]") - epoch).astype(np.float64) / 365.25


def weekday(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday


def demand(days: np.ndarray, b2b: bool = False) -> np.ndarray:
    """Relative daily demand: growth × weekday × season × sale events (1.0 ≈ an average day)."""
    days = days.astype("datetime64[D]")
    growth = np.exp(0.22 * (years_since_epoch(days) - 1.5))
    doy = pd.DatetimeIndex(days).dayofyear.to_numpy()
    season = 1 + 0.14 * np.cos(2 * np.pi * (doy - 335) / 365.25)
    events = np.ones(len(days))
    for start, end, multiplier in _EVENTS:
        events = np.where(in_window(days, (start, end)), events * multiplier, events)
    week = (B2B_WEEKDAY if b2b else WEEKDAY)[weekday(days)]
    if b2b:
        events = np.ones(len(days))  # sales to companies ignore retail promotions
    return growth * season * events * week


def topic_weights(days: np.ndarray) -> np.ndarray:
    """Anonymous conversation mix by day (days × topics), before any planted effect."""
    years = years_since_epoch(days)[:, None]
    weights = np.array([t.weight for t in TOPICS])[None, :]
    growth = np.array([t.growth for t in TOPICS])[None, :]
    rel = weights * np.exp(growth * (years - 1.5))
    spike = in_window(days, SHIPPING_DISRUPTION)
    rel[:, TOPIC_INDEX["shipping_delay"]] *= np.where(spike, 3.0, 1.0)
    return rel
