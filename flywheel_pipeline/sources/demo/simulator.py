"""simulate(): run the demo business from its first day to data_through.

Order matters only where one process feeds another: ad spend and search drive sessions,
sessions bring leads, leads convert (via deals for businesses) into orders, orders bring
surveys and post-order chats, promoters bring referred leads, and everything lands in GA4.

People are made a chunk of arrival days at a time (`CHUNK_PEOPLE` at most): everything about
a person follows from their own draws and the world's daily parameters, so a chunk is
developed, converted, served and surveyed on its own, and its rows go to disk (`spill`) before
the next chunk is drawn. Only a few things couple people, and each is carried across chunks
in a compact form: a duplicate contact record takes the identity of a person from any earlier
day (`people.Identities`); referrals made by the site's customers create the second pass of
people (`people.Referred`); conversation ids are made per day over every conversation of the
day, so conversations are assembled month by month once all people exist; GA4 counts leads,
orders and chats per cell (sums). The chunking changes nothing in the output: a day's people
are the same whichever chunk draws them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo import truth
from flywheel_pipeline.sources.demo.ads import paid_clicks_matrix, simulate_ads
from flywheel_pipeline.sources.demo.analytics import (
    SiteEvents,
    add_events,
    expected_sessions,
    organic_clicks_cube,
    organic_landing_weights,
    simulate_ga4,
)
from flywheel_pipeline.sources.demo.catalog import (
    DEVICES,
    PAGE_INDEX,
    PAGES,
    SOURCES,
    landing_matrix,
)
from flywheel_pipeline.sources.demo.config import Calendar, DemoBusiness, DemoConfig
from flywheel_pipeline.sources.demo.conversations import (
    RENDER_COLUMNS,
    Conversations,
    anonymous_specs,
    assign_ids,
    attach_contacts,
    channels,
    lead_specs,
    order_specs,
    suppress,
)
from flywheel_pipeline.sources.demo.draws import day_chunks
from flywheel_pipeline.sources.demo.effects import AppliedActions
from flywheel_pipeline.sources.demo.feedback import simulate_nps, simulate_referrals
from flywheel_pipeline.sources.demo.people import (
    Arrivals,
    Identities,
    Population,
    Referred,
    add_intent,
    assign_pages,
    contacts_frame,
    convert,
    resolve_identities,
)
from flywheel_pipeline.sources.demo.purchases import REPEAT_ROUTES, orders_frame, simulate_orders
from flywheel_pipeline.sources.demo.queries import query_catalog
from flywheel_pipeline.sources.demo.sales import deal_paths, deals_frames
from flywheel_pipeline.sources.demo.search import gsc_frame, simulate_search
from flywheel_pipeline.sources.demo.spill import Spill, Tables, months_of, trim_memory

# People drawn and developed at once. Their lifetime draws take ~4 kB each, so a chunk peaks
# at about half a gigabyte whatever the scale; fewer, bigger chunks are only slightly faster.
CHUNK_PEOPLE = 100_000

# Each CRM table: the column whose month files a row, and the (unique) order of its rows.
CRM_LAYOUT = {
    "contacts": ("created_at", ["created_at", "contact_id"]),
    "deals": ("created_at", ["created_at", "deal_id"]),
    "deal_stage_history": ("entered_at", ["deal_id", "entered_at", "stage"]),
    "orders": ("ordered_at", ["ordered_at", "order_id"]),
    "nps_responses": ("responded_at", ["responded_at", "contact_id"]),
    "referrals": ("referred_at", ["referred_at", "referred_contact_id"]),
}
# The planted truths made of people, and their order. Conversation ids begin with their day,
# and their truth is added a month at a time in month order, each month sorted: already in
# order (a sort would copy six million rows at scale 1000).
PEOPLE_TRUTHS = {
    "conversation_topics": None,
    "leads": ["contact_id"],
    "deals": ["deal_id"],
    "customers": ["contact_id"],
}


def _develop(
    pop: Population, landing: np.ndarray, actions: AppliedActions, seen: Identities
) -> pd.DataFrame:
    """Give new leads their identity, intent, deal path and conversion outcome."""
    assign_pages(pop, landing)
    resolve_identities(pop, seen)
    add_intent(pop)
    paths = deal_paths(pop)
    pop.df["deal_amount"] = paths["amount"].to_numpy()
    convert(pop, actions, paths)
    return paths


class _Business:
    """What the chunks of people add up to: spilled rows, GA4's event cells, referrals made."""

    def __init__(self, cal: Calendar, actions: AppliedActions) -> None:
        self.cal, self.actions = cal, actions
        self.end = cal.end_ns
        self.spill = Spill()
        self.crm = {
            table: self.spill.table(f"crm-{table}", sort_by, month)
            for table, (month, sort_by) in CRM_LAYOUT.items()
        }
        self.truth = {
            name: self.spill.table(f"truth-{name}", keys) for name, keys in PEOPLE_TRUTHS.items()
        }
        # Conversation specs of known people, by month of their start, in no particular order.
        self.specs = self.spill.table("specs", month="started_at")
        self.rendered = self.spill.table("conversations", month="started_at")
        shape = (len(cal), len(SOURCES), len(PAGES), len(DEVICES))
        self.events = SiteEvents(
            leads=np.zeros(shape), orders=np.zeros(shape), revenue=np.zeros(shape), chats=None
        )
        self.people = 0  # rows of the site pass so far (the referrers' rows)
        self.referrals: list[pd.DataFrame] = []

    def add(self, pop: Population, landing: np.ndarray, seen: Identities, refer: bool) -> None:
        """Develop a chunk of people, record all they do, and let them go."""
        paths = _develop(pop, landing, self.actions, seen)
        orders, customers = simulate_orders(pop, self.end, self.actions)
        nps = simulate_nps(pop, orders, self.end)
        if refer:
            refs = simulate_referrals(pop, nps, self.end, self.actions)
            row = refs["referrer_row"].to_numpy()
            self.referrals.append(
                pd.DataFrame(
                    {
                        "referred_at": refs["referred_at"].to_numpy(),
                        "referrer_row": row + self.people,
                        "referrer_contact_id": pop.df["contact_id"].to_numpy()[row],
                    }
                )
            )
            self.people += len(pop.df)
        for specs in (lead_specs(pop, 0), order_specs(pop, orders, 0)):
            specs = specs[specs["started_at"].to_numpy() < self.end]
            self.specs.add(attach_contacts(specs.reset_index(drop=True), pop.df))
        self._count_events(pop, orders)
        # The mats (most of the memory) are spent: only frames of the chunk remain.
        pop.mats.clear()

        df = pop.df
        self.crm["contacts"].add(contacts_frame(pop))
        deals, history, deals_truth = deals_frames(pop, paths, self.end)
        self.crm["deals"].add(deals)
        self.crm["deal_stage_history"].add(history)
        self.crm["orders"].add(orders_frame(orders))
        self.crm["nps_responses"].add(
            pd.DataFrame(
                {
                    "contact_id": nps["contact_id"].to_numpy(),
                    "responded_at": pd.to_datetime(nps["responded_at"].to_numpy()).tz_localize(
                        "UTC"
                    ),
                    "score": nps["score"].to_numpy(np.int64),
                    "comment": nps["comment"].to_numpy(),
                }
            )
        )
        self.truth["leads"].add(truth.leads_truth(df, self.end))
        self.truth["deals"].add(deals_truth)
        self.truth["customers"].add(customers.drop(columns=["contact_row"]))
        del pop, df, paths, orders, customers, nps, deals, history, deals_truth
        trim_memory()

    def _count_events(self, pop: Population, orders: pd.DataFrame) -> None:
        """Leads and web orders in their GA4 cells: day × source × page × device."""
        df = pop.df
        add_events(
            self.events.leads,
            self.cal,
            df["created_at"].to_numpy(),
            df["src"].to_numpy(),
            df["page"].to_numpy(),
            df["device"].to_numpy(),
        )
        # Only consumer orders happen on the website; business orders are invoiced by sales.
        web = orders[~orders["is_b2b"].to_numpy()]
        row = web["contact_row"].to_numpy()
        first = web["slot"].to_numpy() == 0
        route = web["route"].to_numpy()
        route_src = np.array([r[0] for r in REPEAT_ROUTES])[route]
        route_page = np.array([PAGE_INDEX[r[1]] for r in REPEAT_ROUTES])[route]
        cells = (
            web["ordered_at"].to_numpy(),
            np.where(first, df["src"].to_numpy()[row], route_src),
            np.where(first, df["page"].to_numpy()[row], route_page),
            df["device"].to_numpy()[row],
        )
        add_events(self.events.orders, self.cal, *cells)
        add_events(self.events.revenue, self.cal, *cells, web["revenue"].to_numpy())

    def referral_events(self) -> pd.DataFrame:
        """Every referral the site's customers made, in the order the referred people get."""
        refs = pd.concat(self.referrals, ignore_index=True)
        return refs.sort_values(["referred_at", "referrer_row"], ignore_index=True)

    def conversations(self, seed: int, scale: float) -> np.ndarray:
        """Assemble every month's conversations (known people's and anonymous visitors'):
        ids, channels, the truth of their topics, what the landing writer renders. Returns
        web chats per day."""
        chats = np.zeros(len(self.cal))
        months = months_of(self.cal.days)
        for month in np.unique(months):
            days = self.cal.days[months == month]
            known = self.specs.read(month) if month in self.specs.partitions() else None
            anon = attach_contacts(anonymous_specs(days, seed, scale), None)
            specs = anon if known is None else _stack(known, anon)
            del known, anon
            specs = suppress(assign_ids(specs, self.end), self.actions)
            specs["channel"] = channels(specs["conversation_id"], seed)
            is_web = specs["channel"].to_numpy() == "web_chat"
            day = (specs["started_at"].to_numpy().astype("datetime64[D]") - self.cal.start).astype(
                np.int64
            )
            np.add.at(chats, day[is_web], 1)
            self.truth["conversation_topics"].add(truth.conversation_topics_truth(specs))
            self.rendered.add(specs[RENDER_COLUMNS])
            del specs
            trim_memory()
        return chats


def _stack(top: pd.DataFrame, bottom: pd.DataFrame) -> pd.DataFrame:
    """`pd.concat` of two frames with the same columns and types, column by column: concat
    checks every None of an object column, seconds at a million rows."""
    return pd.DataFrame(
        {
            column: np.concatenate([top[column].to_numpy(), bottom[column].to_numpy()])
            for column in top.columns
        }
    )


def simulate(config: DemoConfig) -> DemoBusiness:
    cal = Calendar(config)
    seed, scale = config.seed, config.scale
    actions = AppliedActions.parse(config.applied_actions)

    ads = simulate_ads(cal, seed, scale, actions)
    queries = query_catalog(seed, scale)
    gsc_rows = simulate_search(queries, cal, seed, actions)
    organic = organic_clicks_cube(gsc_rows, cal)
    sessions = expected_sessions(cal, scale, paid_clicks_matrix(ads, cal, len(SOURCES)), organic)
    landing = landing_matrix(organic_landing_weights(queries))
    out = _Business(cal, actions)

    # Pass 1: leads from the site. Pass 2: people referred by pass-1 customers (who do not
    # refer further within the run: one generation keeps the process simple and bounded).
    arrivals, seen = Arrivals(cal, seed, scale, sessions), Identities()
    for days in day_chunks(arrivals.counts, CHUNK_PEOPLE):
        if (pop := arrivals.draw(days)) is not None:
            out.add(pop, landing, seen, refer=True)
    if not out.people:
        raise ValueError("the demo business has no leads at all: increase scale or days")
    del seen
    refs = out.referral_events()
    referred, seen = Referred(seed, scale, refs["referred_at"].to_numpy()), Identities()
    referred_ids = []
    for days in day_chunks(referred.counts, CHUNK_PEOPLE):
        if (pop := referred.draw(days)) is not None:
            referred_ids.append(pop.df["contact_id"].to_numpy())
            out.add(pop, landing, seen, refer=False)
    del seen
    out.crm["referrals"].add(
        pd.DataFrame(
            {
                "referrer_contact_id": refs["referrer_contact_id"].to_numpy(),
                "referred_contact_id": np.concatenate([np.array([], dtype=object), *referred_ids]),
                "referred_at": pd.to_datetime(refs["referred_at"].to_numpy()).tz_localize("UTC"),
            }
        )
    )
    chats = out.conversations(seed, scale)
    events = SiteEvents(
        leads=out.events.leads, orders=out.events.orders, revenue=out.events.revenue, chats=chats
    )
    ga4 = simulate_ga4(cal, seed, sessions, landing, organic, events, actions)
    gsc = gsc_frame(gsc_rows, queries, PAGES["page_path"].to_numpy())

    crm = Tables(
        {
            **out.crm,
            "ad_spend": ads[
                ["date", "source", "medium", "campaign", "spend", "impressions", "clicks"]
            ].sort_values(["date", "source", "medium", "campaign"], ignore_index=True),
        }
    )
    truth_tables = Tables(
        {
            "topics": truth.topics_truth(),
            "conversation_topics": out.truth["conversation_topics"],
            "leads": out.truth["leads"],
            "deals": out.truth["deals"],
            "customers": out.truth["customers"],
            "queries": truth.queries_truth(queries),
            "action_effects": truth.action_effects_truth(),
            "run": truth.run_truth(config),
        }
    )
    conversations = Conversations(out.rendered, seed)
    del out, sessions, organic, gsc_rows
    trim_memory()
    return DemoBusiness(
        config=config,
        data_through=config.end_date,
        crm=crm,
        conversations=conversations,
        ga4=ga4,
        gsc=gsc,
        truth=truth_tables,
    )
