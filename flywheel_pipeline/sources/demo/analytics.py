"""GA4 reports of the demo shop: traffic acquisition, pages, events and site totals.

Organic Google sessions follow Search Console clicks page by page, paid sessions follow ad
clicks, and every CRM lead and web order is a key event in the session cell it came from, so
the sources agree with each other the way real ones roughly do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import (
    B2B_DEVICE_MIX,
    DEVICE_MIX,
    DEVICES,
    PAGES,
    SOURCES,
    SRC_BING_ORGANIC,
    SRC_GOOGLE_ORGANIC,
    SRC_PAID,
    TOPIC_INDEX,
    demand,
    topic_weights,
)
from flywheel_pipeline.sources.demo.config import Calendar, day_rng
from flywheel_pipeline.sources.demo.draws import binomial_from_u, poisson_from_u
from flywheel_pipeline.sources.demo.effects import AppliedActions
from flywheel_pipeline.sources.demo.queries import expected_ctr, visibility

ORGANIC_SESSIONS_PER_CLICK = 1.4  # query rows miss anonymised queries; sessions do not
BING_SHARE = 0.12
PAID_SESSIONS_PER_CLICK = 0.9
OTHER_SESSIONS_PER_DAY = 900.0  # direct, email, social, referral at scale 1

_ENGAGEMENT_BY_TYPE = {
    "home": 0.55,
    "collection": 0.66,
    "product": 0.71,
    "blog": 0.52,
    "help": 0.6,
    "funnel": 0.82,
    "other": 0.5,
}
_CHANNEL_ENGAGEMENT = {
    "Organic Search": 1.0,
    "Paid Search": 0.95,
    "Direct": 1.05,
    "Email": 1.12,
    "Organic Social": 0.82,
    "Paid Social": 0.8,
    "Referral": 1.0,
}
_NEW_USER_RATE = {
    "Organic Search": 0.68,
    "Paid Search": 0.72,
    "Direct": 0.35,
    "Email": 0.08,
    "Organic Social": 0.7,
    "Paid Social": 0.78,
    "Referral": 0.8,
}
_BROWSE_BY_TYPE = {
    "home": 0.12,
    "collection": 0.05,
    "product": 0.035,
    "blog": 0.008,
    "other": 0.008,
}
_BROWSE_BY_PATH = {"/cart": 0.09, "/checkout": 0.03, "/account/login": 0.04}
HELP_BROWSE_SHARE = 0.22  # of sessions that open some help page, split by topic demand


def organic_landing_weights(queries: pd.DataFrame) -> np.ndarray:
    """Static expected-click share per page (fixed per catalog, so leads stay prefix-stable)."""
    pos = queries["position"].to_numpy()
    clicks = (
        queries["search_volume"].to_numpy()
        * visibility(pos)
        * expected_ctr(pos)
        * queries["true_ctr_factor"].to_numpy()
    )
    weights = np.zeros(len(PAGES))
    np.add.at(weights, queries["page_idx"].to_numpy(), clicks)
    return weights / weights.sum()


def organic_clicks_cube(gsc_rows: pd.DataFrame, cal: Calendar) -> np.ndarray:
    """Search Console clicks per day × page × device."""
    cube = np.zeros((len(cal), len(PAGES), len(DEVICES)))
    day = (gsc_rows["date"].to_numpy().astype("datetime64[D]") - cal.start).astype(np.int64)
    np.add.at(
        cube,
        (day, gsc_rows["page_idx"].to_numpy(), gsc_rows["device_idx"].to_numpy()),
        gsc_rows["clicks"].to_numpy(),
    )
    return cube


def expected_sessions(
    cal: Calendar, scale: float, paid_clicks: np.ndarray, organic: np.ndarray
) -> np.ndarray:
    """Expected sessions per day × traffic source."""
    out = (
        scale
        * OTHER_SESSIONS_PER_DAY
        * demand(cal.days)[:, None]
        * SOURCES["share"].to_numpy()[None, :]
    )
    google = ORGANIC_SESSIONS_PER_CLICK * organic.sum(axis=(1, 2))
    out[:, SRC_GOOGLE_ORGANIC] = google
    out[:, SRC_BING_ORGANIC] = BING_SHARE * google
    out[:, SRC_PAID] = PAID_SESSIONS_PER_CLICK * paid_clicks[:, SRC_PAID]
    return out


@dataclass(frozen=True)
class SiteEvents:
    """CRM events placed in GA4 cells: day × source × page × device."""

    leads: np.ndarray
    orders: np.ndarray
    revenue: np.ndarray
    chats: np.ndarray  # web chats per day


def add_events(
    cube: np.ndarray,
    cal: Calendar,
    day: np.ndarray,
    src: np.ndarray,
    page: np.ndarray,
    device: np.ndarray,
    weights: np.ndarray | None = None,
) -> None:
    """Add events to a day × source × page × device cube, in row order: events added a chunk
    at a time sum to the same floats as all of them at once."""
    d = (day.astype("datetime64[D]") - cal.start).astype(np.int64)
    ok = (d >= 0) & (d < len(cal))
    values = np.ones(len(d)) if weights is None else weights
    np.add.at(cube, (d[ok], src[ok], page[ok], device[ok]), values[ok])


def _live_pages(cal: Calendar, actions: AppliedActions) -> np.ndarray:
    live = np.broadcast_to(~PAGES["planned"].to_numpy(), (len(cal), len(PAGES))).copy()
    planned = PAGES["planned"].to_numpy()
    for target, start in actions.dates("create_content").items():
        hit = planned & (
            (PAGES["topic_key"].to_numpy() == target) | (PAGES["page_path"].to_numpy() == target)
        )
        live[:, hit] |= (cal.days >= start)[:, None]
    return live


def simulate_ga4(
    cal: Calendar,
    seed: int,
    sessions_by_source: np.ndarray,
    landing: np.ndarray,
    organic: np.ndarray,
    events: SiteEvents,
    actions: AppliedActions,
) -> dict[str, pd.DataFrame]:
    n_pages = len(PAGES)
    channel = SOURCES["channel_group"].to_numpy()
    page_type = PAGES["page_type"].to_numpy()
    device_mix = np.where(
        (SOURCES["campaign"] == "b2b_workwear").to_numpy()[:, None], B2B_DEVICE_MIX, DEVICE_MIX
    )
    engage = np.minimum(
        pd.Series(channel).map(_CHANNEL_ENGAGEMENT).to_numpy()[:, None]
        * pd.Series(page_type).map(_ENGAGEMENT_BY_TYPE).to_numpy()[None, :],
        0.95,
    )
    new_rate = pd.Series(channel).map(_NEW_USER_RATE).to_numpy()
    browse_static = pd.Series(page_type).map(_BROWSE_BY_TYPE).fillna(0.0).to_numpy()
    for path, weight in _BROWSE_BY_PATH.items():
        browse_static[PAGES["page_path"] == path] = weight
    help_topic = PAGES["topic_key"].map(TOPIC_INDEX).to_numpy()
    is_help = ~pd.isna(help_topic)
    tw = topic_weights(cal.days)
    tw = tw / tw.sum(axis=1, keepdims=True)
    live = _live_pages(cal, actions)
    page_engage = pd.Series(page_type).map(_ENGAGEMENT_BY_TYPE).to_numpy()

    traffic, pages, event_rows, site = [], [], [], []
    for i, day in enumerate(cal.days):
        rng = day_rng(seed, "ga4", day)
        mean = sessions_by_source[i][:, None, None] * landing[:, :, None] * device_mix[:, None, :]
        google = ORGANIC_SESSIONS_PER_CLICK * organic[i]
        mean[SRC_GOOGLE_ORGANIC] = google
        mean[SRC_BING_ORGANIC] = BING_SHARE * google
        key = events.leads[i] + events.orders[i]
        u = rng.random((3, *mean.shape))
        sessions = np.maximum(poisson_from_u(u[0], mean), key.astype(np.int64))
        engaged = binomial_from_u(sessions, np.broadcast_to(engage[:, :, None], mean.shape), u[1])
        engaged = np.maximum(engaged, np.minimum(sessions, key.astype(np.int64)))
        new_users = binomial_from_u(
            sessions, np.broadcast_to(new_rate[:, None, None], mean.shape), u[2]
        )
        s, p, v = np.nonzero(sessions)
        date = np.datetime64(day, "ns")
        traffic.append(
            pd.DataFrame(
                {
                    "date": np.full(len(s), date),
                    "src": s,
                    "page": p,
                    "device": v,
                    "sessions": sessions[s, p, v],
                    "engaged_sessions": engaged[s, p, v],
                    "new_users": new_users[s, p, v],
                    "key_events": key[s, p, v],
                    "total_revenue": np.round(events.revenue[i][s, p, v], 2),
                }
            )
        )
        total = int(sessions.sum())
        landing_sessions = sessions.sum(axis=(0, 2))
        browse = browse_static.copy()
        browse[is_help] = HELP_BROWSE_SHARE * tw[i, help_topic[is_help].astype(int)]
        u = rng.random((3, n_pages))
        page_sessions = (landing_sessions + poisson_from_u(u[0], total * browse)) * live[i]
        views = page_sessions + poisson_from_u(u[1], 0.5 * page_sessions)
        page_engaged = binomial_from_u(page_sessions, page_engage, u[2])
        page_key = key.sum(axis=(0, 2))
        shown = np.nonzero(views)[0]
        pages.append(
            pd.DataFrame(
                {
                    "date": np.full(len(shown), date),
                    "page": shown,
                    "screen_page_views": views[shown],
                    "sessions": page_sessions[shown],
                    "engaged_sessions": page_engaged[shown],
                    "key_events": page_key[shown],
                }
            )
        )
        n_new = int(new_users.sum())
        users = n_new + int(rng.binomial(total - n_new, 0.55))
        site.append((date, total, n_new, users))
        leads = int(events.leads[i].sum())
        purchases = int(events.orders[i].sum())
        product_views = int(views[page_type == "product"].sum())
        counts = {
            "session_start": (total, users),
            "first_visit": (n_new, n_new),
            "page_view": (int(views.sum()), int(users * 0.99)),
            "user_engagement": (int(engaged.sum() * 1.35), int(users * 0.78)),
            "scroll": (int(rng.poisson(views.sum() * 0.28)), int(users * 0.42)),
            "view_item": (int(rng.poisson(product_views * 1.05)), int(users * 0.45)),
            "add_to_cart": (int(rng.poisson(total * 0.055)), 0),
            "begin_checkout": (max(purchases, int(rng.poisson(total * 0.022))), 0),
            "purchase": (purchases, 0),
            "generate_lead": (leads, 0),
            "chat_open": (int(rng.poisson(events.chats[i] * 1.15)) + int(events.chats[i]), 0),
        }
        for name, (count, user_count) in counts.items():
            if count > 0:
                user_count = user_count or int(np.ceil(count / 1.15))
                event_rows.append((date, name, count, min(user_count, count)))
    return _frames(traffic, pages, event_rows, site)


def _frames(traffic, pages, event_rows, site) -> dict[str, pd.DataFrame]:
    t = pd.concat(traffic, ignore_index=True)
    src = SOURCES.iloc[t["src"].to_numpy()]
    traffic_frame = pd.DataFrame(
        {
            "date": t["date"].to_numpy(),
            "session_source": src["source"].to_numpy(),
            "session_medium": src["medium"].to_numpy(),
            "session_campaign_name": src["campaign"].to_numpy(),
            "session_default_channel_group": src["channel_group"].to_numpy(),
            "landing_page": PAGES["page_path"].to_numpy()[t["page"].to_numpy()],
            "device_category": np.array(DEVICES)[t["device"].to_numpy()],
            "sessions": t["sessions"].to_numpy(np.int64),
            "engaged_sessions": t["engaged_sessions"].to_numpy(np.int64),
            "new_users": t["new_users"].to_numpy(np.int64),
            "key_events": t["key_events"].to_numpy(np.float64),
            "total_revenue": t["total_revenue"].to_numpy(np.float64),
        }
    )
    dims = [
        "date",
        "session_source",
        "session_medium",
        "session_campaign_name",
        "session_default_channel_group",
        "landing_page",
        "device_category",
    ]
    traffic_frame = traffic_frame.sort_values(dims, ignore_index=True)
    p = pd.concat(pages, ignore_index=True)
    pages_frame = pd.DataFrame(
        {
            "date": p["date"].to_numpy(),
            "page_path": PAGES["page_path"].to_numpy()[p["page"].to_numpy()],
            "page_title": PAGES["page_title"].to_numpy()[p["page"].to_numpy()],
            "screen_page_views": p["screen_page_views"].to_numpy(np.int64),
            "sessions": p["sessions"].to_numpy(np.int64),
            "engaged_sessions": p["engaged_sessions"].to_numpy(np.int64),
            "key_events": p["key_events"].to_numpy(np.float64),
        }
    ).sort_values(["date", "page_path"], ignore_index=True)
    events = pd.DataFrame(event_rows, columns=["date", "event_name", "event_count", "total_users"])
    events = events.astype({"event_count": np.int64, "total_users": np.int64})
    events = events.sort_values(["date", "event_name"], ignore_index=True)
    site_daily = pd.DataFrame(site, columns=["date", "sessions", "new_users", "total_users"])
    site_daily = site_daily.astype(
        {"sessions": np.int64, "new_users": np.int64, "total_users": np.int64}
    )
    for frame in (traffic_frame, pages_frame, events, site_daily):
        frame["date"] = frame["date"].astype("datetime64[ns]")
    return {
        "traffic_acquisition": traffic_frame,
        "pages": pages_frame,
        "events": events,
        "site_daily": site_daily,
    }
