"""``ask_referral``: ask recent promoters to refer a friend (or to write a review).

Targets: contacts whose latest NPS answer is a promoter score (9–10) given within the last
``FRESH_DAYS`` days — asked while the good experience is fresh.

From the data:
- the promoters' referral rate: referrals made after their (latest) NPS answer ÷ promoter-days
  since it, over all promoters; per promoter shrunk towards it with a prior worth
  ``PRIOR_DAYS`` days, ``(own referrals + rate · PRIOR_DAYS) / (own days + PRIOR_DAYS)``, so
  promoters who have referred before rank first;
- the value of a referral: revenue in the 90 days after the referral from the referred
  contacts, over referrals at least 90 days old (when none is that old, every referral with
  what it has brought so far: a lower bound, said so in the rationale).

Expected impact (revenue over the next 90 days) = the promoter's rate × 90 days × assumed
relative lift from asking × value of a referral (each referral's first 90 days, as a new
lead's first-90-day revenue is counted for ``follow_up_lead``). Without NPS answers, or
without a referral by a promoter to measure the rate on, the type proposes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from flywheel_pipeline.insights._common import as_date, end_of_day, to_utc_naive
from flywheel_pipeline.recommendations._ids import candidate, money
from flywheel_pipeline.recommendations.economics import ImpactAssumptions

MAX_PROMOTERS = 40
FRESH_DAYS = 180
PRIOR_DAYS = 90.0
VALUE_DAYS = 90
PROMOTER_SCORE = 9
PROMOTER_COLUMNS = ["contact_id", "responded_at", "score", "referrals"]


@dataclass(frozen=True)
class Promoters:
    """The promoters as ``ask_referral`` weighs them: the ``fresh`` ones (contact_id,
    responded_at, score, referrals: their latest answer within :data:`FRESH_DAYS`, the
    referrals they made since) and, over every promoter, their ``count``, the referrals
    they made after answering and the promoter-days since their answers."""

    fresh: pd.DataFrame
    count: int
    referrals_made: int
    promoter_days: float


@dataclass(frozen=True)
class ReferralValue:
    """Revenue per referral within :data:`VALUE_DAYS`, the referrals behind it, and whether
    they are that old (else every referral with what it has brought so far)."""

    revenue: float
    referrals: int
    mature: bool


def promoters_of(nps: pd.DataFrame, referrals: pd.DataFrame, data_through: object) -> Promoters:
    """:class:`Promoters` of ``nps`` (contact_id, responded_at, score) and ``referrals``
    (referrer_contact_id, referred_at) as of ``data_through``."""
    stop = end_of_day(as_date(data_through))
    answers = nps[["contact_id", "responded_at", "score"]].copy()
    answers["responded_at"] = to_utc_naive(answers["responded_at"])
    answers = answers[answers["responded_at"] < stop].dropna(subset=["contact_id", "score"])
    latest = answers.sort_values(["contact_id", "responded_at"]).drop_duplicates(
        "contact_id", keep="last"
    )
    promoters = latest[latest["score"] >= PROMOTER_SCORE].copy()
    r = referrals[["referrer_contact_id", "referred_at"]].copy()
    r["referred_at"] = to_utc_naive(r["referred_at"])
    r = r[r["referred_at"] < stop].merge(
        promoters[["contact_id", "responded_at"]],
        left_on="referrer_contact_id",
        right_on="contact_id",
    )
    made = r[r["referred_at"] >= r["responded_at"]].groupby("contact_id").size()
    promoters["referrals"] = promoters["contact_id"].map(made).fillna(0).astype(int)
    days = (stop - promoters["responded_at"]).dt.total_seconds() / 86_400
    fresh = promoters[days <= FRESH_DAYS].sort_values("contact_id", ignore_index=True)
    return Promoters(
        fresh[PROMOTER_COLUMNS],
        len(promoters),
        int(promoters["referrals"].sum()),
        float(days.sum()),
    )


def referral_value(
    referrals: pd.DataFrame, orders: pd.DataFrame | None, data_through: object
) -> ReferralValue:
    """The :class:`ReferralValue` of ``referrals`` (referred_contact_id, referred_at) from
    ``orders`` (contact_id, ordered_at, revenue)."""
    stop = end_of_day(as_date(data_through))
    r = referrals[["referred_contact_id", "referred_at"]].copy()
    r["referred_at"] = to_utc_naive(r["referred_at"])
    r = r[r["referred_at"] < stop].dropna(subset=["referred_at"])
    mature_r = r[r["referred_at"] < stop - pd.Timedelta(days=VALUE_DAYS)]
    mature = not mature_r.empty
    r = mature_r if mature else r
    if r.empty:
        return ReferralValue(0.0, 0, mature)
    revenue = 0.0
    if orders is not None and len(orders):
        o = orders[["contact_id", "ordered_at", "revenue"]].copy()
        o["ordered_at"] = to_utc_naive(o["ordered_at"])
        o = o[o["ordered_at"] < stop].merge(
            r.rename(columns={"referred_contact_id": "contact_id"}), on="contact_id"
        )
        days_after = (o["ordered_at"] - o["referred_at"]) / pd.Timedelta(days=1)
        o = o[(days_after >= 0) & (days_after < VALUE_DAYS)]
        revenue = float(o["revenue"].fillna(0).sum())
    return ReferralValue(revenue / len(r), len(r), mature)


def ask_referral_candidates(
    nps: pd.DataFrame | None,
    referrals: pd.DataFrame | None,
    *,
    data_through: object,
    assumptions: ImpactAssumptions,
    orders: pd.DataFrame | None = None,
    max_promoters: int = MAX_PROMOTERS,
    promoters: Promoters | None = None,
    value: ReferralValue | None = None,
) -> list[dict]:
    """``nps`` (staging.stg_crm__nps_responses): contact_id, responded_at, score.
    ``referrals`` (staging.stg_crm__referrals): referrer_contact_id, referred_contact_id,
    referred_at. ``orders``: contact_id, ordered_at, revenue (value of a referral).
    ``promoters`` and ``value`` instead of them: :func:`promoters_of` and
    :func:`referral_value`, as the warehouse computes them (recommendations/list_inputs.py)."""
    if promoters is None or value is None:
        if nps is None or nps.empty or referrals is None or referrals.empty:
            return []
        promoters = promoters_of(nps, referrals, data_through)
        value = referral_value(referrals, orders, data_through)
    n_made, total_days = promoters.referrals_made, promoters.promoter_days
    if promoters.count == 0 or n_made == 0 or total_days <= 0 or value.revenue <= 0:
        return []
    rate = n_made / total_days
    stop = end_of_day(as_date(data_through))
    fresh = promoters.fresh.copy()
    fresh["responded_at"] = to_utc_naive(fresh["responded_at"])
    fresh["days"] = (stop - fresh["responded_at"]).dt.total_seconds() / 86_400
    fresh["rate"] = (fresh["referrals"] + rate * PRIOR_DAYS) / (fresh["days"] + PRIOR_DAYS)
    lift = assumptions.ask_referral_relative_lift
    horizon = assumptions.horizon_days
    fresh["extra"] = fresh["rate"] * horizon * lift
    fresh["impact"] = fresh["extra"] * value.revenue
    fresh = fresh.sort_values(
        ["impact", "responded_at", "contact_id"], ascending=[False, False, True]
    )
    value_text = (
        f"a referral brought {money(value.revenue)} in its first {VALUE_DAYS} days "
        f"({value.referrals:,} referrals at least {VALUE_DAYS} days old)"
        if value.mature
        else f"a referral has brought {money(value.revenue)} so far ({value.referrals:,} "
        f"referrals, none {VALUE_DAYS} days old yet: a lower bound)"
    )
    # More referrals observed → firmer rate and value; the lift itself stays an assumption.
    n_value = value.referrals
    confidence = 0.8 * min(n_made, n_value) / (min(n_made, n_value) + 30)
    rows = []
    for _, p in fresh.head(max_promoters).iterrows():
        own = (
            f"{int(p['referrals'])} referral(s) since then"
            if p["referrals"]
            else "no referral since then"
        )
        rows.append(
            candidate(
                rec_type="ask_referral",
                target_type="contact",
                target_id=p["contact_id"],
                data_through=data_through,
                action=(
                    f"Ask promoter {p['contact_id']} for a referral (refer-a-friend link) or a "
                    f"public review."
                ),
                rationale=(
                    f"NPS {int(p['score'])} on {p['responded_at'].date()} "
                    f"({p['days']:.0f} days ago), {own}. Promoters refer at "
                    f"{rate * 30:.2f} per month after answering ({n_made:,} referrals over "
                    f"{total_days:,.0f} promoter-days, {promoters.count:,} promoters); this one's "
                    f"rate shrunk towards it: {p['rate'] * 30:.2f} per month. Assuming asking "
                    f"raises the rate by {lift:.0%}: +{p['extra']:.3f} referrals in {horizon} days "
                    f"× {value_text} = {money(p['impact'])}."
                ),
                expected_impact=p["impact"],
                confidence=confidence,
                score=p["rate"],
            )
        )
    return rows
