"""Deal scoring: the probability that an open deal is won, as of ``data_through``.

Method (SPEC §6, "Lead and deal scoring" — a deal-stage predictor):

- **Snapshots.** Every deal is replayed through its stage history
  (``deal_stage_history``): a snapshot at each entry into an open stage and then every
  ``snapshot_every_days`` (7) while the deal stays in that stage, up to its close or
  ``data_through``. Weekly snapshots make the training rows look like what is scored: open
  deals part-way through a stage, not only at the moment they enter it.
- **Features at a snapshot** use only what is known at that instant: current stage, days in
  the current stage (a separate slope per stage: how long a deal may sit in a stage before
  it is lost differs between stages), days open, the conversations the contact's person
  started before the snapshot (capped at ``max_conversations``), days since the contact was
  created, and the contact's CRM fields — acquisition (channel group / source / medium /
  campaign), the section of the first landing page, company size and industry. Never
  ``closed_at``, ``is_won``, closing stages or anything later. (CRM fields are the CRM's
  current values; a CRM that rewrites them at closing would need their history to be safe.)
  Deal amount and country were tried and left out: on the demo they carried no signal
  beyond company size and only added noise.
- **Label.** 1 when the deal was won, 0 when lost. Only deals created at least
  ``label_maturity_days`` before ``data_through`` are labelled, with all their snapshots:
  a young deal is only labelled if it closed fast, and fast closes are mostly losses, which
  would drag every estimate down. The age is at least 75 days and grows, in weeks, until the
  deals created in the 4 weeks beyond it are ≥ 95 % closed (long sales cycles get a longer
  wait); ``model_runs`` reports it. Deals still open are never labelled.
- **Time split.** Labelled deals sorted by ``created_at``: the latest ``holdout_fraction``
  (⅓) of deals, with all their snapshots, are the holdout; the earlier deals train, so no
  deal is on both sides. A third rather than a quarter: at the demo's scale (~270 labelled
  deals) the holdout decides which scorer serves, and a larger one decides less by chance.
- **Naive baseline** — the historical win rate of the snapshot's current stage (share of
  training deals that entered the stage and were won, shrunk towards the overall rate by a
  Beta prior worth ``prior_strength`` = 10 deals), the probability CRMs attach to stages.
- **Model: a stage-anchored logistic regression.** ``logit P(win) = logit(stage win rate) +
  b0 + Σ b·x``: the baseline's stage rate is a fixed offset and the features (one-hot
  categories, rare levels pooled; standardised numbers) only move a deal away from it. The
  snapshots' log-likelihood is maximised (scipy L-BFGS) less an L2 penalty
  ``penalty / 2 · Σ b²`` (``penalty`` = 100) on every coefficient but the intercept. With
  little evidence the model stays at the stage rate; only signals that hold across many
  deals move it. (A free logistic regression with stage dummies, Platt-calibrated, lost to
  the stage rates on the demo: with ~200 training deals it spent its data re-learning the
  stage effect, and its calibration drifted.) The regression fits at most ``max_train_deals``
  (:data:`MAX_TRAIN_DEALS`) deals with all their snapshots: above that, a seeded sample of
  deals stratified by outcome × creation month (every deal below it); the stage rates it is
  anchored on use every labelled deal. Past 10 000 deals a doubling gains under 0.002 of
  holdout AUC (``benchmarks/learning_curves.py``).
- **Champion / challenger.** Holdout ROC AUC, Brier score and lift in the top decile, each
  beside the baseline. The model serves only when it beats the baseline on AUC *and* Brier
  (ranking and calibration: ``win_probability`` is read as a probability by ``attend_deal``);
  otherwise the stage rates serve. Either way the serving scorer is refitted on all labelled
  deals for the scores, and every ``model_runs`` row says which serves and why.
- **Cold start.** Fewer than ``min_won`` (50) won or ``min_lost`` (50) lost labelled deals:
  no model. The fallback rule is the stage win rate above from all labelled deals
  (``served_by`` = rules, ``cold_start`` = 1). With no labelled deal at all the fallback
  uses the win rate of every closed deal; with no closed deal nothing is scored.
- **Scores.** Every deal open at ``data_through`` gets ``win_probability`` from the features
  of its state then (the end of the ``data_through`` day). Closed deals are not scored.

``data_through`` is the last date in the inputs, never the wall clock; rows after it are
ignored, so a replay as of an earlier date reproduces what was known then.

The asset and :func:`score_deals` alike run :func:`score_deal_rows`: the outcomes, spells,
snapshots and open states are worked out in DuckDB (:mod:`.deal_rows`) and the features
read a batch at a time; :func:`deal_outcomes`, :func:`stage_spells`,
:func:`labelled_snapshots` and :func:`open_deal_states` state the same rules on frames.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logit
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from flywheel_pipeline.insights import _common as shared
from flywheel_pipeline.insights._common import (
    DESCRIPTIVE,
    SCORE_BATCH_ROWS,
    SERVED_BY_MODEL,
    GroupRate,
    Serving,
    as_date,
    classification_metrics,
    end_of_day,
    outcome_month_sample,
    to_utc_naive,
)
from flywheel_pipeline.insights.deal_rows import CONTACT_COLUMNS, DealRows, load_frames
from flywheel_pipeline.insights.lead_scoring import landing_section

MODEL_NAME = "deal_scoring"
#: ml.deal_scoring_runs metrics besides the classification ones: label counts, the label
#: maturity used and the base rate describe the data.
METRIC_KINDS = shared.metric_kinds(
    {
        "won_deals": DESCRIPTIVE,
        "lost_deals": DESCRIPTIVE,
        "label_maturity_days": DESCRIPTIVE,
        "base_rate": DESCRIPTIVE,
    }
)
MIN_WON = 50
MIN_LOST = 50
SNAPSHOT_EVERY_DAYS = 7
LABEL_MATURITY_DAYS = 75
MATURITY_WINDOW_DAYS = 28
MATURITY_CLOSED_SHARE = 0.95
HOLDOUT_FRACTION = 1 / 3
PRIOR_STRENGTH = 10.0
PENALTY = 100.0
MAX_CONVERSATIONS = 6
#: Most deals the regression fits on (an outcome × month stratified sample above it): on the
#: demo its holdout AUC gains < 0.002 per doubling past 10 000 deals (benchmarks/README.md).
MAX_TRAIN_DEALS = 20_000

#: from the contacts' CONTACT_COLUMNS (deal_rows.py)
CONTACT_FIELDS = ["acquisition", "landing_section", "company_size", "industry"]
CATEGORICAL = CONTACT_FIELDS
NUMERIC = ["log_days_open", "conversations", "log_contact_age"]
FEATURE_COLUMNS = ["stage", "log_days_in_stage", *CATEGORICAL, *NUMERIC]
SCORE_COLUMNS = ["deal_id", "win_probability", "data_through"]
SNAPSHOT_COLUMNS = ["deal_id", "snapshot_at", "stage", "stage_entered_at", "stage_changes"]
DAY = pd.Timedelta(days=1)


@dataclass
class DealScoreResult:
    deal_scores: pd.DataFrame  # deal_id, win_probability, data_through
    model_runs: pd.DataFrame
    method: str  # what publishes: "stage_anchored_logistic", "stage_rate" or "none"
    data_through: dt.date | None
    serving: Serving | None = None
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# deal states as of data_through


def _is_closing_stage(stage: pd.Series) -> pd.Series:
    return stage.fillna("").str.lower().str.startswith("closed")


def deal_outcomes(
    deals: pd.DataFrame, stage_history: pd.DataFrame, data_through: dt.date
) -> pd.DataFrame:
    """One row per deal created by ``data_through``: deal_id, contact_id, created_at, amount,
    closed_at (the close as known then: NaT while open) and is_won (NA while open).

    A deal counts as closed at ``closed_at``; without one (some exports leave it empty), at
    its first closing-stage entry, else at its last stage change, else at creation.
    """
    stop = end_of_day(data_through)
    d = deals.copy()
    d["created_at"] = to_utc_naive(d["created_at"])
    d = d[d["created_at"] < stop].drop_duplicates("deal_id").reset_index(drop=True)
    closed_at = to_utc_naive(d["closed_at"]) if "closed_at" in d else pd.Series(pd.NaT, d.index)
    is_won = d["is_won"].astype("boolean") if "is_won" in d else pd.Series(pd.NA, d.index)
    stage = d.get("stage", pd.Series(None, index=d.index, dtype=object))
    # Staging fills is_won with false for open deals, so is_closed decides when present.
    if "is_closed" in d:
        flagged = d["is_closed"].astype("boolean").fillna(False).astype(bool)
    else:
        flagged = is_won.notna()
    flagged = flagged | closed_at.notna() | _is_closing_stage(stage)
    h = stage_history.copy()
    h["entered_at"] = to_utc_naive(h["entered_at"])
    closing = h[_is_closing_stage(h["stage"])].groupby("deal_id")["entered_at"].min()
    last_change = h.groupby("deal_id")["entered_at"].max()
    fallback = (
        d["deal_id"].map(closing).fillna(d["deal_id"].map(last_change)).fillna(d["created_at"])
    )
    close_time = closed_at.where(closed_at.notna(), fallback.where(flagged))
    closed = close_time.notna() & (close_time < stop)
    won = is_won.fillna(_is_closing_stage(stage) & stage.fillna("").str.lower().str.contains("won"))
    return pd.DataFrame(
        {
            "deal_id": d["deal_id"].to_numpy(),
            "contact_id": d["contact_id"].to_numpy() if "contact_id" in d else None,
            "created_at": d["created_at"].to_numpy(),
            "amount": pd.to_numeric(d["amount"], errors="coerce") if "amount" in d else np.nan,
            "current_stage": stage.to_numpy(),
            "closed_at": close_time.where(closed).to_numpy(),
            "is_won": won.where(closed, pd.NA).astype("boolean").to_numpy(),
        }
    )


def stage_spells(
    outcomes: pd.DataFrame, stage_history: pd.DataFrame, data_through: dt.date
) -> pd.DataFrame:
    """Open-stage spells per deal: deal_id, stage, start, end (exclusive), stage_changes.

    A spell ends at the next stage entry, the close or the end of ``data_through``. Entries
    into closing stages and anything at or after the close are dropped, so no spell carries
    the outcome. An open deal without history gets one spell in its current stage from
    creation; a closed deal without history has no spells (its path is unknown).
    """
    stop = end_of_day(data_through)
    limit = outcomes.set_index("deal_id")["closed_at"].fillna(stop).clip(upper=stop)
    h = stage_history[["deal_id", "stage", "entered_at"]].copy()
    h["entered_at"] = to_utc_naive(h["entered_at"])
    h = h[h["deal_id"].isin(limit.index)].dropna(subset=["entered_at"])
    h = h[(h["entered_at"] < h["deal_id"].map(limit)) & ~_is_closing_stage(h["stage"])]
    missing = outcomes[outcomes["closed_at"].isna() & ~outcomes["deal_id"].isin(h["deal_id"])]
    synthetic = pd.DataFrame(
        {
            "deal_id": missing["deal_id"].to_numpy(),
            "stage": missing["current_stage"].fillna("(unknown)").to_numpy(),
            "entered_at": missing["created_at"].to_numpy(),
        }
    )
    h = pd.concat([h, synthetic], ignore_index=True) if len(synthetic) else h
    h = h.sort_values(["deal_id", "entered_at", "stage"], kind="stable").reset_index(drop=True)
    h["stage"] = h["stage"].fillna("(unknown)").astype(str).str.lower()
    next_entry = h.groupby("deal_id")["entered_at"].shift(-1)
    h["end"] = next_entry.fillna(h["deal_id"].map(limit))
    h["stage_changes"] = h.groupby("deal_id").cumcount()
    h = h.rename(columns={"entered_at": "start"})
    return h[h["end"] > h["start"]].reset_index(drop=True)[
        ["deal_id", "stage", "start", "end", "stage_changes"]
    ]


def snapshots(spells: pd.DataFrame, every_days: int = SNAPSHOT_EVERY_DAYS) -> pd.DataFrame:
    """A snapshot at each spell start and every ``every_days`` after it, strictly inside the
    spell. Columns: :data:`SNAPSHOT_COLUMNS` plus ``at_entry`` (the spell's first one)."""
    if spells.empty:
        return pd.DataFrame(columns=[*SNAPSHOT_COLUMNS, "at_entry"])
    step = pd.Timedelta(days=every_days)
    length = (spells["end"] - spells["start"]) / step
    counts = np.maximum(1, np.ceil(length.to_numpy(dtype=float)).astype(np.int64))
    rows = np.repeat(np.arange(len(spells)), counts)
    k = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    s = spells.iloc[rows].reset_index(drop=True)
    return pd.DataFrame(
        {
            "deal_id": s["deal_id"],
            "snapshot_at": s["start"] + k * step,
            "stage": s["stage"],
            "stage_entered_at": s["start"],
            "stage_changes": s["stage_changes"],
            "at_entry": k == 0,
        }
    )


def label_maturity(
    outcomes: pd.DataFrame,
    data_through: dt.date,
    floor_days: int = LABEL_MATURITY_DAYS,
    *,
    window_days: int = MATURITY_WINDOW_DAYS,
    closed_share: float = MATURITY_CLOSED_SHARE,
) -> int:
    """Days a deal must have existed to be labelled: ``floor_days``, extended a week at a
    time while fewer than ``closed_share`` of the deals created in the ``window_days``
    beyond it are closed. Past the oldest deal it stops (nothing older to label)."""
    age = ((end_of_day(data_through) - outcomes["created_at"]) / DAY).to_numpy(float)
    closed = outcomes["closed_at"].notna().to_numpy()
    days = int(floor_days)
    oldest = float(np.nanmax(age)) if len(age) else 0.0
    while days < oldest:
        cohort = (age >= days) & (age < days + window_days)
        if not cohort.any() or closed[cohort].mean() >= closed_share:
            break
        days += 7
    return days


def labelled_snapshots(
    outcomes: pd.DataFrame,
    spells: pd.DataFrame,
    data_through: dt.date,
    *,
    maturity_days: int = LABEL_MATURITY_DAYS,
    snapshot_every_days: int = SNAPSHOT_EVERY_DAYS,
) -> pd.DataFrame:
    """Training rows: every snapshot of the deals closed by ``data_through`` that were created
    at least ``maturity_days`` before it, with ``label`` (1 = won)."""
    snaps = snapshots(spells, snapshot_every_days)
    deal = outcomes.set_index("deal_id")
    outcome = snaps["deal_id"].map(deal["is_won"])
    horizon = end_of_day(data_through) - pd.Timedelta(days=maturity_days)
    mature = (snaps["deal_id"].map(deal["created_at"]) <= horizon).to_numpy()
    keep = outcome.notna().to_numpy() & mature
    labelled = snaps[keep].reset_index(drop=True)
    labelled["label"] = outcome[keep].astype(int).to_numpy()
    return labelled


def holdout_mask(
    labelled: pd.DataFrame, outcomes: pd.DataFrame, holdout_fraction: float = HOLDOUT_FRACTION
) -> np.ndarray:
    """True for the snapshots of the latest-created ``holdout_fraction`` of labelled deals
    (:func:`holdout_deals`): a deal is on one side of the split only."""
    ids = np.sort(labelled["deal_id"].unique())
    created = pd.Series(ids).map(outcomes.set_index("deal_id")["created_at"]).to_numpy()
    hold = holdout_deals(created, holdout_fraction)
    return labelled["deal_id"].isin(ids[hold]).to_numpy()


def holdout_deals(created: np.ndarray, holdout_fraction: float = HOLDOUT_FRACTION) -> np.ndarray:
    """True for the latest-created ``holdout_fraction`` of deals (``created`` in deal_id
    order, which breaks ties; none with fewer than 10 deals)."""
    n = len(created)
    n_hold = math.ceil(holdout_fraction * n) if n >= 10 else 0
    order = np.lexsort((np.arange(n), created))
    hold = np.zeros(n, bool)
    hold[order[n - n_hold :]] = True
    return hold


def open_deal_states(
    outcomes: pd.DataFrame, spells: pd.DataFrame, data_through: dt.date
) -> pd.DataFrame:
    """Scoring rows: every deal open at ``data_through`` in its state at the end of that day
    (the same columns as :func:`snapshots`)."""
    open_ids = outcomes.loc[outcomes["closed_at"].isna(), "deal_id"]
    current = spells[spells["deal_id"].isin(open_ids)].groupby("deal_id").tail(1)
    return pd.DataFrame(
        {
            "deal_id": current["deal_id"].to_numpy(),
            "snapshot_at": end_of_day(data_through),
            "stage": current["stage"].to_numpy(),
            "stage_entered_at": current["start"].to_numpy(),
            "stage_changes": current["stage_changes"].to_numpy(),
            "at_entry": False,
        }
    )


def _text(values: pd.Series) -> pd.Series:
    return values.fillna("(none)").astype(str).replace("", "(none)")


def contact_fields(contacts: pd.DataFrame | None) -> pd.DataFrame:
    """Per contact_id: :data:`CONTACT_FIELDS` and ``created_at`` (missing columns count as
    unknown)."""
    if contacts is None or contacts.empty:
        empty = pd.DataFrame(columns=CONTACT_FIELDS, index=pd.Index([]), dtype=object)
        return empty.assign(created_at=pd.Series(dtype="datetime64[ns]"))
    c = contacts.drop_duplicates("contact_id").set_index("contact_id")

    def col(name: str) -> pd.Series:
        return c[name] if name in c else pd.Series(None, index=c.index, dtype=object)

    out = pd.DataFrame(index=c.index)
    # channel group (staging's grouping of source and medium) first: one of them may be all
    # an export has; the finer source / medium / campaign split it where present
    parts = [_text(col(name)) for name in CONTACT_COLUMNS[:4]]
    out["acquisition"] = parts[0].str.cat(parts[1:], sep=" / ")
    out["landing_section"] = col("first_landing_page").map(landing_section)
    out["company_size"] = _text(col("company_size"))
    out["industry"] = _text(col("industry"))
    out["created_at"] = to_utc_naive(col("created_at"))
    return out


def build_features(
    snaps: pd.DataFrame,
    outcomes: pd.DataFrame,
    contacts: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    persons: pd.DataFrame | None = None,
    *,
    max_conversations: int = MAX_CONVERSATIONS,
) -> pd.DataFrame:
    """Features of each snapshot as known at ``snapshot_at`` (same index as ``snaps``):
    :data:`FEATURE_COLUMNS`.

    ``contacts``: contact_id, created_at, source, medium, campaign, first_landing_page,
    company_size, industry (missing ones count as unknown). ``conversations``: contact_id
    (the person's surviving contact_id), started_at. ``persons``: contact_id → person_id, to
    find the deal contact's person; without it the deal's contact_id is the person.
    """
    deal = outcomes.set_index("deal_id")
    at = snaps["snapshot_at"]
    created = snaps["deal_id"].map(deal["created_at"])
    contact = snaps["deal_id"].map(deal["contact_id"])
    fields = contact_fields(contacts)
    feats = pd.DataFrame(index=snaps.index)
    feats["stage"] = snaps["stage"].astype(str)
    feats["log_days_in_stage"] = np.log1p(((at - snaps["stage_entered_at"]) / DAY).clip(lower=0))
    for col in CONTACT_FIELDS:
        feats[col] = _text(contact.map(fields[col])).to_numpy()
    feats["log_days_open"] = np.log1p(((at - created) / DAY).clip(lower=0))
    seen = _conversations_before(contact, at, conversations, persons)
    feats["conversations"] = np.minimum(seen, max_conversations).astype(float)
    contact_age = ((at - contact.map(fields["created_at"])) / DAY).clip(lower=0)
    feats["log_contact_age"] = np.log1p(contact_age.fillna((at - created) / DAY))
    return feats[FEATURE_COLUMNS]


def _conversations_before(contact, at, conversations, persons) -> np.ndarray:
    """Conversations the deal contact's person started strictly before each instant."""
    if conversations is None or conversations.empty:
        return np.zeros(len(at))
    person = contact
    if persons is not None and len(persons):
        mapping = persons.drop_duplicates("contact_id").set_index("contact_id")["person_id"]
        person = contact.map(mapping).fillna(contact)
    conv = conversations[["contact_id", "started_at"]].dropna().copy()
    conv["started_at"] = to_utc_naive(conv["started_at"])
    conv = conv.sort_values("started_at")
    times = {who: g.to_numpy() for who, g in conv.groupby("contact_id")["started_at"]}
    counts = np.zeros(len(at), dtype=np.int64)
    for i, (who, when) in enumerate(zip(person.to_numpy(), at.to_numpy(), strict=True)):
        seen = times.get(who)
        if seen is not None:
            counts[i] = np.searchsorted(seen, when, side="left")
    return counts


# --------------------------------------------------------------------------------------------
# the baseline and the model


class StageRate(GroupRate):
    """Naive model: historical win rate of the current stage, shrunk towards the overall
    rate (fitted on stage-entry snapshots: one row per deal and stage reached)."""

    @classmethod
    def fit(cls, stage: pd.Series, y: pd.Series, strength: float = PRIOR_STRENGTH):
        return super().fit(stage, y, strength)

    @classmethod
    def from_entry_counts(cls, counts: pd.DataFrame, strength: float = PRIOR_STRENGTH):
        """As :meth:`fit`, from the won and the count of stage entries per stage."""
        counts = counts.set_index("stage")
        return cls.from_counts(counts["won"], counts["count"], strength)

    def log_odds(self, stage: pd.Series) -> np.ndarray:
        return logit(np.clip(self.predict(stage), 1e-4, 1 - 1e-4))


class StageAnchoredLogit:
    """``logit P(win) = logit(stage rate) + b0 + Z·b``, maximum likelihood less
    ``penalty / 2 · Σ b²`` (the intercept ``b0`` is not penalised). ``Z``: one-hot contact
    fields (levels rarer than ``min_frequency`` pooled), standardised numbers, and
    log(days in stage) once per stage seen in training."""

    def __init__(self, stage_rate: StageRate, *, penalty: float = PENALTY, min_frequency=5):
        self.stage_rate = stage_rate
        self.penalty = penalty
        self.min_frequency = min_frequency

    def _inputs(self, x: pd.DataFrame) -> pd.DataFrame:
        z = x[CATEGORICAL + NUMERIC].copy()
        for stage in self.stages:
            z[f"days_in_{stage}"] = x["log_days_in_stage"] * (x["stage"] == stage)
        return z

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> StageAnchoredLogit:
        self.stages = sorted(x["stage"].unique())
        inputs = self._inputs(x)
        numeric = [c for c in inputs if c not in CATEGORICAL]
        self.design = ColumnTransformer(
            [
                (
                    "cat",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        min_frequency=self.min_frequency,
                        sparse_output=False,
                    ),
                    CATEGORICAL,
                ),
                ("num", StandardScaler(), numeric),
            ]
        )
        z = self.design.fit_transform(inputs)
        offset = self.stage_rate.log_odds(x["stage"])
        y = np.asarray(y, float)
        n, penalty = len(y), self.penalty

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            eta = theta[0] + offset + z @ theta[1:]
            nll = -np.sum(y * log_expit(eta) + (1 - y) * log_expit(-eta))
            residual = expit(eta) - y
            grad = np.r_[residual.sum(), z.T @ residual + penalty * theta[1:]]
            return (nll + 0.5 * penalty * theta[1:] @ theta[1:]) / n, grad / n

        fitted = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B")
        self.intercept, self.coef = float(fitted.x[0]), fitted.x[1:]
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        z = self.design.transform(self._inputs(x))
        return expit(self.intercept + self.stage_rate.log_odds(x["stage"]) + z @ self.coef)

    def coefficients(self) -> dict[str, float]:
        names = self.design.get_feature_names_out()
        return {"intercept": self.intercept, **dict(zip(names, self.coef, strict=True))}


def _stage_rate(snaps: pd.DataFrame, y: np.ndarray) -> StageRate:
    entry = snaps["at_entry"].to_numpy(dtype=bool)
    return StageRate.fit(snaps.loc[entry, "stage"], pd.Series(y[entry]))


def deal_sample(
    labelled: pd.DataFrame,
    outcomes: pd.DataFrame,
    among: np.ndarray,
    max_deals: int,
    seed: int = 0,
) -> np.ndarray:
    """True for the snapshots of at most ``max_deals`` of the deals in the rows ``among`` (a
    mask over ``labelled``), each deal with all its snapshots (:func:`sample_deals`)."""
    deals = labelled[["deal_id", "label"]].drop_duplicates("deal_id")
    created = deals["deal_id"].map(outcomes.set_index("deal_id")["created_at"]).to_numpy()
    candidates = deals["deal_id"].isin(labelled.loc[among, "deal_id"]).to_numpy()
    picked = sample_deals(created, deals["label"].to_numpy(), candidates, max_deals, seed)
    return among & labelled["deal_id"].isin(deals["deal_id"][picked]).to_numpy()


def sample_deals(
    created: np.ndarray, label: np.ndarray, among: np.ndarray, max_deals: int, seed: int = 0
) -> np.ndarray:
    """True for at most ``max_deals`` of the deals ``among`` (a mask; ``created`` and
    ``label`` per deal, in deal_id order): an outcome × creation-month sample above the
    cap, every one of them below it."""
    candidates = np.flatnonzero(among)
    if len(candidates) <= max_deals:
        return np.asarray(among, bool).copy()
    rows = outcome_month_sample(created[candidates], label[candidates], max_deals, seed=seed)
    picked = np.zeros(len(among), bool)
    picked[candidates[rows]] = True
    return picked


def _fit_model(anchor: StageRate, x: pd.DataFrame, y: np.ndarray) -> StageAnchoredLogit:
    """The regression anchored on ``anchor``'s stage rates, fitted on ``x``."""
    min_frequency = max(5, int(0.01 * len(x)))
    return StageAnchoredLogit(anchor, min_frequency=min_frequency).fit(x, y)


def _scores(deal_ids, p, day) -> pd.DataFrame:
    scores = pd.DataFrame(
        {
            "deal_id": pd.Series(deal_ids, dtype=object),
            "win_probability": np.clip(np.asarray(p, float), 0, 1),
            "data_through": pd.Series([day] * len(deal_ids), dtype=object),
        },
        columns=SCORE_COLUMNS,
    )
    return scores.dropna(subset=["win_probability"]).reset_index(drop=True)


def _features(rows: DealRows, snaps: pd.DataFrame) -> pd.DataFrame:
    return build_features(snaps, **rows.context(snaps))


def _sample_features(rows: DealRows, sample: np.ndarray, batch_rows: int) -> pd.DataFrame:
    """The features of the labelled snapshots where ``sample`` is true, in their order."""
    batches = rows.labelled_rows(np.flatnonzero(sample), batch_rows)
    return pd.concat([_features(rows, batch) for batch in batches], ignore_index=True)


# --------------------------------------------------------------------------------------------
# public entry points


def score_deals(
    deals: pd.DataFrame,
    stage_history: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    persons: pd.DataFrame | None = None,
    **options,
) -> DealScoreResult:
    """Score every deal open at ``data_through`` from frames, through the same warehouse
    pass as :func:`score_deal_rows` (an in-memory DuckDB).

    ``deals``: deal_id, contact_id, created_at, stage, amount, closed_at, is_won (optional
    is_closed). ``stage_history``: deal_id, stage, entered_at. ``contacts``,
    ``conversations``, ``persons``: see :func:`build_features`. ``options``: those of
    :func:`score_deal_rows`.
    """
    with duckdb.connect() as conn:
        relations = load_frames(conn, deals, stage_history, contacts, conversations, persons)
        return score_deal_rows(conn, relations, **options)


def score_deal_rows(
    conn: duckdb.DuckDBPyConnection,
    relations: dict[str, str],
    *,
    data_through: dt.date | None = None,
    min_won: int = MIN_WON,
    min_lost: int = MIN_LOST,
    label_maturity_days: int = LABEL_MATURITY_DAYS,
    snapshot_every_days: int = SNAPSHOT_EVERY_DAYS,
    holdout_fraction: float = HOLDOUT_FRACTION,
    max_train_deals: int = MAX_TRAIN_DEALS,
    batch_rows: int = SCORE_BATCH_ROWS,
) -> DealScoreResult:
    """Score every deal open at ``data_through`` in ``relations`` (deals, stage_history,
    contacts, conversations, persons: relations of ``conn`` with the staging tables'
    columns; :func:`.deal_rows.warehouse_relations`).

    ``data_through`` defaults to the last date in the data; rows after it are ignored.
    ``label_maturity_days`` is the floor of :func:`label_maturity`. ``max_train_deals``:
    most deals the regression fits on. ``batch_rows``: snapshots whose features are in
    memory at once, to evaluate and to score.
    """
    rows = DealRows.prepare(
        conn,
        relations,
        as_date(data_through) if data_through is not None else None,
        maturity=lambda dates, day: label_maturity(dates, day, label_maturity_days),
        snapshot_every_days=snapshot_every_days,
    )
    if rows is None:
        day = as_date(data_through) if data_through is not None else None
        return DealScoreResult(_scores([], [], day), shared.empty_model_runs(), "none", day)
    day, maturity = rows.data_through, rows.maturity_days
    labels = rows.labels()
    y_all = labels["label"].to_numpy(dtype=int)
    deal_row = labels["deal_row"].to_numpy()
    deals = rows.labelled_deals()
    deal_label = deals["label"].to_numpy(dtype=int)
    n_won, n_lost = int(deal_label.sum()), int((deal_label == 0).sum())
    created = deals["created_at"].to_numpy()
    hold_deal = holdout_deals(created, holdout_fraction)
    is_hold = hold_deal[deal_row]
    n_hold_deals = int(hold_deal.sum())
    y_train, y_hold = y_all[~is_hold], y_all[is_hold]
    train_rate = float(y_train.mean()) if len(y_train) else math.nan
    hold_rate = float(y_hold.mean()) if len(y_hold) else math.nan

    baseline = StageRate.from_entry_counts(rows.entry_counts(np.flatnonzero(~hold_deal)))
    common = [
        ("won_deals", n_won, min_won),
        ("lost_deals", n_lost, min_lost),
        ("label_maturity_days", maturity, label_maturity_days),
    ]
    cold = n_won < min_won or n_lost < min_lost or n_hold_deals == 0 or len(np.unique(y_train)) < 2
    model = None
    if not cold:
        # features only for the rows a fit or the holdout uses: bounded above the cap
        train_sample = sample_deals(created, deal_label, ~hold_deal, max_train_deals)[deal_row]
        x_train = _sample_features(rows, train_sample, batch_rows)
        model = _fit_model(baseline, x_train, y_all[train_sample])
        del x_train
    base_hold, p_hold = [], []
    for batch in rows.labelled_rows(np.flatnonzero(is_hold), batch_rows):
        base_hold.append(baseline.predict(batch["stage"]))
        if model is not None:
            p_hold.append(model.predict_proba(_features(rows, batch)))
    base_hold = np.concatenate([np.zeros(0), *base_hold])
    base_metrics = classification_metrics(y_hold, base_hold) if len(y_hold) else {}
    details: dict = {}
    if model is None:
        serving = shared.cold_start_serving(
            f"{n_won} won and {n_lost} lost labelled deals (a model needs {min_won} and "
            f"{min_lost}, and both outcomes before the holdout): stage win rates"
        )
        metrics = [("cold_start", 1.0, None), *common, ("base_rate", hold_rate, train_rate)]
        # the fallback itself on the holdout, beside a constant training win rate
        for name, value in base_metrics.items():
            const = classification_metrics(y_hold, np.full(len(y_hold), train_rate))[name]
            metrics.append((name, value, const))
    else:
        p_hold = np.concatenate(p_hold)
        model_metrics = classification_metrics(y_hold, p_hold)
        serving = shared.champion(
            "auc",
            model_metrics["auc"],
            base_metrics["auc"],
            also=[("brier", model_metrics["brier"], base_metrics["brier"], False)],
        )
        metrics = [("cold_start", 0.0, None), *common]
        metrics += [(name, model_metrics[name], base_metrics[name]) for name in model_metrics]
        metrics += [("base_rate", hold_rate, train_rate)]
        details = {"holdout_predictions": p_hold, "holdout_baseline": base_hold}

    every_deal = StageRate.from_entry_counts(rows.entry_counts(np.arange(len(deals))))
    if serving.served_by == SERVED_BY_MODEL:
        method = "stage_anchored_logistic"
        final_sample = sample_deals(
            created, deal_label, np.ones(len(deals), bool), max_train_deals
        )[deal_row]
        final = _fit_model(
            every_deal, _sample_features(rows, final_sample, batch_rows), y_all[final_sample]
        )

        def predict(batch: pd.DataFrame) -> np.ndarray:
            return final.predict_proba(_features(rows, batch))

        details["coefficients"] = final.coefficients()
    else:
        method = "stage_rate"
        fallback = every_deal
        if not rows.labelled:
            fallback.overall = rows.closed_win_rate()

        def predict(batch: pd.DataFrame) -> np.ndarray:
            return fallback.predict(batch["stage"])

        details["fallback_stage_rates"] = fallback.rates

    scored = [(batch["deal_id"], predict(batch)) for batch in rows.open_rows(batch_rows)]
    scores = _scores(
        np.concatenate([np.zeros(0, object), *(ids.to_numpy() for ids, _ in scored)]),
        np.concatenate([np.zeros(0), *(p for _, p in scored)]),
        day,
    )
    runs = shared.model_run_rows(
        MODEL_NAME,
        day,
        train_rows=int((~is_hold).sum()),
        holdout_rows=int(is_hold.sum()),
        metrics=metrics,
        serving=serving,
        kinds=METRIC_KINDS,
    )
    return DealScoreResult(
        deal_scores=scores,
        model_runs=runs,
        method=method,
        data_through=day,
        serving=serving,
        details={
            "labelled_snapshots": rows.labelled,
            "labelled_deals": len(deals),
            "holdout_deals": n_hold_deals,
            "open_deals": rows.open,
            "label_maturity_days": maturity,
            "stage_rates": baseline.rates,
            "holdout_win_rate": hold_rate,
            **details,
        },
    )
