"""AI customer-service conversations: who talks about what, when, and in which words.

Conversations come from three places: leads asking before they buy, customers after an order
(late parcels and damaged items among them) and anonymous visitors. Numbers (when, topic,
outcome) are vectorised; only the text is built row by row, from a per-conversation
`random.Random` so that each text depends on nothing but the seed and the conversation id.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo import phrasebook as pb
from flywheel_pipeline.sources.demo.catalog import (
    BUSINESS_MIX,
    PROSPECT_MIX,
    TOPIC_INDEX,
    TOPICS,
    demand,
    mix_vector,
    topic_weights,
)
from flywheel_pipeline.sources.demo.config import DOMAIN, day_rng, days_to_ns
from flywheel_pipeline.sources.demo.draws import HOURS_CONSUMER, seconds_of_day
from flywheel_pipeline.sources.demo.effects import AppliedActions, effect
from flywheel_pipeline.sources.demo.people import (
    FIRST_NAMES,
    FREE_MAIL,
    LAST_NAMES,
    MAX_LEAD_CONVS,
    Population,
)
from flywheel_pipeline.sources.demo.spill import SpilledTable, read_rows

ANON_PER_DAY = 24.0  # at scale 1 and average demand
CSAT_ASKED_P = 0.42
# Outcome uniforms per conversation: resolved, handed off, csat asked, csat noise, suppressed
# (create_content), identity link.
N_OUTCOME_U = 6
_RESOLVE_P = np.array([t.resolve_p for t in TOPICS])
_HANDOFF_P = np.array([t.handoff_p for t in TOPICS])


def conversation_outcomes(
    topic: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """resolved, handed_off and csat (0 = not asked) from the conversation's uniforms."""
    resolved = u[..., 0] < _RESOLVE_P[topic]
    handoff_p = np.minimum(_HANDOFF_P[topic] * np.where(resolved, 0.6, 1.8), 0.9)
    handed_off = u[..., 1] < handoff_p
    score = 2.4 + 1.9 * resolved + 0.4 * (handed_off & ~resolved) + 2.6 * (u[..., 3] - 0.5)
    csat = np.where(u[..., 2] < CSAT_ASKED_P, np.clip(np.round(score), 1, 5), 0).astype(np.int64)
    return resolved, handed_off, csat


def _spec(
    started_at: np.ndarray,
    topic: np.ndarray,
    contact_row: np.ndarray,
    link: np.ndarray,
    u: np.ndarray,
    origin: str,
    key: np.ndarray,
) -> pd.DataFrame:
    resolved, handed_off, csat = conversation_outcomes(topic, u)
    return pd.DataFrame(
        {
            "started_at": started_at.astype("datetime64[ns]"),
            "topic": topic.astype(np.int64),
            "contact_row": contact_row.astype(np.int64),
            "link": link.astype(np.int64),
            "resolved": resolved,
            "handed_off": handed_off,
            "csat": csat,
            "suppress_u": u[..., 4],
            "origin": origin,
            "key": key,
        }
    )


# Identity link kinds: which identifiers the chat widget captured.
LINK_NONE, LINK_ID_EMAIL, LINK_EMAIL, LINK_GA = 0, 1, 2, 3


def _pick(u: np.ndarray, mix: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(np.cumsum(mix), u), len(mix) - 1)


def lead_specs(pop: Population, row_offset: int) -> pd.DataFrame:
    """Questions leads ask before buying (their count is a lead-scoring feature)."""
    df = pop.df
    n_conv = df["n_conv"].to_numpy()
    rows, j = np.nonzero(np.arange(MAX_LEAD_CONVS)[None, :] < n_conv[:, None])
    created = df["created_at"].to_numpy()[rows]
    conv_at = df["converted_at"].to_numpy()[rows]
    window = np.full(len(rows), 21.0)
    before = ~np.isnat(conv_at)
    window[before] = np.minimum(
        21.0, (conv_at[before] - created[before]).astype(np.float64) / 86_400e9 * 0.9
    )
    started = created + days_to_ns(np.maximum(window, 0.01) * pop.mats["lconv_t"][rows, j])
    b2b = df["is_b2b"].to_numpy()[rows]
    tu = pop.mats["lconv_topic_u"][rows, j]
    topic = np.where(b2b, _pick(tu, mix_vector(BUSINESS_MIX)), _pick(tu, mix_vector(PROSPECT_MIX)))
    lu = pop.mats["lconv_link_u"][rows, j]
    link = np.select(
        [lu < 0.5, lu < 0.75, lu < 0.9], [LINK_ID_EMAIL, LINK_EMAIL, LINK_GA], LINK_NONE
    )
    key = df["contact_id"].to_numpy()[rows].astype(str) + ":" + j.astype(str)
    return _spec(
        started, topic, rows + row_offset, link, pop.mats["lconv_out"][rows, j], "lead", key
    )


def order_specs(pop: Population, orders: pd.DataFrame, row_offset: int) -> pd.DataFrame:
    """Customers writing in after an order."""
    o = orders[orders["conv_topic"].to_numpy() >= 0]
    u = pop.mats["oconv_out"][o["contact_row"].to_numpy(), o["slot"].to_numpy()]
    lu = u[..., 5]
    link = np.select([lu < 0.65, lu < 0.9], [LINK_ID_EMAIL, LINK_EMAIL], LINK_NONE)
    return _spec(
        o["conv_at"].to_numpy(),
        o["conv_topic"].to_numpy(),
        o["contact_row"].to_numpy() + row_offset,
        link,
        u,
        "order",
        o["order_id"].to_numpy().astype(str),
    )


def anonymous_specs(days: np.ndarray, seed: int, scale: float) -> pd.DataFrame:
    """Visitors who chat without being known (some carry a GA cookie id or an email), on
    `days` (each day from its own stream)."""
    weights = topic_weights(days)
    base = np.array([t.weight for t in TOPICS]).sum()
    means = scale * ANON_PER_DAY * demand(days)[:, None] * weights / base

    def draw(rng: np.random.Generator, n: int, day: np.datetime64, i: int) -> dict:
        counts = rng.poisson(means[i])
        topic = np.repeat(np.arange(len(TOPICS)), counts)
        m = len(topic)
        return {
            "topic": topic,
            "tod": seconds_of_day(rng, m, HOURS_CONSUMER),
            "u": rng.random((m, N_OUTCOME_U)),
        }

    cols = _per_day_variable(seed, days, draw)
    if not cols:
        empty = np.array([], dtype=np.int64)
        return _spec(
            np.array([], "datetime64[ns]"),
            empty,
            empty,
            empty,
            np.zeros((0, N_OUTCOME_U)),
            "anon",
            np.array([], str),
        )
    started = cols["day"].astype("datetime64[ns]") + (cols["tod"] * 10**9).astype("timedelta64[ns]")
    lu = cols["u"][:, 5]
    link = np.select([lu < 0.33, lu < 0.4], [LINK_GA, LINK_EMAIL], LINK_NONE)
    key = np.char.add(np.datetime_as_string(cols["day"]), np.char.zfill(cols["seq"].astype(str), 5))
    return _spec(started, cols["topic"], np.full(len(started), -1), link, cols["u"], "anon", key)


def _per_day_variable(seed: int, days: np.ndarray, draw) -> dict[str, np.ndarray]:
    """Like `per_day`, for draws whose row count is decided inside the day's stream."""
    parts = []
    for i, day in enumerate(days):
        cols = draw(day_rng(seed, "conv:anon", day), 0, day, i)
        m = len(cols["topic"])
        if m == 0:
            continue
        cols["day"] = np.full(m, day, dtype="datetime64[D]")
        cols["seq"] = np.arange(m)
        parts.append(cols)
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# Who a conversation is with, put on it so that it renders without the population.
CONTACT_COLUMNS = ["contact_id", "email", "ga_client_id"]


def attach_contacts(specs: pd.DataFrame, contacts: pd.DataFrame | None) -> pd.DataFrame:
    """Replace `contact_row` by the contact's identifiers (None for anonymous visitors)."""
    rows = specs.pop("contact_row").to_numpy()
    for column in CONTACT_COLUMNS:
        if contacts is None:
            specs[column] = np.full(len(specs), None, dtype=object)
        else:
            specs[column] = contacts[column].to_numpy()[rows]
    return specs


def assign_ids(specs: pd.DataFrame, end_ns: np.datetime64) -> pd.DataFrame:
    """Ids from the UTC day and a hash of what caused the conversation (not its rank in the
    day), so a conversation keeps its id when an action adds or removes others."""
    specs = specs[specs["started_at"].to_numpy() < end_ns]
    specs = specs.sort_values(["started_at", "origin", "key"], kind="stable", ignore_index=True)
    days, which = np.unique(
        specs["started_at"].to_numpy().astype("datetime64[D]"), return_inverse=True
    )
    day = pd.Series(np.char.replace(np.datetime_as_string(days), "-", "").astype(object)[which])
    cause = (specs["origin"] + ":" + specs["key"].astype(str)).to_numpy()
    digest = pd.Series([f"{zlib.crc32(c.encode()):08x}" for c in cause], index=specs.index)
    ids = "CV" + day + "-" + digest
    clash = ids.groupby(ids).cumcount()
    specs["conversation_id"] = ids.where(clash == 0, ids + "-" + (clash + 1).astype(str))
    return specs


def suppress(specs: pd.DataFrame, actions: AppliedActions) -> pd.DataFrame:
    """create_content: a new help page answers part of a topic's questions before they are asked."""
    drop = np.zeros(len(specs), dtype=bool)
    share = -effect("create_content", "topic_conversations")
    planned = {t.planned_page: t.key for t in TOPICS if t.planned_page}
    for target, start in actions.dates("create_content").items():
        key = planned.get(target.removeprefix(DOMAIN), target)
        if key not in TOPIC_INDEX:
            continue
        drop |= (
            (specs["topic"].to_numpy() == TOPIC_INDEX[key])
            & (specs["started_at"].to_numpy() >= start)
            & (specs["suppress_u"].to_numpy() < share)
        )
    return specs[~drop].reset_index(drop=True)


# --- text ------------------------------------------------------------------------------------
_OFFSETS = ((0.72, 0), (0.9, 120), (1.0, -240))  # Z, +02:00 (CEST), -04:00 (EDT), in minutes


_DAY_TEXT: dict[int, str] = {}
_SUFFIX = {0: "Z", 120: "+02:00", -240: "-04:00"}
_CLOCK: list[str] = []  # "HH:MM:SS" of every second of a day, made on first use


def _iso(epoch_s: int, offset_min: int) -> str:
    if not _CLOCK:
        _CLOCK.extend(
            f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        )
    day, rest = divmod(epoch_s + offset_min * 60, 86_400)
    date = _DAY_TEXT.get(day)
    if date is None:
        date = _DAY_TEXT[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
    suffix = _SUFFIX.get(offset_min)
    if suffix is None:
        hours, minutes = divmod(abs(offset_min), 60)
        suffix = f"{'+' if offset_min > 0 else '-'}{hours:02d}:{minutes:02d}"
    return f"{date}T{_CLOCK[rest]}{suffix}"


class _Random(random.Random):
    """`random.Random` drawing exactly what it draws (the same rejection sampling on
    `getrandbits`), with fewer calls per draw: rendering makes tens of millions of them."""

    def choice(self, seq):
        n = len(seq)
        if n <= 0:
            raise IndexError("Cannot choose from an empty sequence")
        k = n.bit_length()
        r = self.getrandbits(k)
        while r >= n:
            r = self.getrandbits(k)
        return seq[r]

    def randrange(self, start, stop=None):
        n = start if stop is None else stop - start
        if n <= 0:
            raise ValueError("empty range for randrange()")
        k = n.bit_length()
        r = self.getrandbits(k)
        while r >= n:
            r = self.getrandbits(k)
        return r if stop is None else start + r

    def randint(self, a, b):
        n = b - a + 1
        if n <= 0:
            raise ValueError("empty range for randint()")
        k = n.bit_length()
        r = self.getrandbits(k)
        while r >= n:
            r = self.getrandbits(k)
        return a + r


def _typo(text: str, rnd: random.Random) -> str:
    words = text.split(" ")
    for _ in range(rnd.choice((1, 1, 2))):
        i = rnd.randrange(len(words))
        w = words[i]
        if len(w) < 4 or "@" in w or any(c.isdigit() for c in w):
            continue
        k = rnd.randrange(1, len(w) - 1)
        op = rnd.random()
        if op < 0.4:
            w = w[: k - 1] + w[k] + w[k - 1] + w[k + 1 :]  # swapped letters
        elif op < 0.7:
            w = w[:k] + w[k + 1 :]  # dropped letter
        else:
            w = w[:k] + w[k] + w[k:]  # doubled letter
        words[i] = w
    out = " ".join(words)
    if rnd.random() < 0.3:
        out = out.lower().replace("'", "")
    return out


def _phone(rnd: random.Random) -> str:
    return rnd.choice(pb.PHONES).format(
        n2=f"{rnd.randrange(100):02d}",
        n2b=f"{rnd.randrange(100):02d}",
        n3=f"{rnd.randrange(1000):03d}",
        n4=f"{rnd.randrange(10000):04d}",
    )


def _random_email(rnd: random.Random) -> str:
    name = f"{rnd.choice(FIRST_NAMES)}.{rnd.choice(LAST_NAMES)}{rnd.randrange(10, 99)}"
    return f"{name}@{rnd.choice(FREE_MAIL)}"


def render(specs: pd.DataFrame, seed: int) -> list[dict[str, Any]]:
    """The landing-file JSON objects, one per conversation, in start-time order."""
    contact_id = specs["contact_id"].to_numpy()
    known = pd.notna(contact_id)
    crm_email = specs["email"].to_numpy()
    ga_id = specs["ga_client_id"].to_numpy()
    started_s = specs["started_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    topics = [TOPICS[t] for t in specs["topic"].to_numpy()]
    links = specs["link"].to_numpy().tolist()
    resolved_all = specs["resolved"].to_numpy().tolist()
    handed_all = specs["handed_off"].to_numpy().tolist()
    csat_all = specs["csat"].to_numpy().tolist()
    started_all = started_s.tolist()
    channels_all = specs["channel"].to_numpy().tolist()
    out: list[dict[str, Any]] = []
    for i, cid in enumerate(specs["conversation_id"].to_numpy().tolist()):
        rnd = _Random(zlib.crc32(f"{seed}:{cid}".encode()))
        topic = topics[i]
        link = links[i]
        email = crm_email[i]
        if isinstance(email, str) and rnd.random() < 0.75:
            email = email.strip().lower()
        contact: dict[str, str] = {}
        if link == LINK_ID_EMAIL:
            contact["contact_id"] = contact_id[i]
            if email:
                contact["email"] = email
        elif link == LINK_EMAIL:
            if email:
                contact["email"] = email
            elif contact_id[i]:
                contact["contact_id"] = contact_id[i]
        elif link == LINK_GA:
            ga = ga_id[i] if known[i] else None
            contact["ga_client_id"] = (
                ga
                or f"{rnd.randrange(10**8, 2**31)}.{started_all[i] - rnd.randrange(0, 30 * 86400)}"
            )
        if not known[i] and link == LINK_EMAIL:
            email = _random_email(rnd)
            contact["email"] = email
        resolved = bool(resolved_all[i])
        handed_off = bool(handed_all[i])
        messages = _messages(
            topic, resolved, handed_off, email if isinstance(email, str) else None, rnd
        )
        r = rnd.random()
        offset = next(m for p, m in _OFFSETS if r < p)
        t = started_all[i]
        stamped = []
        for k, (role, text) in enumerate(messages):
            if k:
                # A human agent picks the chat up minutes later; the bot answers in seconds.
                handover = role == "agent" and messages[k - 1][0] != "agent"
                t += rnd.randint(60, 1500) if handover else rnd.randint(4, 95)
            stamped.append({"role": role, "text": text, "sent_at": _iso(t, offset)})
        record: dict[str, Any] = {
            "conversation_id": cid,
            "started_at": _iso(started_all[i], offset),
            "channel": channels_all[i],
            "contact": contact,
            "messages": stamped,
            "resolved": resolved,
            "handed_off": handed_off,
        }
        csat = csat_all[i]
        if csat:
            record["csat"] = csat
        out.append(record)
    return out


CHANNELS = ("web_chat", "whatsapp", "instagram_dm")
_CHANNEL_MIX = np.array([0.78, 0.14, 0.08])


def channels(conversation_ids: pd.Series, seed: int) -> np.ndarray:
    """Where each conversation took place, from a hash of its id: known without rendering its
    text (GA4 counts the web chats), and the same whichever other conversations exist."""
    u = np.array([zlib.crc32(f"{seed}:{cid}:channel".encode()) for cid in conversation_ids])
    return np.asarray(CHANNELS, dtype=object)[_pick(u / 2**32, _CHANNEL_MIX)]


# What `render` reads of the specs (the rest, such as origin and key, is not kept).
RENDER_COLUMNS = [
    "conversation_id",
    "channel",
    "started_at",
    "topic",
    "link",
    "resolved",
    "handed_off",
    "csat",
    *CONTACT_COLUMNS,
]
# Records rendered at once when streaming: a month at scale 1000 is a million conversations,
# gigabytes as Python objects.
RENDER_BATCH = 20_000


def to_jsonl(records: list[dict[str, Any]]) -> bytes:
    """The records as JSON lines, each line ending with a newline."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


def _render_rows(paths: list[Path], start: int, stop: int, seed: int) -> bytes:
    """A render worker's task: rows start:stop of a month's specs, as JSON lines."""
    return to_jsonl(render(read_rows(paths, start, stop), seed))


@dataclass(frozen=True, eq=False)
class Conversations:
    """The landing-file records, rendered on demand: never all of them at once.

    A subset renders the same records as the whole (each draws from its own `random.Random`),
    so rendering month by month, or a batch at a time, in any process, changes nothing.
    """

    specs: SpilledTable  # RENDER_COLUMNS by month of the UTC start, each in start-time order
    seed: int

    def __len__(self) -> int:
        return len(self.specs)

    def months(self) -> list[str]:
        """The months with conversations: the month of the UTC day in their ids."""
        return self.specs.partitions()

    def batches(self, month: str, size: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """That month's records in start-time order, `size` (RENDER_BATCH) at a time."""
        size = size or RENDER_BATCH
        rows = self.specs.read(month)
        for start in range(0, len(rows), size):
            yield render(rows.iloc[start : start + size], self.seed)

    def jsonl(
        self, workers: Executor | None = None, ahead: int = 4, size: int | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """(month, JSON lines of its next `size` (RENDER_BATCH) records) for every month in
        order, rendered by `workers` (a process pool) when given: `ahead` batches ahead, handed
        out in order."""
        size = size or RENDER_BATCH
        if workers is None:
            for month in self.months():
                for records in self.batches(month, size):
                    yield month, to_jsonl(records)
            return
        pending: deque[tuple[str, Future[bytes]]] = deque()
        for month in self.months():
            paths, rows = self.specs.paths(month), self.specs.count(month)
            for start in range(0, rows, size):
                stop = min(start + size, rows)
                pending.append((month, workers.submit(_render_rows, paths, start, stop, self.seed)))
                if len(pending) > ahead:
                    done_month, future = pending.popleft()
                    yield done_month, future.result()
        while pending:
            done_month, future = pending.popleft()
            yield done_month, future.result()

    def by_month(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """(YYYY-MM, that month's records) in month order."""
        for month in self.months():
            yield month, [record for batch in self.batches(month) for record in batch]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every record, in start-time order (months follow each other)."""
        for month in self.months():
            for batch in self.batches(month):
                yield from batch


def _messages(
    topic, resolved: bool, handed_off: bool, email: str | None, rnd: random.Random
) -> list[tuple[str, str]]:
    slots = {
        "order": rnd.choice(("#SE", "SE-", "order ", "#")) + str(rnd.randrange(100000, 999999)),
        "product": rnd.choice(pb.PRODUCTS),
        "size": rnd.choice(pb.SIZES),
        "code": rnd.choice(pb.CODES),
        "country": rnd.choice(pb.COUNTRIES),
        "qty": rnd.choice((25, 40, 50, 80, 120, 200, 350, 500)),
        "days": rnd.randint(3, 14),
        "industry": rnd.choice(pb.INDUSTRY_WORDS),
    }
    msgs: list[tuple[str, str]] = []
    if rnd.random() < 0.4:
        msgs.append(("assistant", rnd.choice(pb.GREETINGS)))
    opener = rnd.choice(pb.OPENERS[topic.key]).format(**slots)
    if rnd.random() < 0.35:
        joiner = " " if opener[-1] in ".?!" else rnd.choice((". ", ", ", " - "))
        opener = opener + joiner + rnd.choice(pb.DETAILS[topic.key]).format(**slots)
    share_contact = rnd.random() < (0.35 if handed_off or topic.key == "bulk_quotes" else 0.1)
    if share_contact:
        if email and rnd.random() < 0.6:
            line = rnd.choice(pb.CONTACT_LINES_EMAIL).format(email=email)
        elif rnd.random() < 0.5:
            line = rnd.choice(pb.CONTACT_LINES_EMAIL).format(email=_random_email(rnd))
        else:
            line = rnd.choice(pb.CONTACT_LINES_PHONE).format(phone=_phone(rnd))
        opener = opener.rstrip(".?! ") + rnd.choice((". ", ", ", " - ")) + line
    msgs.append(("user", _typo(opener, rnd) if rnd.random() < 0.3 else opener))
    page = f"{DOMAIN}{topic.help_page}" if topic.help_page else ""
    if resolved and topic.help_page:
        hint = rnd.choice(pb.HINTS[topic.key])
        msgs.append(("assistant", rnd.choice(pb.ANSWERS_WITH_PAGE).format(page=page, hint=hint)))
    else:
        msgs.append(("assistant", rnd.choice(pb.VAGUE_ANSWERS.get(topic.key, pb.GENERIC_VAGUE))))
    if rnd.random() < 0.45:  # another round
        detail = rnd.choice(pb.DETAILS[topic.key]).format(**slots)
        msgs.append(("user", _typo(detail, rnd) if rnd.random() < 0.25 else detail))
        if resolved and topic.help_page:
            msgs.append(("assistant", rnd.choice(pb.HINTS[topic.key])))
        elif resolved:
            msgs.append(
                (
                    "assistant",
                    "Thanks, I've noted that and sent it to the team - you'll hear back by email.",
                )
            )
        else:
            msgs.append(("assistant", rnd.choice(pb.GENERIC_VAGUE)))
    if not resolved:
        msgs.append(("user", rnd.choice(pb.UNHAPPY)))
    if handed_off:
        msgs.append(("assistant", "I'll connect you with a member of our team."))
        msgs.append(("agent", rnd.choice(pb.AGENT_LINES).format(agent=rnd.choice(pb.AGENTS))))
        if rnd.random() < 0.6:
            msgs.append(("user", rnd.choice(("ok thanks", "Great", "sure, thanks for helping"))))
        msgs.append(("agent", rnd.choice(pb.AGENT_FOLLOW)))
    elif resolved and rnd.random() < 0.7:
        msgs.append(("user", rnd.choice(pb.THANKS)))
    return msgs
