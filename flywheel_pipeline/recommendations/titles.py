"""``rewrite_title``: a new page title and description for a query whose click-through rate
is well below the site's CTR curve at its position.

Source: the ``ctr_underperformer`` rows of ``ml.search_opportunities`` (the insight's
``estimated_click_gain_28d`` = clicks at the curve's CTR − actual clicks over 28 days, with a
Benjamini–Hochberg adjusted one-sided p-value). Striking-distance rows need a better ranking,
not a better title, and are left out. So are brand and navigational queries (the site's name
in the query, or the home page at the top: people already looking for the site), whatever the
insight says: the insight sets them aside, and this is the second guard
(:func:`~flywheel_pipeline.insights.search_opportunities.brand_mask`). One recommendation per
query (target_id = the query text, as a user and the demo simulator name it): when several
pages under-perform on it, the one with the largest gain.

Expected impact (revenue over the next 90 days) = click gain × 90/28 × assumed share of the
gap a rewrite closes × value of a visit to the page. A search click is taken as one landing
session; the value of a visit (:func:`visit_values`) is first-touch: revenue in the first 90
days of the contacts who first landed on the page ÷ the sessions that landed on it (GA4, all
channels) over the same days, shrunk towards the site-wide ratio with a prior worth
``PRIOR_SESSIONS`` sessions. Only contacts created at least 90 days before ``data_through``
count (they have had their full 90 days) — unless none is that old, when every contact
counts with what it has spent so far (a lower bound, said so in the rationale). Without GA4
traffic a visit has no value to go by and the type proposes nothing.

The ``brief`` (:func:`title_brief`) names the query and the page, its CTR now against the
site's expected CTR at its position, and the impressions behind them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pandas as pd

from flywheel_pipeline.insights._common import as_date, end_of_day
from flywheel_pipeline.insights.search_opportunities import WINDOW_DAYS as OPPORTUNITY_WINDOW_DAYS
from flywheel_pipeline.insights.search_opportunities import brand_mask
from flywheel_pipeline.recommendations._ids import candidate, money
from flywheel_pipeline.recommendations.economics import ImpactAssumptions
from flywheel_pipeline.recommendations.first_touch import VALUE_DAYS, FirstTouch

MAX_TITLES = 15
PRIOR_SESSIONS = 2_000.0


@dataclass(frozen=True)
class VisitValues:
    """Value of a landing session per page path, and the site-wide value it is shrunk to."""

    site_value: float
    site_sessions: float
    pages: pd.DataFrame  # index page path: sessions, revenue, value (shrunk)
    mature: bool  # contacts had their full VALUE_DAYS

    def of(self, path: str) -> tuple[float, float]:
        """(value per session, sessions behind the page's own estimate)."""
        if path in self.pages.index:
            page = self.pages.loc[path]
            return float(page["value"]), float(page["sessions"])
        return self.site_value, 0.0


def page_path(url: object) -> str:
    """Search Console's full URL → GA4's landing-page path."""
    text = str(url)
    return (urlsplit(text).path or "/") if "://" in text else (text.split("?")[0] or "/")


def visit_values(
    traffic: pd.DataFrame | None, touch: FirstTouch, data_through: object
) -> VisitValues | None:
    """First-touch value of a landing session per page (see the module docstring); ``None``
    without sessions. ``traffic``: report_date, landing_page, sessions. ``touch``: the
    contacts' first-touch revenue by first_landing_page (without any, every page gets the
    site-wide value)."""
    if traffic is None or traffic.empty:
        return None
    stop = end_of_day(as_date(data_through))
    t = traffic[["report_date", "landing_page", "sessions"]].copy()
    t["report_date"] = pd.to_datetime(t["report_date"])
    t = t[t["report_date"] < stop]
    if t.empty or t["sessions"].sum() <= 0:
        return None
    start = t["report_date"].min()
    cut = stop - pd.Timedelta(days=VALUE_DAYS)
    mature = bool(t.loc[t["report_date"] < cut, "sessions"].sum() > 0)
    until = cut if mature else stop
    t = t[t["report_date"] < until]
    sessions = t.groupby(t["landing_page"].map(page_path))["sessions"].sum().astype(float)
    landed = touch.revenue("first_landing_page", start, until, stop)
    total_revenue = float(landed["revenue"].fillna(0).sum())
    landed = landed.dropna(subset=["value"])
    by_page = landed["revenue"].groupby(landed["value"].map(page_path)).sum()
    revenue = by_page.reindex(sessions.index, fill_value=0.0).astype(float)
    site_sessions = float(sessions.sum())
    site_value = total_revenue / site_sessions
    pages = pd.DataFrame({"sessions": sessions, "revenue": revenue})
    if not touch.knows("first_landing_page"):  # no page is known: all worth the site's value
        pages = pages.iloc[0:0].copy()
    pages["value"] = (pages["revenue"] + site_value * PRIOR_SESSIONS) / (
        pages["sessions"] + PRIOR_SESSIONS
    )
    return VisitValues(site_value, site_sessions, pages, mature)


def title_brief(q: pd.Series, other_pages: int = 0) -> str:
    """What the writer needs: the query, the page, CTR now vs expected at its position."""
    impressions, clicks = int(q["impressions_28d"]), int(q["clicks_28d"])
    expected_clicks = clicks + float(q["estimated_click_gain_28d"])
    lines = [
        f'Query: "{q["query"]}" (Search Console, last {OPPORTUNITY_WINDOW_DAYS} days)',
        f"Page: {q['page']}",
        f"Impressions: {impressions:,} at mean position {q['avg_position']:.1f}",
        f"CTR now: {q['ctr']:.1%} ({clicks:,} clicks)",
        f"Expected CTR at that position (the site's CTR curve): {q['expected_ctr']:.1%} "
        f"(≈{expected_clicks:,.0f} clicks)",
        "Write a title and meta description that answer the query in its own words.",
    ]
    if other_pages > 0:
        lines.append(f"{other_pages} more page(s) of the site under-perform on this query.")
    return "\n".join(lines)


def rewrite_title_candidates(
    opportunities: pd.DataFrame,
    values: VisitValues | None,
    *,
    data_through: object,
    assumptions: ImpactAssumptions,
    max_titles: int = MAX_TITLES,
) -> list[dict]:
    """``opportunities``: ml.search_opportunities (OPPORTUNITY_COLUMNS of
    :mod:`flywheel_pipeline.insights.search_opportunities`)."""
    if opportunities is None or opportunities.empty or values is None:
        return []
    brand = brand_mask(opportunities["query"], opportunities["page"], opportunities["avg_position"])
    under = opportunities[
        (opportunities["opportunity_type"] == "ctr_underperformer").to_numpy()
        & (opportunities["estimated_click_gain_28d"] > 0).to_numpy()
        & ~brand
    ]
    if under.empty:
        return []
    under = under.sort_values(
        ["query", "estimated_click_gain_28d", "page"], ascending=[True, False, True]
    ).drop_duplicates("query")
    pages_per_query = opportunities[opportunities["opportunity_type"] == "ctr_underperformer"]
    pages_per_query = pages_per_query.groupby("query")["page"].nunique()
    share = assumptions.rewrite_title_gap_closed
    scale = assumptions.horizon_days / OPPORTUNITY_WINDOW_DAYS
    under["path"] = under["page"].map(page_path)
    looked_up = under["path"].map(values.of)
    under["visit_value"] = looked_up.str[0]
    under["page_sessions"] = looked_up.str[1]
    under["extra_clicks"] = under["estimated_click_gain_28d"] * scale * share
    under["impact"] = under["extra_clicks"] * under["visit_value"]
    under = under.sort_values(["impact", "query"], ascending=[False, True])
    lower_bound = (
        ""
        if values.mature
        else (
            f"; contacts younger than {VALUE_DAYS} days count what they spent so far, so this is "
            f"a lower bound"
        )
    )
    rows = []
    for _, q in under.head(max_titles).iterrows():
        impressions, clicks = int(q["impressions_28d"]), int(q["clicks_28d"])
        expected_clicks = clicks + float(q["estimated_click_gain_28d"])
        if q["page_sessions"] > 0:
            value_text = (
                f"a visit landing on {q['path']} is worth {money(q['visit_value'])} "
                f"(first-touch revenue of its contacts within {VALUE_DAYS} days over "
                f"{q['page_sessions']:,.0f} landing sessions, shrunk towards the site-wide "
                f"{money(values.site_value)}{lower_bound})"
            )
        else:
            value_text = (
                f"a visit is worth {money(q['visit_value'])} (site-wide first-touch revenue "
                f"of new contacts within {VALUE_DAYS} days per landing session; no page-level "
                f"data for {q['path']}{lower_bound})"
            )
        others = int(pages_per_query.get(q["query"], 1)) - 1
        also = f" ({others} more page(s) under-perform on this query)" if others > 0 else ""
        # The shortfall is established by the significance test; what is uncertain is how much a
        # rewrite recovers and what a visit is worth, so evidence volume sets the confidence.
        confidence = (
            0.8
            * impressions
            / (impressions + 2_000)
            * (0.5 + 0.5 * q["page_sessions"] / (q["page_sessions"] + PRIOR_SESSIONS))
        )
        p_value = q.get("p_value")
        p_text = (
            f", one-sided p = {p_value:.1g} after Benjamini–Hochberg" if pd.notna(p_value) else ""
        )
        rows.append(
            candidate(
                rec_type="rewrite_title",
                target_type="query",
                target_id=q["query"],
                data_through=data_through,
                action=(
                    f"Rewrite the title and meta description of {q['page']} to answer the "
                    f"search '{q['query']}' directly{also}."
                ),
                rationale=(
                    f"'{q['query']}' → {q['page']}: {clicks:,} clicks from {impressions:,} "
                    f"impressions in the last {OPPORTUNITY_WINDOW_DAYS} days (CTR {q['ctr']:.1%}) "
                    f"at mean position {q['avg_position']:.1f}, where the site's CTR curve expects "
                    f"{q['expected_ctr']:.1%} (≈{expected_clicks:,.0f} clicks{p_text}). Assuming "
                    f"a rewrite closes {share:.0%} of the gap: {q['estimated_click_gain_28d']:,.0f}"
                    f" × {scale:.1f} ({OPPORTUNITY_WINDOW_DAYS} → {assumptions.horizon_days} days)"
                    f" × {share:.0%} ≈ {q['extra_clicks']:,.0f} extra visits; {value_text}; "
                    f"{q['extra_clicks']:,.0f} × {money(q['visit_value'])} = {money(q['impact'])}."
                ),
                expected_impact=q["impact"],
                confidence=confidence,
                brief=title_brief(q, others),
            )
        )
    return rows
