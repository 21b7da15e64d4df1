"""Deals of business leads: qualified → proposal → negotiation → closed_won / closed_lost.

Stage durations are drawn when the deal opens. A won deal walks every stage; a lost one stops
at a drawn stage. Both paths share their early stages, so a follow-up that turns a loss into a
win only changes what happens after the follow-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import weekday
from flywheel_pipeline.sources.demo.config import days_to_ns
from flywheel_pipeline.sources.demo.people import COMPANY_SIZES, HORIZON_DAYS, Population

STAGES = ("qualified", "proposal", "negotiation", "closed_won", "closed_lost")
OPEN_STAGES = STAGES[:3]
# Typical first-order value by company size (EUR); deals vary around it.
DEAL_BASE_AMOUNT = np.array([900.0, 2400.0, 6000.0, 14000.0, 30000.0])
assert len(DEAL_BASE_AMOUNT) == len(COMPANY_SIZES)


def deal_paths(pop: Population) -> pd.DataFrame:
    """Per contact (aligned rows): deal id and the instants of every possible stage entry."""
    df = pop.df
    has = df["has_deal"].to_numpy()
    delay = df["deal_delay"].to_numpy()
    d = np.stack([df["d1"].to_numpy(), df["d2"].to_numpy(), df["d3"].to_numpy()], axis=1)
    # Every win must close inside the lead's 90-day horizon.
    room = HORIZON_DAYS - 2 - delay
    d = d * np.minimum(1.0, room / d.sum(axis=1))[:, None]
    created = (
        df["day"].to_numpy().astype("datetime64[ns]")
        + days_to_ns(np.floor(df["tod"].to_numpy() / 86_400 + delay))
        + (df["deal_tod"].to_numpy() * 10**9).astype("timedelta64[ns]")
    )
    created = np.maximum(created, df["created_at"].to_numpy())
    # Sales reps open deals on working days: weekend qualifications move to Monday morning.
    wd = weekday(created.astype("datetime64[D]"))
    created = np.where(
        wd >= 5,
        (created.astype("datetime64[D]") + (7 - wd).astype("timedelta64[D]")).astype(
            "datetime64[ns]"
        )
        + (df["deal_tod"].to_numpy() * 10**9).astype("timedelta64[ns]"),
        created,
    )
    entered = created[:, None] + days_to_ns(
        np.concatenate([np.zeros((len(df), 1)), np.cumsum(d, axis=1)], axis=1)
    )
    u = df["lost_stage_u"].to_numpy()
    lost_stage = np.where(u < 0.35, 0, np.where(u < 0.7, 1, 2))
    lost_at = entered[np.arange(len(df)), lost_stage] + days_to_ns(
        df["lost_frac"].to_numpy() * d[np.arange(len(df)), lost_stage]
    )
    nat = np.datetime64("NaT", "ns")
    return pd.DataFrame(
        {
            "deal_id": np.where(has, "D" + df["contact_id"].str[1:], None),
            "created_at": np.where(has, created, nat),
            "proposal_at": np.where(has, entered[:, 1], nat),
            "negotiation_at": np.where(has, entered[:, 2], nat),
            "won_at": np.where(has, entered[:, 3], nat),
            "lost_stage": lost_stage,
            "lost_at": np.where(has, lost_at, nat),
            "amount": np.round(
                DEAL_BASE_AMOUNT[df["size"].to_numpy()] * np.exp(df["amount_z"].to_numpy()), -1
            ),
        }
    )


def deals_frames(
    pop: Population, paths: pd.DataFrame, end_ns: np.datetime64
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """CRM deals and deal_stage_history as of `end_ns`, plus the deals truth (p_win)."""
    has = pop.df["has_deal"].to_numpy()
    won = pop.df["converted_90d"].to_numpy() & has
    p = paths[has & (paths["created_at"].to_numpy() < end_ns)].copy()
    won = won[p.index.to_numpy()]
    contact = pop.df["contact_id"].to_numpy()[p.index.to_numpy()]
    p_win = pop.df["p_convert_90d"].to_numpy()[p.index.to_numpy()]
    n = len(p)
    lost_stage = p["lost_stage"].to_numpy()
    # Candidate entries: qualified, proposal, negotiation, closed_won, closed_lost.
    times = np.stack(
        [
            p["created_at"].to_numpy(),
            p["proposal_at"].to_numpy(),
            p["negotiation_at"].to_numpy(),
            p["won_at"].to_numpy(),
            p["lost_at"].to_numpy(),
        ],
        axis=1,
    )
    reached = np.ones((n, 5), dtype=bool)
    reached[:, 1] = won | (lost_stage >= 1)
    reached[:, 2] = won | (lost_stage >= 2)
    reached[:, 3] = won
    reached[:, 4] = ~won
    reached &= times < end_ns
    rows, stage = np.nonzero(reached)
    history = pd.DataFrame(
        {
            "deal_id": p["deal_id"].to_numpy()[rows],
            "stage": np.array(STAGES)[stage],
            "entered_at": pd.to_datetime(times[rows, stage]).tz_localize("UTC"),
        }
    ).sort_values(["deal_id", "entered_at", "stage"], ignore_index=True)
    last_stage = np.where(reached, np.arange(5)[None, :], -1)
    # closed_won (3) and closed_lost (4) are exclusive; otherwise the furthest stage reached.
    current = last_stage.max(axis=1)
    closed = current >= 3
    close_time = np.where(won, times[:, 3], times[:, 4])
    deals = pd.DataFrame(
        {
            "deal_id": p["deal_id"].to_numpy(),
            "contact_id": contact,
            "created_at": pd.to_datetime(p["created_at"].to_numpy()).tz_localize("UTC"),
            "stage": np.array(STAGES)[current],
            "amount": p["amount"].to_numpy(),
            "closed_at": pd.to_datetime(
                np.where(closed, close_time, np.datetime64("NaT", "ns"))
            ).tz_localize("UTC"),
            "is_won": pd.array(np.where(closed, won, False), dtype="boolean"),
        }
    )
    deals.loc[~closed, "is_won"] = pd.NA
    deals = deals.sort_values(["created_at", "deal_id"], ignore_index=True)
    truth = pd.DataFrame(
        {
            "deal_id": p["deal_id"].to_numpy(),
            "p_win": np.round(p_win, 6),
            "will_win": won,
            "is_closed_at_end": closed,
        }
    ).sort_values("deal_id", ignore_index=True)
    return deals, history, truth
