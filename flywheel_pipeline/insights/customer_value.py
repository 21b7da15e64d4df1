"""Customer value: expected orders in the next 90 days, probability alive and 365-day CLV.

Method (SPEC §6, "Customer value"):

- **Customers** are persons (the surviving contact_id of the identity spine, as in
  ``delight.customers``) with at least one order by ``data_through``. Orders of one person on
  one calendar day count as one purchase (split shipments are not repeat visits); the time
  unit is the day. Per customer: ``x`` repeat purchase days, ``t_x`` days from the first to
  the last purchase day, ``T`` days from the first purchase day to ``data_through``.
- **Purchases: BG/NBD** (Fader, Hardie & Lee 2005), fitted by maximum likelihood with scipy
  (L-BFGS-B on log-parameters): while alive a customer buys at Poisson rate λ ~ Gamma(r, α)
  and after each purchase drops out with probability p ~ Beta(a, b). ``variant="mbgnbd"``
  (the default) is the modified BG/NBD (Batislam et al. 2007) in which a customer may also
  drop out right after the first purchase: plain BG/NBD deems every one-time buyer alive
  (P(alive) = 1), which is useless for finding lapsed one-time buyers and wrong for shops
  where many never return. From the fit: ``p_alive`` = P(alive at ``data_through``),
  ``predicted_orders_90d`` = E[purchases in the next 90 days].
- **Spend: Gamma-Gamma** (Fader & Hardie 2013) on the mean value of each customer's repeat
  purchase days (the first purchase is left out: first orders, e.g. a won B2B deal, are
  unlike the repeats the forecast is about). A customer's expected spend is the
  Gamma-Gamma posterior mean, ``w·m + (1 − w)·μ`` with ``w = p·x / (p·x + q − 1)``; the
  population mean ``μ`` is the repeaters' mean spend (its moment estimate) rather than the
  fitted ``p·γ / (q − 1)``, which explodes when the likelihood runs off to ``q → 1`` — as it
  does on a mix of consumer and business buyers (the demo's repeat spend is bimodal, around
  60 and 1 000 EUR). Customers without a repeat get ``μ``. ``predicted_clv_365d`` =
  E[purchases in 365 days] × E[spend per purchase]: undiscounted revenue, not margin.
- **Time split.** Calibration = orders up to ``data_through − 90 days``, holdout = the last
  90 days. The model fitted on the calibration period predicts each calibration customer's
  purchase days in the holdout: per-customer Pearson correlation and RMSE against the
  actual count, and ROC AUC for "bought again in the holdout", each beside the naive
  baseline — the customer's repeat rate so far × 90 (``x / T · 90``); plus the correlation
  of predicted and actual holdout revenue (baseline: naive orders × mean order value so
  far). ``model_runs`` counts the calibration customers as both ``train_rows`` and
  ``holdout_rows`` (the holdout is their next 90 days).
- **Champion / challenger.** The model serves only when its holdout correlation beats the
  naive baseline's; otherwise the baseline publishes, computed on everything:
  ``predicted_orders_90d`` = x / T · 90, ``predicted_clv_365d`` = x / T · 365 × the mean
  order value so far, and ``p_alive`` from the cold-start rule below (the naive rate has no
  notion of it). When the model serves it is refitted on everything for the predictions.
  Every ``model_runs`` row says which serves and why (``served_by``, ``serving_reason``).
- **Cold start.** Fewer than ``min_customers`` (200) calibration customers or fewer than
  ``min_repeaters`` (50) of them with a repeat purchase: no model (the purchase and dropout
  processes cannot be told apart without repeaters; the demo at scale 1 calibrates on some
  360 customers and 130 repeaters, the CDNOW reference sample has 2 357). The fallback
  rule: a customer's rate λ = (x + 90·λ̄) / (T + 90), the population repeat rate
  λ̄ = Σx / ΣT worth 90 days of prior; P(alive) = exp(−λ · (T − t_x)), the chance an
  active customer would have been silent that long; expected orders = P(alive) · λ · days;
  spend = the customer's mean order value shrunk towards the population mean (a prior
  worth 2 orders). ``model_runs`` says ``cold_start`` = 1 and ``served_by`` = rules, and
  scores the fallback on the holdout when there is one.

- **Bounded fits.** BG/NBD and Gamma-Gamma fit on at most ``max_fit``
  (:data:`MAX_FIT_CUSTOMERS`) customers: above that, a seeded sample stratified by repeat
  purchases (0, 1, 2, 3+) × tenure in 4-week steps (every customer below it). Four and three
  parameters are pinned down long before that: the holdout correlation is the same from
  5 000 customers on (``benchmarks/learning_curves.py``); every customer is still predicted
  and evaluated.

``data_through`` is the last order date, never the wall clock; orders after it are ignored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1
from sklearn.metrics import roc_auc_score

from flywheel_pipeline.insights._common import (
    DESCRIPTIVE,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    SERVED_BY_BASELINE,
    Serving,
    as_date,
    champion,
    cold_start_serving,
    empty_model_runs,
    max_date,
    metric_kinds,
    model_run_rows,
    stratified_sample,
    to_utc_naive,
)

MODEL_NAME = "customer_value"
#: ml.customer_value_runs metrics: the holdout's fit (_holdout_metrics) is quality; the
#: customer counts beside their stated minimum describe the data.
METRIC_KINDS = metric_kinds(
    {
        "correlation": HIGHER_IS_BETTER,
        "rmse": LOWER_IS_BETTER,
        "auc": HIGHER_IS_BETTER,
        "revenue_correlation": HIGHER_IS_BETTER,
        "customers": DESCRIPTIVE,
        "repeat_customers": DESCRIPTIVE,
    }
)
HOLDOUT_DAYS = 90
HORIZON_DAYS = 90
CLV_DAYS = 365
MIN_CUSTOMERS = 200
MIN_REPEATERS = 50
PRIOR_DAYS = 90.0
SPEND_PRIOR_ORDERS = 2.0
#: Most customers BG/NBD and Gamma-Gamma fit on (a stratified sample above it): on the demo
#: the holdout correlation stops improving well below it (benchmarks/README.md).
MAX_FIT_CUSTOMERS = 50_000
VALUE_COLUMNS = [
    "contact_id",
    "predicted_orders_90d",
    "predicted_clv_365d",
    "p_alive",
    "data_through",
]


@dataclass
class CustomerValueResult:
    customer_value: pd.DataFrame  # VALUE_COLUMNS
    model_runs: pd.DataFrame
    # what publishes: "mbgnbd_gamma_gamma" / "bgnbd_gamma_gamma" (the model), "naive_rate"
    # (the baseline), "rate_rule" (cold start) or "none"
    method: str
    data_through: dt.date | None
    serving: Serving | None = None
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# purchase histories


def person_orders(orders: pd.DataFrame, persons: pd.DataFrame | None = None) -> pd.DataFrame:
    """Orders keyed by person: person_id, day (datetime64 at midnight), revenue.

    ``persons`` maps contact_id → person_id; a contact it does not know is its own person
    (as in ``delight.customers``). Orders without a contact or a timestamp are dropped.
    """
    o = orders[["contact_id", "ordered_at", "revenue"]].copy()
    o["ordered_at"] = to_utc_naive(o["ordered_at"])
    o = o.dropna(subset=["contact_id", "ordered_at"])
    person = o["contact_id"]
    if persons is not None and len(persons):
        mapping = persons.drop_duplicates("contact_id").set_index("contact_id")["person_id"]
        person = person.map(mapping).fillna(person)
    return pd.DataFrame(
        {
            "person_id": person.to_numpy(),
            "day": o["ordered_at"].dt.normalize().to_numpy(),
            "revenue": pd.to_numeric(o["revenue"], errors="coerce").to_numpy(),
        }
    )


def summarise(orders: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per person with a purchase by ``as_of`` (index person_id): x, t_x, T (days), orders,
    revenue, and spend = mean revenue of the repeat purchase days (NaN without one)."""
    cut = pd.Timestamp(as_of)
    o = orders[orders["day"] <= cut]
    # vectorised sums (a Python function per group would take minutes at 10⁶ customers)
    by_day = o.groupby(["person_id", "day"], sort=True)["revenue"]
    daily = pd.DataFrame(
        {"revenue": by_day.sum(min_count=1), "orders": by_day.size()}
    ).reset_index()
    g = daily.groupby("person_id")
    first, last = g["day"].min(), g["day"].max()
    repeat = daily[daily["day"] > daily["person_id"].map(first)]
    out = pd.DataFrame(
        {
            "x": g.size() - 1,
            "t_x": (last - first).dt.days,
            "T": (cut - first).dt.days,
            "orders": g["orders"].sum(),
            "revenue": g["revenue"].sum(min_count=1),
            "spend": repeat.groupby("person_id")["revenue"].mean(),
        }
    )
    out.index.name = "person_id"
    return out.astype({"x": "int64", "t_x": "float64", "T": "float64"})


# --------------------------------------------------------------------------------------------
# BG/NBD and MBG/NBD


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float
    variant: str = "mbgnbd"

    def _log_odds_dead(self, x, t_x, T) -> np.ndarray:
        """log of P(dead)/P(alive) given the history (the second likelihood term over the
        first)."""
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        shift = 0.0 if self.variant == "mbgnbd" else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (
                np.log(self.a)
                - np.log(self.b + x - shift)
                + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
            )
        if self.variant == "bgnbd":
            value = np.where(x > 0, value, -np.inf)  # BG/NBD: no dropout before a repeat
        return value

    def p_alive(self, x, t_x, T) -> np.ndarray:
        return expit(-self._log_odds_dead(x, t_x, T))

    def expected_purchases(self, t: float, x, t_x, T) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T]."""
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        shift = 0.0 if self.variant == "mbgnbd" else 1.0
        z = t / (alpha + T + t)
        decay = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        hyp = hyp2f1(r + x, b + x + 1 - shift, a + b + x - shift, z)
        value = (a + b + x - shift) / (a - 1) * (1 - decay * hyp) * self.p_alive(x, t_x, T)
        # hyp2f1 can lose precision at extreme parameters; fall back to the alive-weighted
        # posterior rate there (first-order in t, an upper bound without dropout).
        rough = (r + x) / (alpha + T) * t * self.p_alive(x, t_x, T)
        bad = ~np.isfinite(value) | (value < 0)
        return np.where(bad, rough, value)

    @staticmethod
    def log_likelihood(params, x, t_x, T, variant: str) -> np.ndarray:
        r, alpha, a, b = params
        shift = 0.0 if variant == "mbgnbd" else 1.0
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        first = betaln(a, b + x + 1 - shift) - betaln(a, b) - (r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            second = (
                betaln(a, b + x + 1 - shift)
                - betaln(a, b)
                + np.log(a)
                - np.log(b + x - shift)
                - (r + x) * np.log(alpha + t_x)
            )
        if variant == "bgnbd":
            second = np.where(x > 0, second, -np.inf)
        return a1 + np.logaddexp(first, second)

    @classmethod
    def fit(cls, x, t_x, T, variant: str = "mbgnbd") -> BGNBD:
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))

        def loss(theta):
            ll = cls.log_likelihood(np.exp(theta), x, t_x, T, variant)
            total = -np.sum(ll) / len(x)
            return total if np.isfinite(total) else 1e10

        start = np.log([1.0, max(float(np.mean(T)), 1.0), 1.0, 1.0])
        best = minimize(loss, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 4)
        if not best.success:  # a derivative-free polish where the gradient steps stalled
            polished = minimize(loss, best.x, method="Nelder-Mead", options={"maxiter": 4000})
            best = polished if polished.fun < best.fun else best
        r, alpha, a, b = np.exp(best.x)
        return cls(float(r), float(alpha), float(a), float(b), variant)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma spend


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    mean: float  # population mean spend (moment estimate, see the module docstring)

    @staticmethod
    def log_likelihood(params, x, m) -> np.ndarray:
        p, q, gamma = params
        return (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(gamma)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(gamma + m * x)
        )

    @classmethod
    def fit(cls, x, m) -> GammaGamma:
        """``x`` repeat purchases (≥ 1) and ``m`` their mean value (> 0) per customer. q is
        kept above 1 (a finite mean spend) by fitting log(q − 1)."""
        x, m = np.asarray(x, float), np.asarray(m, float)
        scale = float(np.mean(m))

        def unpack(theta):
            return np.exp(theta[0]), 1 + np.exp(theta[1]), np.exp(theta[2]) * scale

        def loss(theta):
            total = -np.sum(cls.log_likelihood(unpack(theta), x, m)) / len(x)
            return total if np.isfinite(total) else 1e10

        best = minimize(loss, np.zeros(3), method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 3)
        p, q, gamma = unpack(best.x)
        return cls(float(p), float(q), float(gamma), float(np.mean(m)))

    def expected_spend(self, x, m) -> np.ndarray:
        """E[spend per purchase | x, m]; the population mean where x = 0 or m is unknown."""
        x = np.asarray(x, float)
        m = np.asarray(m, float)
        known = (x > 0) & np.isfinite(m) & (m > 0)
        weight = np.where(known, self.p * x / (self.p * x + self.q - 1), 0.0)
        return weight * np.where(known, m, 0.0) + (1 - weight) * self.mean


# --------------------------------------------------------------------------------------------
# the cold-start rule and the naive baseline


@dataclass(frozen=True)
class RateRule:
    """Cold-start fallback (see the module docstring)."""

    population_rate: float
    population_spend: float

    @classmethod
    def fit(cls, summary: pd.DataFrame) -> RateRule:
        exposure = float(summary["T"].sum())
        rate = float(summary["x"].sum()) / exposure if exposure > 0 else 0.0
        revenue, orders = summary["revenue"], summary["orders"]
        spend = float(revenue.sum() / orders[revenue.notna()].sum()) if revenue.notna().any() else 0
        return cls(rate, spend)

    def rate(self, summary: pd.DataFrame) -> np.ndarray:
        prior = self.population_rate * PRIOR_DAYS
        return ((summary["x"] + prior) / (summary["T"] + PRIOR_DAYS)).to_numpy(float)

    def p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return np.exp(-self.rate(summary) * (summary["T"] - summary["t_x"]).to_numpy(float))

    def expected_purchases(self, days: float, summary: pd.DataFrame) -> np.ndarray:
        return self.p_alive(summary) * self.rate(summary) * days

    def spend(self, summary: pd.DataFrame) -> np.ndarray:
        revenue = summary["revenue"].fillna(0).to_numpy(float)
        orders = summary["orders"].to_numpy(float)
        k = SPEND_PRIOR_ORDERS
        return (revenue + k * self.population_spend) / (orders + k)


def naive_orders(summary: pd.DataFrame, days: float) -> np.ndarray:
    """Baseline: the repeat rate so far (x / T) times the horizon; 0 when T = 0."""
    T = summary["T"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(T > 0, summary["x"].to_numpy(float) / T * days, 0.0)


def _mean_order_value(summary: pd.DataFrame) -> np.ndarray:
    return (summary["revenue"].fillna(0) / summary["orders"]).to_numpy(float)


def _naive_values(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the naive baseline publishes: expected orders at the repeat rate so far, CLV at
    that rate times the mean order value so far, and P(alive) from the rate rule (the
    baseline has none of its own; the rule's is the documented, model-free one)."""
    orders_90 = naive_orders(summary, HORIZON_DAYS)
    clv = naive_orders(summary, CLV_DAYS) * _mean_order_value(summary)
    return orders_90, clv, RateRule.fit(summary).p_alive(summary)


# --------------------------------------------------------------------------------------------
# evaluation


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _rmse(pred: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - actual) ** 2))) if len(actual) else math.nan


def _auc(bought: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(bought, score)) if len(np.unique(bought)) == 2 else math.nan


def holdout_actuals(orders: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per person: purchase days and revenue in (start, end]."""
    window = orders[(orders["day"] > pd.Timestamp(start)) & (orders["day"] <= pd.Timestamp(end))]
    daily = window.groupby(["person_id", "day"])["revenue"].sum(min_count=1).reset_index()
    return daily.groupby("person_id").agg(purchases=("day", "size"), revenue=("revenue", "sum"))


# --------------------------------------------------------------------------------------------
# public entry point


@dataclass(frozen=True)
class Summaries:
    """The purchase histories value_customers models, per person: as of data_through and
    as of the calibration end (:func:`summarise`), and the holdout's purchases
    (:func:`holdout_actuals`) — from frames, or summed in the warehouse
    (:mod:`.customer_summaries`)."""

    data_through: dt.date
    calibration_end: dt.date  # holdout_days before data_through
    summary: pd.DataFrame
    calibration: pd.DataFrame
    holdout: pd.DataFrame


def frame_summaries(
    orders: pd.DataFrame,
    persons: pd.DataFrame | None = None,
    data_through: dt.date | None = None,
    holdout_days: int = HOLDOUT_DAYS,
) -> Summaries | None:
    """:class:`Summaries` of the ``orders`` frame (see :func:`value_customers`)."""
    day = as_date(data_through) if data_through is not None else max_date(orders["ordered_at"])
    if day is None or orders.empty:
        return None
    history = person_orders(orders, persons)
    history = history[history["day"] <= pd.Timestamp(day)]
    cal_end = day - dt.timedelta(days=holdout_days)
    return Summaries(
        day,
        cal_end,
        summarise(history, day),
        summarise(history, cal_end),
        holdout_actuals(history, cal_end, day),
    )


def value_customers(
    orders: pd.DataFrame,
    persons: pd.DataFrame | None = None,
    *,
    data_through: dt.date | None = None,
    holdout_days: int = HOLDOUT_DAYS,
    **options,
) -> CustomerValueResult:
    """Predict orders, P(alive) and CLV for every customer as of ``data_through``.

    ``orders``: contact_id, ordered_at, revenue. ``persons``: contact_id → person_id (the
    identity spine); output rows are keyed by person_id under the name ``contact_id``.
    ``options``: those of :func:`value_summaries`.
    """
    return value_summaries(frame_summaries(orders, persons, data_through, holdout_days), **options)


def value_summaries(
    summaries: Summaries | None,
    *,
    variant: str = "mbgnbd",
    min_customers: int = MIN_CUSTOMERS,
    min_repeaters: int = MIN_REPEATERS,
    max_fit: int = MAX_FIT_CUSTOMERS,
) -> CustomerValueResult:
    """:func:`value_customers` from the customers' summaries (None: no order yet), the
    holdout being the days after their calibration end.
    ``max_fit``: most customers the models fit on (a stratified sample above it)."""
    if variant not in ("mbgnbd", "bgnbd"):
        raise ValueError(f"variant must be 'mbgnbd' or 'bgnbd', not {variant!r}")
    if summaries is None:
        empty = pd.DataFrame(columns=VALUE_COLUMNS).astype(
            dict.fromkeys(VALUE_COLUMNS[1:4], "float64")
        )
        return CustomerValueResult(empty, empty_model_runs(), "none", None)
    day, cal_end = summaries.data_through, summaries.calibration_end
    summary, cal = summaries.summary, summaries.calibration
    holdout_days = (day - cal_end).days
    n_cal, n_rep = len(cal), int((cal["x"] > 0).sum())
    actual = summaries.holdout.reindex(cal.index, fill_value=0)
    bought = (actual["purchases"] > 0).to_numpy(int)
    naive = naive_orders(cal, holdout_days)
    naive_revenue = naive * _mean_order_value(cal)

    cold = n_cal < min_customers or n_rep < min_repeaters
    common = [("customers", n_cal, min_customers), ("repeat_customers", n_rep, min_repeaters)]
    details: dict = {}
    if cold:
        serving = cold_start_serving(
            f"{n_cal} calibration customers and {n_rep} repeaters (a model needs "
            f"{min_customers} and {min_repeaters}): the repeat-rate rule"
        )
        metrics = [("cold_start", 1.0, None), *common]
        if n_cal:  # the fallback itself on the holdout, beside the naive rate
            cal_rule = RateRule.fit(cal)
            pred = cal_rule.expected_purchases(holdout_days, cal)
            pred_revenue = pred * cal_rule.spend(cal)
            metrics += _holdout_metrics(pred, pred_revenue, naive, naive_revenue, actual, bought)
    else:
        cal_model = _fit_purchases(cal, variant, max_fit)
        cal_spend = _spend_model(cal, max_fit)
        pred = cal_model.expected_purchases(holdout_days, cal["x"], cal["t_x"], cal["T"])
        pred_revenue = pred * _expected_spend(cal_spend, cal)
        holdout = _holdout_metrics(pred, pred_revenue, naive, naive_revenue, actual, bought)
        by_name = {name: (value, base) for name, value, base in holdout}
        serving = champion("correlation", *by_name["correlation"])
        metrics = [("cold_start", 0.0, None), *common, *holdout]
        details = {"calibration_params": cal_model, "holdout_predictions": pred}

    if cold:
        method = "rate_rule"
        rule = RateRule.fit(summary)
        p_alive = rule.p_alive(summary)
        orders_90 = rule.expected_purchases(HORIZON_DAYS, summary)
        clv = rule.expected_purchases(CLV_DAYS, summary) * rule.spend(summary)
        details["population_rate"] = rule.population_rate
    elif serving.served_by == SERVED_BY_BASELINE:
        method = "naive_rate"
        orders_90, clv, p_alive = _naive_values(summary)
    else:
        method = f"{variant}_gamma_gamma"
        model = _fit_purchases(summary, variant, max_fit)
        spend_model = _spend_model(summary, max_fit)
        args = (summary["x"], summary["t_x"], summary["T"])
        p_alive = model.p_alive(*args)
        orders_90 = model.expected_purchases(HORIZON_DAYS, *args)
        clv = model.expected_purchases(CLV_DAYS, *args) * _expected_spend(spend_model, summary)
        details.update(
            bgnbd={"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b},
            gamma_gamma=(
                {
                    "p": spend_model.p,
                    "q": spend_model.q,
                    "gamma": spend_model.gamma,
                    "mean": spend_model.mean,
                }
                if isinstance(spend_model, GammaGamma)
                else {"mean_spend": spend_model}
            ),
        )

    values = pd.DataFrame(
        {
            "contact_id": summary.index.to_numpy(),
            "predicted_orders_90d": np.asarray(orders_90, float),
            "predicted_clv_365d": np.asarray(clv, float),
            "p_alive": np.clip(np.asarray(p_alive, float), 0, 1),
            "data_through": day,
        },
        columns=VALUE_COLUMNS,
    )
    runs = model_run_rows(
        MODEL_NAME,
        day,
        train_rows=n_cal,
        holdout_rows=n_cal if n_cal else 0,
        metrics=metrics,
        serving=serving,
        kinds=METRIC_KINDS,
    )
    details.update(
        customers=len(summary),
        calibration_end=cal_end,
        holdout_purchases=int(actual["purchases"].sum()),
        predicted_holdout_purchases=float(np.sum(pred)) if n_cal else math.nan,
    )
    return CustomerValueResult(values, runs, method, day, serving, details)


def fit_sample(summary: pd.DataFrame, max_fit: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_fit`` customers of ``summary``: every one below the cap, above it a
    seeded sample stratified by repeat purchases (0, 1, 2, 3+) × tenure in 4-week steps."""
    strata = (
        summary["x"]
        .clip(upper=3)
        .astype(str)
        .str.cat((summary["T"] // 28).astype(int).astype(str), sep="|")
    )
    return summary.iloc[stratified_sample(strata.to_numpy(), max_fit, seed=seed)]


def _fit_purchases(summary: pd.DataFrame, variant: str, max_fit: int) -> BGNBD:
    fit = fit_sample(summary, max_fit)
    return BGNBD.fit(fit["x"], fit["t_x"], fit["T"], variant)


def _spend_model(summary: pd.DataFrame, max_fit: int = MAX_FIT_CUSTOMERS) -> GammaGamma | float:
    """Gamma-Gamma on (at most ``max_fit`` of) the customers with a positive repeat spend,
    or their plain mean when too few of them (or none) to fit. The population mean spend is
    every such customer's."""
    ok = (summary["x"] > 0) & (summary["spend"] > 0)
    if ok.sum() < 10:
        spend = summary["revenue"].sum() / max(int(summary["orders"].sum()), 1)
        return float(spend)
    repeaters = summary[ok]
    fit = fit_sample(repeaters, max_fit)
    model = GammaGamma.fit(fit["x"], fit["spend"])
    return dataclasses.replace(model, mean=float(np.mean(repeaters["spend"].to_numpy(float))))


def _expected_spend(spend_model: GammaGamma | float, summary: pd.DataFrame) -> np.ndarray:
    if isinstance(spend_model, GammaGamma):
        return spend_model.expected_spend(summary["x"], summary["spend"])
    return np.full(len(summary), spend_model)


def _holdout_metrics(pred, pred_revenue, naive, naive_revenue, actual, bought) -> list:
    purchases = actual["purchases"].to_numpy(float)
    revenue = actual["revenue"].to_numpy(float)
    return [
        ("correlation", _corr(pred, purchases), _corr(naive, purchases)),
        ("rmse", _rmse(pred, purchases), _rmse(naive, purchases)),
        ("auc", _auc(bought, pred), _auc(bought, naive)),
        ("revenue_correlation", _corr(pred_revenue, revenue), _corr(naive_revenue, revenue)),
    ]
