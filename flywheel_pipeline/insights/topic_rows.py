"""The conversations as the topic model reads them: one pass in DuckDB numbers them by start
(started_at, then conversation_id) in a temporary table, beside their text and the topic the
previous run gave them. The model then fetches the texts of its samples by position and reads
the rest a batch at a time, and the assignments are written a batch at a time, so that no frame
ever holds every conversation: only numbers per conversation (its new and previous topic, its
scores) are held, in numpy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from flywheel_pipeline.insights._common import frame_table
from flywheel_pipeline.warehouse import JOIN_MEMORY_LIMIT, fetch_row, fetch_value, memory_limit

_TABLE = "topic_rows"  # temporary: the connection's own, gone when it closes

# One row a conversation (the first start of an id listed twice), numbered by start; the
# previous run's topic by conversation_id. Stored in position order, so that a range of
# positions reads only its own row groups.
_TOPIC_ROWS_SQL = """
create or replace temp table topic_rows as
with texts as (
    select conversation_id, started_at, coalesce(cast(user_text as varchar), '') as text
    from {conversations}
    where started_at is not null and conversation_id is not null
    {one_per_id}
),
previous as (
    select conversation_id, min(topic_id) as previous_topic
    from {previous}
    where topic_id is not null
    group by conversation_id
)
select
    row_number() over (order by t.started_at, t.conversation_id) - 1 as position,
    t.conversation_id,
    t.started_at,
    t.text,
    coalesce(p.previous_topic, -1) as previous_topic
from texts t
left join previous p using (conversation_id)
order by position
"""
_ONE_PER_ID = (
    "qualify row_number() over (partition by conversation_id order by started_at, text) = 1"
)
_PREVIOUS_DAY_SQL = """
select max(data_through)::date
from {previous}
"""
_PREVIOUS_SIZES_SQL = """
select topic_id, count(*) as conversations
from {previous}
where topic_id is not null
group by topic_id
"""


@dataclass(frozen=True)
class PreviousRun:
    """What the previous run's assignments say: its largest topic id (0: none), its
    data_through and its conversations per topic."""

    max_topic_id: int = 0
    data_through: dt.date | None = None
    sizes: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicRows:
    """The conversations in the connection's temporary ``topic_rows`` table."""

    conn: duckdb.DuckDBPyConnection
    rows: int
    data_through: dt.date | None
    previous: PreviousRun

    @classmethod
    def prepare(
        cls, conn: duckdb.DuckDBPyConnection, conversations: str, previous: str | None = None
    ) -> TopicRows:
        """Number the conversations of the relation ``conversations`` (conversation_id,
        started_at as naive UTC, user_text) beside their topic in ``previous`` (the last run's
        assignments: conversation_id, topic_id, data_through), if any."""
        if previous is None:  # no previous run: a relation of its shape without rows
            previous = (
                f"(select conversation_id, null::bigint as topic_id, null::date as data_through "
                f"from {conversations} where false)"
            )
        rows, ids = fetch_row(
            conn,
            f"select count(*), count(distinct conversation_id) from {conversations} "
            "where started_at is not null and conversation_id is not null",
        )
        sql = _TOPIC_ROWS_SQL.format(
            conversations=conversations,
            previous=previous,
            one_per_id="" if rows == ids else _ONE_PER_ID,  # a window over every text costs
        )
        with memory_limit(conn, JOIN_MEMORY_LIMIT):  # every text is sorted once
            conn.execute(sql)
        rows, last = fetch_row(conn, f"select count(*), max(started_at)::date from {_TABLE}")
        through = fetch_value(conn, _PREVIOUS_DAY_SQL.format(previous=previous))
        counted = conn.execute(_PREVIOUS_SIZES_SQL.format(previous=previous)).fetchall()
        sizes = {int(topic): int(n) for topic, n in counted}
        run = PreviousRun(max(sizes, default=0), through, sizes)
        return cls(conn, int(rows), last, run)

    def __len__(self) -> int:
        return self.rows

    def count_before(self, at: pd.Timestamp) -> int:
        """How many conversations started before ``at`` (naive UTC): the position of the first
        one started at or after it."""
        sql = f"select count(*) from {_TABLE} where started_at < ?"
        return int(fetch_value(self.conn, sql, [at.to_pydatetime()]))

    def previous_topics(self) -> np.ndarray:
        """The previous run's topic id of every conversation, by position (-1: none)."""
        sql = f"select previous_topic from {_TABLE} order by position"
        return self.conn.execute(sql).fetchnumpy()["previous_topic"].astype(np.int64)

    def take(self, positions: Sequence[int] | np.ndarray) -> list[str]:
        """The texts at ``positions``, in that order."""
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return []
        wanted = pd.DataFrame({"position": np.unique(positions)})
        self.conn.register("topic_positions", wanted)
        try:
            found = self.conn.execute(
                f"select position, text from {_TABLE} semi join topic_positions using (position)"
            ).fetchnumpy()
        finally:
            self.conn.unregister("topic_positions")
        text_of = dict(zip(found["position"].tolist(), found["text"].tolist(), strict=True))
        return [text_of[p] for p in positions.tolist()]

    def batches(self, start: int, size: int) -> Iterator[list[str]]:
        """The texts from position ``start`` to the end, ``size`` at a time (the last batch may
        be shorter); each batch is read whole, so the connection is free between them."""
        for first in range(start, self.rows, size):
            yield self._range("text", first, first + size).tolist()

    def conversation_ids(self, start: int, stop: int) -> np.ndarray:
        """The conversation ids at positions ``start`` ≤ position < ``stop``, in order."""
        return self._range("conversation_id", start, stop)

    def _range(self, column: str, start: int, stop: int) -> np.ndarray:
        return self.conn.execute(
            f"select {column} from {_TABLE} where position >= ? and position < ? order by position",
            [start, stop],
        ).fetchnumpy()[column]


def load_frames(
    conn: duckdb.DuckDBPyConnection,
    conversations: pd.DataFrame,
    previous_assignments: pd.DataFrame | None = None,
) -> tuple[str, str | None]:
    """The frames as temporary tables of ``conn`` (started_at as naive UTC), named as
    :meth:`TopicRows.prepare` takes them."""
    missing = {"conversation_id", "started_at", "user_text"} - set(conversations.columns)
    if missing:
        raise ValueError(f"conversations frame lacks columns: {sorted(missing)}")
    frame = conversations[["conversation_id", "started_at", "user_text"]]
    texts = frame_table(conn, "frame_conversations", frame.astype({"user_text": "string"}))
    if previous_assignments is None:
        return texts, None
    previous = previous_assignments.reindex(columns=["conversation_id", "topic_id", "data_through"])
    previous = previous.assign(
        topic_id=pd.to_numeric(previous["topic_id"], errors="coerce").astype("Int64"),
        data_through=pd.to_datetime(previous["data_through"]),
    )
    return texts, frame_table(conn, "frame_previous_assignments", previous)
