"""Leads (CRM contacts): who they are, where they came from, and whether they convert.

The true 90-day conversion probability is a logistic function of features a model can see
(channel, landing page, company size, industry, number of conversations) plus a latent intent
that it cannot; the same latent intent also makes people chat more, as real intent does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import (
    B2B_DEVICE_MIX,
    B2B_WEEKDAY,
    COUNTRY_MIX,
    CRM_COUNTRIES,
    DEVICE_MIX,
    PAGES,
    SOURCES,
    SRC_REFER_A_FRIEND,
    WEEKDAY,
    demand,
    weekday,
)
from flywheel_pipeline.sources.demo.config import Calendar, days_to_ns
from flywheel_pipeline.sources.demo.draws import (
    HOURS_BUSINESS,
    HOURS_CONSUMER,
    capacity_for,
    daily_counts,
    per_day,
    seconds_of_day,
)
from flywheel_pipeline.sources.demo.effects import AppliedActions, effect

MAX_REPEAT = 24  # repeat-order slots drawn per contact (the purchase process is cut after)
MAX_LEAD_CONVS = 4
MAX_REFERRALS = 4
HORIZON_DAYS = 90

# Leads per expected session, before the source's lead rate (calibrated to ~3 000 leads at
# scale 1 over 180 days, a quarter of them businesses).
CONSUMER_LEADS_PER_SESSION = 0.0081
B2B_LEADS_PER_SESSION = 0.0165

INDUSTRIES = (
    "Hospitality",
    "Healthcare",
    "Construction",
    "Retail",
    "Education",
    "Technology",
    "Events",
    "Logistics",
)
INDUSTRY_MIX = np.array([0.2, 0.14, 0.14, 0.12, 0.1, 0.12, 0.1, 0.08])
COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")
SIZE_MIX = np.array([0.3, 0.32, 0.2, 0.12, 0.06])

# Log-odds contributions: the planted structure lead scoring should recover.
LOGIT_BASE_CONSUMER = -1.2
LOGIT_BASE_B2B = -1.1
LOGIT_SOURCE = np.array(
    [0.0, 0.0, 0.45, 0.6, 0.1, 0.35, -0.5, 0.55, 0.8, 0.3, -0.45, -0.6, 0.05, 0.9]
)
LOGIT_PAGE_TYPE = {
    "home": 0.0,
    "collection": 0.15,
    "product": 0.55,
    "blog": -0.6,
    "help": -0.3,
    "other": -0.2,
    "funnel": 0.7,
}
LOGIT_PER_CONVERSATION = 0.42
LOGIT_SIZE = np.array([-0.5, 0.0, 0.35, 0.55, 0.25])
LOGIT_INDUSTRY = np.array([0.45, 0.3, 0.2, 0.0, -0.35, -0.25, 0.1, 0.05])
LOGIT_LATENT = 0.55
LOGIT_HAS_DEAL = 0.0
LOGIT_B2B_NO_DEAL = -1.7
DEAL_P_BY_SIZE = np.array([0.38, 0.55, 0.7, 0.8, 0.82])

FIRST_NAMES = (
    "anna",
    "ben",
    "carla",
    "david",
    "emma",
    "felix",
    "grace",
    "hannah",
    "ivan",
    "julia",
    "karim",
    "lena",
    "marco",
    "nina",
    "oliver",
    "paula",
    "quinn",
    "rosa",
    "sam",
    "tara",
    "umar",
    "vera",
    "will",
    "xenia",
    "yusuf",
    "zoe",
    "liam",
    "mia",
    "noah",
    "sofia",
    "lucas",
    "amelie",
    "jonas",
    "clara",
    "elias",
    "maya",
    "theo",
    "ella",
    "leon",
    "ida",
)
LAST_NAMES = (
    "muller",
    "smith",
    "jones",
    "schmidt",
    "brown",
    "taylor",
    "martin",
    "bernard",
    "dubois",
    "janssen",
    "devries",
    "wilson",
    "clarke",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "hoffmann",
    "evans",
    "walker",
    "wright",
    "thompson",
    "white",
    "hughes",
    "edwards",
    "green",
    "hall",
    "wood",
    "harris",
    "lewis",
    "baker",
    "moreau",
    "laurent",
    "visser",
    "bakker",
)
FREE_MAIL = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "gmx.de",
    "hotmail.co.uk",
    "proton.me",
    "web.de",
)
COMPANY_PREFIX = (
    "Northwind",
    "Bluepeak",
    "Harbor",
    "Oakridge",
    "Silverline",
    "Brightside",
    "Kestrel",
    "Meridian",
    "Summit",
    "Riverside",
    "Copperleaf",
    "Granite",
    "Evergreen",
    "Lighthouse",
    "Redwood",
    "Ironbridge",
    "Juniper",
    "Alder",
    "Crescent",
    "Foxglove",
)
COMPANY_NOUN = {
    "Hospitality": ("Hotels", "Catering", "Hospitality Group"),
    "Healthcare": ("Clinic", "Care Homes", "Medical"),
    "Construction": ("Builders", "Construction", "Contracting"),
    "Retail": ("Stores", "Retail", "Outfitters"),
    "Education": ("Academy", "School", "College"),
    "Technology": ("Labs", "Software", "Systems"),
    "Events": ("Events", "Festivals", "Productions"),
    "Logistics": ("Logistics", "Freight", "Couriers"),
}
COMPANY_TLD = (".com", ".de", ".co.uk", ".nl")


@dataclass
class Population:
    """Contacts with every latent draw: `df` holds 1-D columns, `mats` per-slot matrices."""

    df: pd.DataFrame
    mats: dict[str, np.ndarray] = field(default_factory=dict)


_MATRIX_KEYS = (
    "gap",
    "drop_u",
    "items_u",
    "price_z",
    "late_u",
    "damaged_u",
    "oconv_u",
    "oconv_topic_u",
    "oconv_delay",
    "oconv_out",
    "route_u",
    "lconv_t",
    "lconv_topic_u",
    "lconv_link_u",
    "lconv_out",
    "ref_gap",
)


def _draw_contacts(
    rng: np.random.Generator, n: int, b2b: bool, src_p: np.ndarray
) -> dict[str, np.ndarray]:
    """All lifetime draws of `n` contacts of one kind, in a fixed order."""
    is_b2b = np.full(n, b2b)
    k = MAX_REPEAT + 1
    # Inverse CDF of a uniform: if the day's source mix shifts, few contacts change source.
    src = np.minimum(np.searchsorted(np.cumsum(src_p), rng.random(n)), len(src_p) - 1)
    cols: dict[str, np.ndarray] = {
        "is_b2b": is_b2b,
        "src": src,
        "page_u": rng.random(n),
        "device": rng.choice(3, size=n, p=B2B_DEVICE_MIX if b2b else DEVICE_MIX),
        "country": rng.choice(len(CRM_COUNTRIES), size=n, p=COUNTRY_MIX),
        "tod": seconds_of_day(rng, n, HOURS_BUSINESS if b2b else HOURS_CONSUMER),
        "z": rng.normal(0, 1, n),
        "conv_pois_u": rng.random(n),
        "size": rng.choice(len(COMPANY_SIZES), size=n, p=SIZE_MIX),
        "industry": rng.choice(len(INDUSTRIES), size=n, p=INDUSTRY_MIX),
        "company_a": rng.integers(0, len(COMPANY_PREFIX), n),
        "company_b": rng.integers(0, 3, n),
        "company_tld": rng.integers(0, len(COMPANY_TLD), n),
        "first": rng.integers(0, len(FIRST_NAMES), n),
        "last": rng.integers(0, len(LAST_NAMES), n),
        "mail_domain": rng.integers(0, len(FREE_MAIL), n),
        "mail_style": rng.integers(0, 5, n),
        "mail_num": rng.integers(1, 9999, n),
        "mail_variant_u": rng.random(n),
        "dup_u": rng.random(n),
        "dup_pick_u": rng.random(n),
        "has_ga_u": rng.random(n),
        "ga_rand": rng.integers(100_000_000, 2_147_483_647, n),
        "ga_lag": rng.exponential(6.0, n),
        "u_conv": rng.random(n),
        "t_frac": rng.beta(0.9, 3.0, n),
        "v_follow": rng.random(n),
        "deal_u": rng.random(n),
        "deal_delay": rng.gamma(2.0, 2.0, n),
        "d1": rng.gamma(2.0, 4.0, n),
        "d2": rng.gamma(2.0, 5.0, n),
        "d3": rng.gamma(2.0, 6.0, n),
        "lost_stage_u": rng.random(n),
        "lost_frac": rng.uniform(0.3, 1.0, n),
        "amount_z": rng.normal(0, 0.45, n),
        "deal_tod": seconds_of_day(rng, n, HOURS_BUSINESS),
        "lam": rng.gamma(2.0, 1 / 60, n) if b2b else rng.gamma(1.2, 1 / 66, n),
        "drop_p": rng.beta(1.5, 5.0, n),
        "nps_u": rng.random(n),
        "nps_delay": 10 + rng.exponential(4.0, n),
        "nps_z": rng.normal(0, 1, n),
        "nps_comment_u": rng.random(n),
        # per order slot (first + repeats)
        "gap": rng.exponential(1.0, (n, MAX_REPEAT)),
        "drop_u": rng.random((n, k)),
        "items_u": rng.random((n, k)),
        "price_z": rng.normal(0, 1, (n, k)),
        "late_u": rng.random((n, k)),
        "damaged_u": rng.random((n, k)),
        "oconv_u": rng.random((n, k)),
        "oconv_topic_u": rng.random((n, k)),
        "oconv_delay": rng.gamma(2.0, 2.0, (n, k)),
        "oconv_out": rng.random((n, k, 6)),
        "route_u": rng.random((n, k)),
        # pre-purchase conversations
        "lconv_t": rng.random((n, MAX_LEAD_CONVS)),
        "lconv_topic_u": rng.random((n, MAX_LEAD_CONVS)),
        "lconv_link_u": rng.random((n, MAX_LEAD_CONVS)),
        "lconv_out": rng.random((n, MAX_LEAD_CONVS, 6)),
        # referrals made (a Poisson process in units of 1/rate)
        "ref_gap": rng.exponential(1.0, (n, MAX_REFERRALS)),
    }
    return cols


def _source_mix(sessions: np.ndarray, b2b: bool) -> np.ndarray:
    """Lead weights per day × source from expected sessions (paid leads follow spend)."""
    rate = SOURCES["lead_rate"].to_numpy()
    share = SOURCES["b2b_share"].to_numpy()
    weights = sessions * rate * (share if b2b else 1 - share)
    return weights


def id_multiplier(scale: float) -> int:
    """How much room a day's contact numbers need. Up to scale 100 a day's consumers fit below
    B2B_ID_OFFSET (the ids of those scales stay as they were); above it they would run into the
    business numbers, so every number range, and the id's width, grows."""
    return 1 if scale <= 100 else 10 ** (int(np.ceil(np.log10(scale / 100))) + 1)


def contact_ids(day: np.ndarray, number: np.ndarray, multiplier: int) -> np.ndarray:
    """`C<yymmdd><number>`, the number zero-padded to 4 digits (more at large scales)."""
    days, where = np.unique(day.astype("datetime64[D]"), return_inverse=True)
    ymd = np.asarray(pd.DatetimeIndex(days).strftime("%y%m%d"), dtype=object)[where]
    width = 4 + len(str(multiplier)) - 1
    return "C" + ymd + pd.Series(number).map(f"{{:0{width}d}}".format).to_numpy()


def _to_population(
    cols: dict[str, np.ndarray], id_offset: np.ndarray | int, multiplier: int
) -> Population:
    mats = {k: cols.pop(k) for k in _MATRIX_KEYS}
    df = pd.DataFrame(cols)
    df["created_at"] = df["day"].to_numpy().astype("datetime64[ns]") + (
        df["tod"].to_numpy() * 10**9
    ).astype("timedelta64[ns]")
    df["contact_id"] = contact_ids(
        df["day"].to_numpy(), df["seq"].to_numpy() + id_offset, multiplier
    )
    return Population(df, mats)


def _stack(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    # Column by column, letting each part's column go once stacked: memory holds the parts
    # and one stacked column, never everything twice.
    cols = {k: np.concatenate([p.pop(k) for p in parts]) for k in list(parts[0])}
    order = np.lexsort((cols["seq"], cols["is_b2b"], cols["day"]))
    for key in cols:
        cols[key] = cols[key][order]
    return cols


# Typical leads per day at scale 1 and demand 1: only used to size the fixed draws.
_TYPICAL_CONSUMER, _TYPICAL_B2B = 14.0, 5.0
B2B_ID_OFFSET, REFERRED_ID_OFFSET = 2000, 5000


class Arrivals:
    """Leads arriving through the site (no referred contacts): how many on each day, known up
    front, and the people of any run of days, drawn from the days' own streams.

    People are drawn a chunk of days at a time because all of them at once do not fit in
    memory at large scales; a day's people are the same whichever chunk draws them.
    """

    def __init__(self, cal: Calendar, seed: int, scale: float, sessions: np.ndarray) -> None:
        self.cal, self.seed = cal, seed
        self.multiplier = id_multiplier(scale)
        wd = weekday(cal.days)
        b2b_day = B2B_WEEKDAY[wd] / WEEKDAY[wd]
        base = scale * demand(cal.days)
        self.kinds = []
        for b2b, per_session, typical in (
            (False, CONSUMER_LEADS_PER_SESSION, _TYPICAL_CONSUMER * base),
            (True, B2B_LEADS_PER_SESSION, _TYPICAL_B2B * base * b2b_day),
        ):
            weights = _source_mix(sessions, b2b)
            mean = per_session * weights.sum(axis=1) * (b2b_day if b2b else 1.0)
            counts = daily_counts(seed, f"leads:{int(b2b)}", cal.days, mean)
            self.kinds.append((b2b, weights, counts, capacity_for(typical)))

    @property
    def counts(self) -> np.ndarray:
        """People arriving each day."""
        return sum(counts for _, _, counts, _ in self.kinds)

    def draw(self, days: slice) -> Population | None:
        """The people of `days`, in (day, consumers before businesses, seq) order."""
        parts = []
        for b2b, weights, counts, cap in self.kinds:
            mix = weights[days]

            def draw(rng, n, day, i, b2b=b2b, mix=mix):
                return _draw_contacts(rng, n, b2b, mix[i] / mix[i].sum())

            cols = per_day(
                self.seed, f"leads:{int(b2b)}", self.cal.days[days], counts[days], draw, cap[days]
            )
            if cols:
                parts.append(cols)
        if not parts:
            return None
        stacked = _stack(parts)
        offset = np.where(stacked["is_b2b"], B2B_ID_OFFSET * self.multiplier, 0)
        return _to_population(stacked, offset, self.multiplier)


class Referred:
    """Contacts created by referrals: one per referral event, on the referral's day stream."""

    def __init__(self, seed: int, scale: float, referral_times: np.ndarray) -> None:
        self.seed, self.multiplier = seed, id_multiplier(scale)
        self.times = np.sort(referral_times.astype("datetime64[ns]"))
        self.days, self.counts = np.unique(self.times.astype("datetime64[D]"), return_counts=True)
        self.capacity = capacity_for(np.full(len(self.days), 2.0 * scale))

    def draw(self, days: slice) -> Population | None:
        counts = self.counts[days]
        if not counts.sum():
            return None
        only_referral = np.zeros(len(SOURCES))
        only_referral[SRC_REFER_A_FRIEND] = 1.0
        b2b_share = SOURCES.loc[SRC_REFER_A_FRIEND, "b2b_share"]

        def draw(rng: np.random.Generator, n: int, day: np.datetime64, i: int) -> dict:
            cols = _draw_contacts(rng, n, False, only_referral)
            cols["is_b2b"] = rng.random(n) < b2b_share
            return cols

        cols = per_day(self.seed, "referred", self.days[days], counts, draw, self.capacity[days])
        pop = _to_population(cols, REFERRED_ID_OFFSET * self.multiplier, self.multiplier)
        # The referral fixes the creation instant (the referred person signs up then); per_day
        # stacks days in ascending order, so the sorted instants line up one to one.
        first = int(self.counts[: days.start].sum()) if days.start else 0
        pop.df["created_at"] = self.times[first : first + len(pop.df)]
        return pop


def assign_pages(pop: Population, landing: np.ndarray) -> None:
    """Pick each contact's first landing page from its source's landing distribution."""
    cum = np.cumsum(landing, axis=1)
    rows = cum[pop.df["src"].to_numpy()]
    page = (rows < pop.df["page_u"].to_numpy()[:, None]).sum(axis=1)
    pop.df["page"] = np.minimum(page, landing.shape[1] - 1)


def lead_logit(pop: Population) -> np.ndarray:
    df = pop.df
    b2b = df["is_b2b"].to_numpy()
    page_type = PAGES["page_type"].to_numpy()[df["page"].to_numpy()]
    logit = np.where(b2b, LOGIT_BASE_B2B, LOGIT_BASE_CONSUMER)
    logit = logit + LOGIT_SOURCE[df["src"].to_numpy()]
    logit = logit + pd.Series(page_type).map(LOGIT_PAGE_TYPE).to_numpy()
    logit = logit + LOGIT_PER_CONVERSATION * np.minimum(df["n_conv"].to_numpy(), MAX_LEAD_CONVS)
    logit = logit + np.where(
        b2b, LOGIT_SIZE[df["size"].to_numpy()] + LOGIT_INDUSTRY[df["industry"].to_numpy()], 0.0
    )
    logit = logit + LOGIT_LATENT * df["z"].to_numpy()
    has_deal = df["has_deal"].to_numpy()
    return logit + np.where(has_deal, LOGIT_HAS_DEAL, np.where(b2b, LOGIT_B2B_NO_DEAL, 0.0))


def add_intent(pop: Population) -> None:
    """Conversations before buying and deal qualification, both driven by latent intent."""
    df = pop.df
    b2b = df["is_b2b"].to_numpy()
    rate = np.where(b2b, 0.7, 0.42) * np.exp(0.5 * df["z"].to_numpy())
    # Inverse-CDF Poisson from one uniform keeps the count a pure function of the draws.
    u = df["conv_pois_u"].to_numpy()
    count = np.zeros(len(df), dtype=np.int64)
    pmf = np.exp(-rate)
    cdf = pmf.copy()
    for j in range(1, MAX_LEAD_CONVS + 1):
        count += u > cdf
        pmf = pmf * rate / j
        cdf = cdf + pmf
    df["n_conv"] = np.minimum(count, MAX_LEAD_CONVS)
    deal_p = DEAL_P_BY_SIZE[df["size"].to_numpy()] * np.exp(0.25 * df["z"].to_numpy())
    df["has_deal"] = b2b & (df["deal_u"].to_numpy() < np.minimum(deal_p, 0.95))
    df["p_convert_90d"] = 1 / (1 + np.exp(-lead_logit(pop)))


def convert(pop: Population, actions: AppliedActions, deal_paths: pd.DataFrame) -> None:
    """Decide who converts and when; follow-up actions raise the probability from their date.

    Adds `converted_90d` (the realised outcome, possibly after data_through) and `converted_at`
    (NaT if never within the 90-day horizon).
    """
    df = pop.df
    created = df["created_at"].to_numpy()
    horizon_end = created + np.timedelta64(HORIZON_DAYS - 1, "D").astype("timedelta64[ns]")
    p = df["p_convert_90d"].to_numpy()
    u = df["u_conv"].to_numpy()
    has_deal = df["has_deal"].to_numpy()
    won_at = deal_paths["won_at"].to_numpy()
    lost_at = deal_paths["lost_at"].to_numpy()
    plain_at = created + days_to_ns(df["t_frac"].to_numpy() * (HORIZON_DAYS - 1))
    base_at = np.where(has_deal, won_at, plain_at)
    converted = u < p

    start = actions.start_ns("follow_up_lead", df["contact_id"].to_numpy())
    multiplier = np.where(np.isnat(start), 1.0, 1 + effect("follow_up_lead", "p_convert_90d"))
    deal_start = actions.start_ns("attend_deal", deal_paths["deal_id"].to_numpy())
    use_deal = ~np.isnat(deal_start) & (np.isnat(start) | (deal_start < start))
    start = np.where(use_deal, deal_start, start)
    multiplier = np.where(use_deal, 1 + effect("attend_deal", "p_win"), multiplier)
    acted = ~np.isnat(start)
    if acted.any():
        open_at_start = np.where(has_deal, lost_at >= start, True)
        eligible = acted & ~converted & (start < horizon_end) & (start >= created) & open_at_start
        eligible |= acted & ~converted & (start < created)  # acted before the lead arrived
        p_new = np.minimum(0.95, p * multiplier)
        newly = eligible & (u < p_new)
        remaining = (horizon_end - np.maximum(start, created)).astype(np.float64)
        late_at = np.maximum(start, created) + (df["v_follow"].to_numpy() * remaining).astype(
            "timedelta64[ns]"
        )
        follow_at = np.where(has_deal | (base_at >= start), base_at, late_at)
        base_at = np.where(newly, follow_at, base_at)
        converted = converted | newly
    df["converted_90d"] = converted
    df["converted_at"] = np.where(converted, base_at, np.datetime64("NaT"))
    df["converted_at"] = df["converted_at"].astype("datetime64[ns]")


# The draws a contact's identity is made of, kept for every contact of a pass (compactly):
# a later duplicate record takes its person's identity whichever chunk drew that person.
_IDENTITY_DRAWS = {
    "is_b2b": np.bool_,
    "first": np.int8,
    "last": np.int8,
    "mail_style": np.int8,
    "mail_num": np.int16,
    "mail_domain": np.int8,
    "company_a": np.int8,
    "company_b": np.int8,
    "company_tld": np.int8,
    "industry": np.int8,
    "size": np.int8,
    "country": np.int8,
}


class Identities:
    """Everybody a pass (site leads, or referred people) has made so far, in pass order."""

    def __init__(self) -> None:
        self.cols: dict[str, np.ndarray] = {
            **{k: np.empty(0, dtype) for k, dtype in _IDENTITY_DRAWS.items()},
            "contact_id": np.empty(0, "S1"),
            "person": np.empty(0, np.int64),  # row of the first record of the same person
        }

    def __len__(self) -> int:
        return len(self.cols["person"])

    def extend(self, df: pd.DataFrame) -> None:
        added = {k: df[k].to_numpy().astype(dtype) for k, dtype in _IDENTITY_DRAWS.items()}
        added["contact_id"] = df["contact_id"].to_numpy().astype("S")
        added["person"] = np.arange(len(self), len(self) + len(df))
        self.cols = {k: np.concatenate([self.cols[k], added[k]]) for k in self.cols}


def resolve_identities(pop: Population, seen: Identities | None = None) -> None:
    """Emails, ga_client_ids, companies; a few contacts duplicate an earlier person.

    `pop` continues the pass `seen` holds (its earlier chunks of days), and joins it.
    """
    seen = Identities() if seen is None else seen
    df = pop.df
    n = len(df)
    offset = len(seen)
    seen.extend(df)
    everybody = seen.cols

    # Duplicates: a later contact record of an earlier person (another form, another device).
    day_start = offset + np.searchsorted(df["day"].to_numpy(), df["day"].to_numpy(), side="left")
    b2b = df["is_b2b"].to_numpy()
    pick = (df["dup_pick_u"].to_numpy() * day_start).astype(np.int64)
    is_dup = (df["dup_u"].to_numpy() < 0.035) & (day_start > 0)
    is_dup &= everybody["is_b2b"][pick] == b2b  # a person stays a consumer or a business
    everybody["person"][offset:] = np.where(is_dup, pick, offset + np.arange(n))
    everybody["person"] = _root(everybody["person"])
    person = everybody["person"][offset:]
    # The person's own draws make the identity of every record of theirs.
    own = {k: everybody[k][person].astype(np.int64) for k in _IDENTITY_DRAWS if k != "is_b2b"}

    first = np.array(FIRST_NAMES)[own["first"]]
    last = np.array(LAST_NAMES)[own["last"]]
    num = own["mail_num"].astype(str)
    style = own["mail_style"]
    local = np.select(
        [style == 0, style == 1, style == 2, style == 3],
        [
            np.char.add(
                np.char.add(np.char.add(first, "."), last), (own["mail_num"] % 100).astype(str)
            ),
            np.char.add(np.char.add(first, last), num),
            np.char.add(np.char.add(np.char.add(first.astype("U1"), "."), last), num),
            np.char.add(np.char.add(np.char.add(first, "_"), last), num),
        ],
        np.char.add(first, num),
    )
    industry = np.array(INDUSTRIES)[own["industry"]]
    nouns = np.array([COMPANY_NOUN[i][b] for i, b in zip(industry, own["company_b"], strict=True)])
    prefix = np.array(COMPANY_PREFIX)[own["company_a"]]
    company = np.char.add(np.char.add(prefix, " "), nouns)
    slug = np.char.replace(np.char.lower(company), " ", "")
    company_domain = np.char.add(slug, np.array(COMPANY_TLD)[own["company_tld"]])
    domain = np.where(b2b, company_domain, np.array(FREE_MAIL)[own["mail_domain"]])
    email = np.char.add(np.char.add(local, "@"), domain).astype(object)
    for column in ("industry", "size", "country", "first", "last"):
        df[column] = own[column]

    # How people type their email differs between forms: case and stray spaces.
    variant = df["mail_variant_u"].to_numpy()
    variant = np.where(is_dup, variant * 0.1, variant)  # duplicates usually differ in form
    typed = pd.Series(email, dtype=object)
    email = np.select(
        [variant < 0.025, variant < 0.06, variant < 0.08],
        [
            typed.str.upper().to_numpy(),
            (typed.str[:1].str.upper() + typed.str[1:]).to_numpy(),
            (" " + typed + " ").to_numpy(),
        ],
        email,
    )
    email = np.where(variant > 0.985, None, email)  # some contacts never gave one

    created_s = df["created_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    first_visit = created_s - (df["ga_lag"].to_numpy() * 86_400).astype(np.int64)
    ga = np.char.add(
        np.char.add(df["ga_rand"].astype(str).to_numpy(), "."), first_visit.astype(str)
    )
    df["ga_client_id"] = np.where(df["has_ga_u"].to_numpy() < 0.93, ga.astype(object), None)
    df["email"] = email
    df["person_id"] = everybody["contact_id"][person].astype(str).astype(object)
    df["company_name"] = np.where(b2b, company.astype(object), None)
    df["first_name"] = first


def _root(parent: np.ndarray) -> np.ndarray:
    """Follow parent pointers to the first record (parents always point to earlier rows)."""
    root = parent.copy()
    for _ in range(32):
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    return root


def contacts_frame(pop: Population) -> pd.DataFrame:
    """The CRM export of contacts (SPEC §4) plus first_landing_page."""
    df = pop.df
    src = SOURCES.iloc[df["src"].to_numpy()]
    b2b = df["is_b2b"].to_numpy()
    campaign = src["crm_campaign"].to_numpy()
    frame = pd.DataFrame(
        {
            "contact_id": df["contact_id"].to_numpy(),
            "email": df["email"].to_numpy(),
            "created_at": pd.to_datetime(df["created_at"].to_numpy()).tz_localize("UTC"),
            "source": src["source"].to_numpy(),
            "medium": src["medium"].to_numpy(),
            "campaign": np.where(campaign == "", None, campaign),
            "ga_client_id": df["ga_client_id"].to_numpy(),
            "company": df["company_name"].to_numpy(),
            "industry": np.where(b2b, np.array(INDUSTRIES)[df["industry"].to_numpy()], None),
            "company_size": np.where(b2b, np.array(COMPANY_SIZES)[df["size"].to_numpy()], None),
            "country": np.array(CRM_COUNTRIES)[df["country"].to_numpy()],
            "first_landing_page": PAGES["page_path"].to_numpy()[df["page"].to_numpy()],
        }
    )
    return frame.sort_values(["created_at", "contact_id"], kind="stable").reset_index(drop=True)
