"""The deals as the deal scorer reads them: DuckDB works out each deal's outcome as of
``data_through``, replays its stage history into open-stage spells, expands the labelled
deals into weekly snapshots and finds the open deals' current state, in temporary tables.
pandas then gets the snapshots it asks for (the training sample, the holdout and the open
deals a batch at a time) with just the contacts, persons and conversations of their deals,
so that no frame ever holds every deal.

The rules are :mod:`.deal_scoring`'s (its docstring): :func:`.deal_scoring.deal_outcomes`,
:func:`.deal_scoring.stage_spells`, :func:`.deal_scoring.labelled_snapshots` and
:func:`.deal_scoring.open_deal_states` compute the same from frames.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.insights._common import end_of_day, frame_table
from flywheel_pipeline.insights.customer_summaries import PERSONS
from flywheel_pipeline.sql import identifier
from flywheel_pipeline.warehouse import JOIN_MEMORY_LIMIT, fetch_row, fetch_value, memory_limit

#: the contacts' columns the features come from (besides contact_id and created_at)
CONTACT_COLUMNS = [
    "channel_group",
    "source",
    "medium",
    "campaign",
    "first_landing_page",
    "company_size",
    "industry",
]
#: the columns of a snapshot (:func:`.deal_scoring.snapshots`)
SNAPSHOT_COLUMNS = "deal_id, snapshot_at, stage, stage_entered_at, stage_changes, at_entry"

# A stage whose name starts with "closed" is a close; "won" in it says how, when is_won is
# unknown.
_CLOSING = "starts_with(lower(coalesce({stage}, '')), 'closed')"

# $stop: the first instant after data_through (nothing later is read). One statement a step:
# each is done (and can spill) before the next.
_OUTCOMES_SQL = f"""
create or replace temp table deal_outcomes as
with deals as (
    select deal_id, contact_id, created_at, amount, stage, closed_at, is_won, is_closed
    from {{deals}}
    where created_at < $stop and deal_id is not null
    qualify row_number() over (partition by deal_id order by created_at) = 1
),
closing as (
    select deal_id, min(entered_at) as entered_at
    from {{stage_history}}
    where {_CLOSING.format(stage="stage")}
    group by deal_id
),
last_change as (
    select deal_id, max(entered_at) as entered_at
    from {{stage_history}}
    group by deal_id
),
closes as (
    -- a close without closed_at (some exports leave it empty): the first closing-stage
    -- entry, else the last stage change, else the creation
    select
        d.*,
        coalesce(
            d.closed_at,
            case
                when coalesce(d.is_closed, false) or {_CLOSING.format(stage="d.stage")}
                    then coalesce(c.entered_at, l.entered_at, d.created_at)
            end
        ) as close_time
    from deals d
    left join closing c using (deal_id)
    left join last_change l using (deal_id)
)
select
    deal_id,
    contact_id,
    created_at,
    amount,
    stage as current_stage,
    case when close_time < $stop then close_time end as closed_at,
    case when close_time < $stop then coalesce(
        is_won,
        {_CLOSING.format(stage="stage")} and contains(lower(stage), 'won')
    ) end as is_won
from closes
order by deal_id
"""
_SPELLS_SQL = f"""
create or replace temp table deal_spells as
with limits as (
    select
        deal_id,
        current_stage,
        created_at,
        closed_at,
        least(coalesce(closed_at, $stop), $stop) as limit_at
    from deal_outcomes
),
entries as (
    select h.deal_id, h.stage, h.entered_at
    from {{stage_history}} h
    join limits l using (deal_id)
    where h.entered_at < l.limit_at and not {_CLOSING.format(stage="h.stage")}
),
synthetic as (
    -- an open deal without history: one spell in its current stage from creation
    select l.deal_id, coalesce(l.current_stage, '(unknown)') as stage, l.created_at as entered_at
    from limits l
    anti join entries e using (deal_id)
    where l.closed_at is null
),
numbered as (
    select
        e.deal_id,
        lower(coalesce(e.stage, '(unknown)')) as stage,
        e.entered_at as start_at,
        coalesce(lead(e.entered_at) over spell, l.limit_at) as end_at,
        row_number() over spell - 1 as stage_changes
    from (from entries union all from synthetic) e
    join limits l using (deal_id)
    window spell as (partition by e.deal_id order by e.entered_at, e.stage)
)
select * from numbered
where end_at > start_at
order by deal_id, stage_changes
"""
# every labelled snapshot ($horizon: a labelled deal was created by it), numbered in the order
# of the frames' rules (deal, spell, week); its deal numbered by deal_id
_SNAPSHOTS_SQL = """
create or replace temp table deal_snapshots as
with spells as (
    select s.*, o.is_won
    from deal_spells s
    join deal_outcomes o using (deal_id)
    where o.is_won is not null and o.created_at <= $horizon
),
weeks as (
    select
        *,
        unnest(range(greatest(1, (epoch_us(end_at) - epoch_us(start_at) + $step - 1) // $step)))
            as week
    from spells
)
select
    deal_id,
    start_at + to_microseconds(week * $step) as snapshot_at,
    stage,
    start_at as stage_entered_at,
    stage_changes,
    week = 0 as at_entry,
    is_won::int as label,
    row_number() over (order by deal_id, stage_changes, week) - 1 as labelled_row,
    dense_rank() over (order by deal_id) - 1 as deal_row
from weeks
order by labelled_row
"""
# every open deal in its state at the end of data_through, numbered by deal_id
_OPEN_SQL = """
create or replace temp table deal_open as
select
    s.deal_id,
    $stop as snapshot_at,
    s.stage,
    s.start_at as stage_entered_at,
    s.stage_changes,
    false as at_entry,
    row_number() over (order by s.deal_id) - 1 as open_row
from deal_spells s
join deal_outcomes o using (deal_id)
where o.closed_at is null
qualify row_number() over (partition by s.deal_id order by s.stage_changes desc) = 1
order by open_row
"""
# data_through by default: the last day in any of the inputs
_LAST_DAY_SQL = """
select max(ts)::date from (
    select max(created_at) as ts from {deals}
    union all select max(closed_at) from {deals}
    union all select max(entered_at) from {stage_history}
    union all select max(created_at) from {contacts}
    union all select max(started_at) from {conversations} where contact_id is not null
)
"""
# what the features of a batch's deals read: their contacts' fields, persons and the
# conversations of those persons (by the person's surviving contact_id), nothing after $stop
_BATCH_CONTACTS = "(select contact_id from deal_outcomes semi join deal_batch using (deal_id))"
_CONTEXT_SQL = {
    "outcomes": "select * from deal_outcomes semi join deal_batch using (deal_id)",
    "contacts": (
        "select contact_id, created_at, {fields} from {contacts} "
        f"where contact_id in {_BATCH_CONTACTS} and not coalesce(created_at >= $stop, false) "
        "order by contact_id"
    ),
    "persons": (
        f"select contact_id, person_id from {{persons}} where contact_id in {_BATCH_CONTACTS} "
        "order by contact_id"
    ),
    "conversations": (
        "select contact_id, started_at from {conversations} "
        "where started_at < $stop and contact_id in ("
        "select coalesce(p.person_id, o.contact_id) from deal_outcomes o "
        "semi join deal_batch using (deal_id) "
        "left join {persons} p using (contact_id)) "
        "order by contact_id, started_at"
    ),
}


@dataclass(frozen=True)
class DealRows:
    """The deals of one data_through in the connection's temporary tables."""

    conn: duckdb.DuckDBPyConnection
    relations: dict[str, str]
    data_through: dt.date
    maturity_days: int
    labelled: int  # snapshots
    open: int  # deals

    @classmethod
    def prepare(
        cls,
        conn: duckdb.DuckDBPyConnection,
        relations: dict[str, str],
        data_through: dt.date | None,
        *,
        maturity,
        snapshot_every_days: int,
    ) -> DealRows | None:
        """Outcomes, spells, labelled snapshots and open states of the deals of
        ``relations`` (deals, stage_history, contacts, conversations, persons: SQL relations
        with the columns of the staging tables) as of ``data_through`` (by default the last
        day in them); None when there is no day or no deal. ``maturity(dates, day)``: the
        label maturity in days, from every deal's created_at and closed_at."""
        day = data_through or fetch_value(conn, _LAST_DAY_SQL.format(**relations))
        if day is None:
            return None
        stop = end_of_day(day).to_pydatetime()
        with memory_limit(conn, JOIN_MEMORY_LIMIT):
            conn.execute(_OUTCOMES_SQL.format(**relations), {"stop": stop})
            dates = conn.execute("select created_at, closed_at from deal_outcomes").df()
            if dates.empty:
                return None
            conn.execute(_SPELLS_SQL.format(**relations), {"stop": stop})
            maturity_days = int(maturity(dates, day))
            conn.execute(
                _SNAPSHOTS_SQL,
                {
                    "horizon": stop - dt.timedelta(days=maturity_days),
                    "step": snapshot_every_days * 86_400_000_000,
                },
            )
            conn.execute(_OPEN_SQL, {"stop": stop})
        labelled, open_ = fetch_row(
            conn, "select (select count(*) from deal_snapshots), (select count(*) from deal_open)"
        )
        return cls(conn, relations, day, maturity_days, int(labelled), int(open_))

    def labels(self) -> pd.DataFrame:
        """deal_row, label, at_entry of every labelled snapshot, in order: numbers only."""
        return self.conn.execute(
            "select deal_row, label, at_entry from deal_snapshots order by labelled_row"
        ).df()

    def labelled_deals(self) -> pd.DataFrame:
        """created_at and label of every labelled deal, by deal_row (deal_id order)."""
        return self.conn.execute(
            "select any_value(o.created_at) as created_at, any_value(s.label) as label "
            "from deal_snapshots s join deal_outcomes o using (deal_id) "
            "group by s.deal_row order by s.deal_row"
        ).df()

    def entry_counts(self, deal_rows: np.ndarray) -> pd.DataFrame:
        """Per stage over the stage-entry snapshots of the labelled deals ``deal_rows``: won
        (sum) and count."""
        self.conn.register("deal_picked", pd.DataFrame({"deal_row": deal_rows}))
        try:
            return self.conn.execute(
                "select stage, sum(label) as won, count(*) as count from deal_snapshots "
                "semi join deal_picked using (deal_row) where at_entry group by stage "
                "order by stage"
            ).df()
        finally:
            self.conn.unregister("deal_picked")

    def closed_win_rate(self) -> float:
        """The win rate of every closed deal (the fallback when none is labelled)."""
        rate = fetch_value(self.conn, "select avg(is_won::double) from deal_outcomes")
        return math.nan if rate is None else float(rate)

    def labelled_rows(self, positions: np.ndarray, rows: int) -> Iterator[pd.DataFrame]:
        """The labelled snapshots at ``positions`` (sorted labelled_row numbers), ``rows`` at
        a time in their order."""
        for at in range(0, len(positions), rows):
            picked = pd.DataFrame({"labelled_row": positions[at : at + rows]})
            self.conn.register("deal_positions", picked)
            try:
                yield self.conn.execute(
                    f"select {SNAPSHOT_COLUMNS} from deal_snapshots "
                    "semi join deal_positions using (labelled_row) order by labelled_row"
                ).df()
            finally:
                self.conn.unregister("deal_positions")

    def open_rows(self, rows: int) -> Iterator[pd.DataFrame]:
        """The open deals' states, ``rows`` at a time in deal_id order."""
        for at in range(0, self.open, rows):
            yield self.conn.execute(
                f"select {SNAPSHOT_COLUMNS} from deal_open "
                "where open_row >= ? and open_row < ? order by open_row",
                [at, at + rows],
            ).df()

    def context(self, snaps: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """What the features of ``snaps`` read, for their deals only: outcomes, contacts,
        persons and conversations (the frames :func:`.deal_scoring.build_features` takes)."""
        relations = {**self.relations, "fields": ", ".join(map(identifier, CONTACT_COLUMNS))}
        stop = end_of_day(self.data_through).to_pydatetime()
        self.conn.register("deal_batch", snaps[["deal_id"]].drop_duplicates())
        try:
            frames = {}
            for name, sql in _CONTEXT_SQL.items():
                sql = sql.format(**relations)
                frames[name] = self.conn.execute(sql, {"stop": stop} if "$stop" in sql else {}).df()
            return frames
        finally:
            self.conn.unregister("deal_batch")


def load_frames(
    conn: duckdb.DuckDBPyConnection,
    deals: pd.DataFrame,
    stage_history: pd.DataFrame | None,
    contacts: pd.DataFrame | None,
    conversations: pd.DataFrame | None,
    persons: pd.DataFrame | None,
) -> dict[str, str]:
    """The frames as temporary tables of ``conn`` (timestamps as naive UTC, missing columns
    null; without ``is_closed``, a deal with a known ``is_won`` is closed), named as
    :meth:`DealRows.prepare` takes them."""
    deals = deals.copy()
    if "is_closed" not in deals:
        deals["is_closed"] = deals["is_won"].notna() if "is_won" in deals else False
    frames = {
        "deals": deals.reindex(
            columns=[
                "deal_id",
                "contact_id",
                "created_at",
                "amount",
                "stage",
                "closed_at",
                "is_won",
                "is_closed",
            ]
        ),
        "stage_history": _frame(stage_history, ["deal_id", "stage", "entered_at"]),
        "contacts": _frame(contacts, ["contact_id", "created_at", *CONTACT_COLUMNS]),
        "conversations": _frame(conversations, ["contact_id", "started_at"]),
        "persons": _frame(persons, ["contact_id", "person_id"]),
    }
    relations = {}
    for name, frame in frames.items():
        types = {
            c: "float64" if c == "amount" else "boolean" if c.startswith("is_") else "string"
            for c in frame.columns
            if not c.endswith("_at")
        }
        if "amount" in frame:
            frame = frame.assign(amount=pd.to_numeric(frame["amount"], errors="coerce"))
        relations[name] = frame_table(conn, f"frame_{name}", frame.astype(types))
    return relations


def _frame(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})
    return frame.reindex(columns=columns)


def warehouse_relations() -> dict[str, str]:
    """The staging tables :meth:`DealRows.prepare` reads in the warehouse."""
    return {
        "deals": tables.DEALS.quoted,
        "stage_history": tables.DEAL_STAGE_HISTORY.quoted,
        "contacts": tables.CONTACTS.quoted,
        "conversations": tables.CONVERSATION_TEXTS.quoted,
        "persons": PERSONS,
    }
