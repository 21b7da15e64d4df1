"""simulate(): run the demo business from its first day to data_through.

Order matters only where one process feeds another: ad spend and search drive sessions,
sessions bring leads, leads convert (via deals for businesses) into orders, orders bring
surveys and post-order chats, promoters bring referred leads, and everything lands in GA4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo import truth
from flywheel_pipeline.sources.demo.ads import paid_clicks_matrix, simulate_ads
from flywheel_pipeline.sources.demo.analytics import (
    SiteEvents,
    event_cube,
    expected_sessions,
    organic_clicks_cube,
    organic_landing_weights,
    simulate_ga4,
)
from flywheel_pipeline.sources.demo.catalog import PAGE_INDEX, PAGES, SOURCES, landing_matrix
from flywheel_pipeline.sources.demo.config import Calendar, DemoBusiness, DemoConfig
from flywheel_pipeline.sources.demo.conversations import (
    Conversations,
    anonymous_specs,
    assign_ids,
    channels,
    lead_specs,
    order_specs,
    suppress,
)
from flywheel_pipeline.sources.demo.effects import AppliedActions
from flywheel_pipeline.sources.demo.feedback import simulate_nps, simulate_referrals
from flywheel_pipeline.sources.demo.people import (
    Population,
    add_intent,
    assign_pages,
    contacts_frame,
    convert,
    resolve_identities,
    simulate_leads,
    simulate_referred,
)
from flywheel_pipeline.sources.demo.purchases import REPEAT_ROUTES, orders_frame, simulate_orders
from flywheel_pipeline.sources.demo.queries import query_catalog
from flywheel_pipeline.sources.demo.sales import deal_paths, deals_frames
from flywheel_pipeline.sources.demo.search import gsc_frame, simulate_search


def _develop(pop: Population, landing: np.ndarray, actions: AppliedActions) -> pd.DataFrame:
    """Give new leads their identity, intent, deal path and conversion outcome."""
    assign_pages(pop, landing)
    resolve_identities(pop)
    add_intent(pop)
    paths = deal_paths(pop)
    pop.df["deal_amount"] = paths["amount"].to_numpy()
    convert(pop, actions, paths)
    return paths


def simulate(config: DemoConfig) -> DemoBusiness:
    cal = Calendar(config)
    seed, scale = config.seed, config.scale
    actions = AppliedActions.parse(config.applied_actions)
    end = cal.end_ns

    ads = simulate_ads(cal, seed, scale, actions)
    queries = query_catalog(seed, scale)
    gsc_rows = simulate_search(queries, cal, seed, actions)
    organic = organic_clicks_cube(gsc_rows, cal)
    sessions = expected_sessions(cal, scale, paid_clicks_matrix(ads, cal, len(SOURCES)), organic)
    landing = landing_matrix(organic_landing_weights(queries))

    # Pass 1: leads from the site. Pass 2: people referred by pass-1 customers (who do not
    # refer further within the run: one generation keeps the process simple and bounded).
    leads = simulate_leads(cal, seed, scale, sessions)
    paths = _develop(leads, landing, actions)
    orders, customers = simulate_orders(leads, end, actions)
    nps = simulate_nps(leads, orders, end)
    refs = simulate_referrals(leads, nps, end, actions)
    specs = [lead_specs(leads, 0), order_specs(leads, orders, 0)]
    parts, all_orders, all_customers, all_nps, all_paths = (
        [leads],
        [orders],
        [customers],
        [nps],
        [paths],
    )
    referred = simulate_referred(seed, scale, refs["referred_at"].to_numpy())
    if referred is not None:
        offset = len(leads.df)
        r_paths = _develop(referred, landing, actions)
        r_orders, r_customers = simulate_orders(referred, end, actions)
        r_nps = simulate_nps(referred, r_orders, end)
        specs += [lead_specs(referred, offset), order_specs(referred, r_orders, offset)]
        for frame in (r_orders, r_customers, r_nps):
            frame["contact_row"] += offset
        parts.append(referred)
        all_orders.append(r_orders)
        all_customers.append(r_customers)
        all_nps.append(r_nps)
        all_paths.append(r_paths)
    referred_ids = referred.df["contact_id"].to_numpy() if referred is not None else []
    # Only the people go on from here. Their per-slot draws, most of the simulator's memory
    # at scale, are spent: dropping them before the conversations and GA4 are built keeps
    # the peak down.
    pop = Population.concat([Population(part.df) for part in parts])
    del parts, leads, referred
    orders = pd.concat(all_orders, ignore_index=True)
    customers = pd.concat(all_customers, ignore_index=True)
    nps = pd.concat(all_nps, ignore_index=True)
    paths = pd.concat(all_paths, ignore_index=True)

    specs.append(anonymous_specs(cal, seed, scale))
    specs_all = suppress(assign_ids(pd.concat(specs, ignore_index=True), end), actions)
    specs_all["channel"] = channels(specs_all["conversation_id"], seed)
    conversations = Conversations.of(specs_all, pop.df, seed)

    deals, history, deals_truth = deals_frames(pop, paths, end)
    contacts = contacts_frame(pop)
    referrals = pd.DataFrame(
        {
            "referrer_contact_id": pop.df["contact_id"].to_numpy()[refs["referrer_row"].to_numpy()],
            "referred_contact_id": referred_ids,
            "referred_at": pd.to_datetime(refs["referred_at"].to_numpy()).tz_localize("UTC"),
        }
    )
    crm = {
        "contacts": contacts,
        "deals": deals,
        "deal_stage_history": history,
        "orders": orders_frame(orders),
        "nps_responses": pd.DataFrame(
            {
                "contact_id": nps["contact_id"].to_numpy(),
                "responded_at": pd.to_datetime(nps["responded_at"].to_numpy()).tz_localize("UTC"),
                "score": nps["score"].to_numpy(np.int64),
                "comment": nps["comment"].to_numpy(),
            }
        ).sort_values(["responded_at", "contact_id"], ignore_index=True),
        "referrals": referrals.sort_values(
            ["referred_at", "referred_contact_id"], ignore_index=True
        ),
        "ad_spend": ads[
            ["date", "source", "medium", "campaign", "spend", "impressions", "clicks"]
        ].sort_values(["date", "source", "medium", "campaign"], ignore_index=True),
    }

    ga4 = simulate_ga4(
        cal,
        seed,
        sessions,
        landing,
        organic,
        _site_events(cal, pop, orders, specs_all),
        actions,
    )
    gsc = gsc_frame(gsc_rows, queries, PAGES["page_path"].to_numpy())

    truth_tables = {
        "topics": truth.topics_truth(),
        "conversation_topics": truth.conversation_topics_truth(
            specs_all, pop.df["contact_id"].to_numpy()
        ),
        "leads": truth.leads_truth(pop.df, end),
        "deals": deals_truth,
        "customers": customers.drop(columns=["contact_row"]).sort_values(
            "contact_id", ignore_index=True
        ),
        "queries": truth.queries_truth(queries),
        "action_effects": truth.action_effects_truth(),
        "run": truth.run_truth(config),
    }
    return DemoBusiness(
        config=config,
        data_through=config.end_date,
        crm=crm,
        conversations=conversations,
        ga4=ga4,
        gsc=gsc,
        truth=truth_tables,
    )


def _site_events(
    cal: Calendar,
    pop: Population,
    orders: pd.DataFrame,
    specs: pd.DataFrame,
) -> SiteEvents:
    df = pop.df
    leads = event_cube(
        cal,
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
    src = np.where(first, df["src"].to_numpy()[row], route_src)
    page = np.where(first, df["page"].to_numpy()[row], route_page)
    device = df["device"].to_numpy()[row]
    when = web["ordered_at"].to_numpy()
    order_cube = event_cube(cal, when, src, page, device)
    revenue = event_cube(cal, when, src, page, device, web["revenue"].to_numpy())
    chats = np.zeros(len(cal))
    is_web = specs["channel"].to_numpy() == "web_chat"
    day = (specs["started_at"].to_numpy().astype("datetime64[D]") - cal.start).astype(np.int64)
    np.add.at(chats, day[is_web], 1)
    return SiteEvents(leads=leads, orders=order_cube, revenue=revenue, chats=chats)
