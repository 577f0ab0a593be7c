"""The Cox model's exact Efron partial likelihood from counts (frequency-weighted rows).

On collapsed rows (`helpers.engine.scale.Source.collapse`: one row per distinct covariates x tenure x
churned, with the number of customers behind it) the Cox model must treat a row of weight ``w``
that churned at ``t`` as ``w`` customers tied at ``t``. lifelines' weighted Efron correction
counts tied *rows* instead, so with heavy ties (whole-month tenure) its estimates drift from the
row-level fit (0.004 in hazard ratio at a million customers). Here each customer is one death
in Efron's correction (Efron 1977; Therneau & Grambsch 2000, 3.3): at an event time with ``d``
tied deaths (customers), risk-set sum ``S`` and deaths' sum ``A`` of ``w exp(x'b)``, the
log partial likelihood gains ``sum_deaths w x'b - sum_{l<d} log(S - (l/d) A)``; strata add up.
Risk-set sums are reverse cumulative sums over the distinct times, so one Newton step costs
O(rows x terms^2) whatever the number of customers. Statistics only: numpy, pandas, scipy.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from helpers.data import schema as S

_DIRECT = 1000  # tied deaths at one time up to which Efron's sums run term by term; beyond, closed forms


class ConvergenceError(RuntimeError):
    """Newton-Raphson did not reach the maximum of the partial likelihood."""


@dataclass
class EfronCox:
    """A fitted Cox model; ``summary`` has lifelines' column names, so `survival.hazard_ratios` reads it."""

    summary: pd.DataFrame
    variance_matrix_: pd.DataFrame
    log_likelihood_: float
    iterations: int
    converged: bool
    customers: int
    events: int
    message: str = ""
    alpha: float = 0.05
    rows_dropped_: int = 0

    @property
    def params_(self) -> pd.Series:
        return self.summary["coef"]

    @property
    def standard_errors_(self) -> pd.Series:
        return self.summary["se(coef)"]

    @property
    def hazard_ratios_(self) -> pd.Series:
        return self.summary["exp(coef)"]

    @property
    def confidence_intervals_(self) -> pd.DataFrame:
        level = f"{100 * (1 - self.alpha):g}%"
        return self.summary[[f"coef lower {level}", f"coef upper {level}"]]


@dataclass
class _Stratum:
    x: np.ndarray  # rows sorted by time, covariates centred
    w: np.ndarray  # customers per row
    e: np.ndarray  # 1.0 for churned rows
    k: np.ndarray  # index of each row's distinct time
    first: np.ndarray  # first row of each distinct time
    d: np.ndarray  # deaths (customers) per distinct time
    xd: np.ndarray  # sum over deaths of w x


def _efron_sums(s0: np.ndarray, a0: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Per event time, over l < d with phi_l = s0 - (l/d) a0 and c = l/d: the sums of
    log phi, 1/phi, c/phi, 1/phi^2, c/phi^2, c^2/phi^2 (rows of the result).

    Up to `_DIRECT` deaths term by term; beyond, exactly in closed form (phi_l = a (b - l),
    a = a0/d, b = s0/a): sum 1/(b - l) = digamma(b+1) - digamma(b-d+1), sum 1/(b - l)^2 by
    trigamma, sum log by gammaln, and l = b - (b - l) for the sums weighted by c.
    """
    out = np.empty((6, len(d)))
    small = d <= _DIRECT
    if small.any():
        n = d[small].astype(np.int64)
        at = np.repeat(np.arange(len(n)), n)
        c = (np.arange(at.size) - np.repeat(np.cumsum(n) - n, n)) / n[at]
        inv = 1 / (s0[small][at] - c * a0[small][at])
        out[:, small] = [np.bincount(at, v, minlength=len(n)) for v in
                         (-np.log(inv), inv, c * inv, inv ** 2, c * inv ** 2, (c * inv) ** 2)]
    if (~small).any():
        n, a = d[~small], a0[~small] / d[~small]
        b = s0[~small] / a
        lo, hi = b - n + 1, b + 1
        h1, h2 = special.digamma(hi) - special.digamma(lo), special.polygamma(1, lo) - special.polygamma(1, hi)
        out[:, ~small] = [n * np.log(a) + special.gammaln(hi) - special.gammaln(lo), h1 / a, (b * h1 - n) / (n * a),
                          h2 / a ** 2, (b * h2 - h1) / (n * a ** 2), (b * b * h2 - 2 * b * h1 + n) / (n * a) ** 2]
    return out


def _stratum_terms(st: _Stratum, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """One stratum's log partial likelihood, score and information at ``beta``."""
    eta = st.x @ beta
    top = eta.max()  # exp(eta - top) cannot overflow; the sums' common factor cancels
    wr = st.w * np.exp(eta - top)
    s0, s1 = (np.cumsum(np.add.reduceat(v, st.first)[::-1], axis=0)[::-1] for v in (wr, wr[:, None] * st.x))
    a0, a1 = np.add.reduceat(wr * st.e, st.first), np.add.reduceat((wr * st.e)[:, None] * st.x, st.first)
    dead = st.d > 0
    s1, a1 = s1[dead], a1[dead]
    logs, g, h, q0, q1, q2 = _efron_sums(s0[dead], a0[dead], st.d[dead])
    ll = float(st.xd @ beta - logs.sum() - st.d.sum() * top)
    score = st.xd - s1.T @ g + a1.T @ h
    by_time = np.zeros((2, len(st.d)))
    by_time[:, dead] = g, h  # a row is in the risk set of every time up to its own
    row = wr * (np.cumsum(by_time[0])[st.k] - st.e * by_time[1][st.k])
    info = (st.x * row[:, None]).T @ st.x - (s1.T * q0) @ s1 + (s1.T * q1) @ a1 + (a1.T * q1) @ s1 - (a1.T * q2) @ a1
    return ll, score, info


def _strata(df: pd.DataFrame, covariates: list[str], duration: str, event: str, strata: list[str],
            weights: str | None) -> tuple[list[_Stratum], float, float]:
    """The sorted per-stratum arrays; customers and deaths in all."""
    for c in covariates:
        if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])):
            raise ValueError(f"covariate {c!r} is {df[c].dtype}, not numeric: encode it first (one 0/1 column per "
                             "level but the reference)")
    used = [*covariates, duration, event, *strata, *([weights] if weights else [])]
    if df[used].isna().any().any():
        raise ValueError(f"missing values in {', '.join(c for c in used if df[c].isna().any())}: drop incomplete rows")
    w = np.ones(len(df)) if weights is None else df[weights].to_numpy(dtype=float)
    if np.any(w < 0) or np.any(w != np.round(w)):
        raise ValueError(f"weights {weights!r} must be whole numbers of customers (frequency weights)")
    x = df[covariates].to_numpy(dtype=float)
    x = x - (w @ x) / max(w.sum(), 1)  # centred: the same estimates, better-conditioned sums
    t, e = df[duration].to_numpy(dtype=float), df[event].to_numpy(dtype=float)
    group = df.groupby(strata, sort=False, observed=True).ngroup().to_numpy() if strata else np.zeros(len(df), int)
    out = []
    for g in np.unique(group):
        at = np.flatnonzero((group == g) & (w > 0))
        at = at[np.argsort(t[at], kind="stable")]
        times, first, k = np.unique(t[at], return_index=True, return_inverse=True)
        d = np.bincount(k, w[at] * e[at], minlength=len(times))
        if d.sum() > 0:  # a stratum without events adds nothing to the likelihood
            out.append(_Stratum(x[at], w[at], e[at], k, first, d, (w[at] * e[at]) @ x[at]))
    return out, float(w.sum()), float(w @ e)


def fit_efron(df: pd.DataFrame, *, covariates: Sequence[str], duration: str = S.TENURE, event: str = S.CHURNED,
              strata: str | Sequence[str] | None = None, weights: str | None = None, alpha: float = 0.05,
              tol: float = 1e-9, max_iter: int = 50, strict: bool = True,
              init: Sequence[float] | None = None) -> EfronCox:
    """Cox proportional-hazards model by Newton-Raphson on the exact Efron partial likelihood.

    Each customer counts once in the tie correction: a row of weight ``w`` that churned enters
    as ``w`` tied deaths with its risk score, so collapsed counts give exactly the estimates of
    the expanded rows (tested to 1e-8), which equal lifelines' and statsmodels' Efron fits on
    one row per customer (1e-6, their convergence tolerance). Newton steps are halved until the
    log partial likelihood does not fall; standard errors come from the inverse information.

    Parameters
    ----------
    df : DataFrame
        One row per customer, or collapsed rows with ``weights``; no missing values.
    covariates : sequence of str
        Numeric columns (categorical ones already one-hot encoded, e.g. `design.encode`).
    duration, event : str
        Tenure and churn (0/1 or bool) columns.
    strata : str or sequence of str, optional
        Columns whose levels get their own baseline; their log likelihoods add up. A stratum
        without events contributes nothing (as if its rows were absent).
    weights : str, optional
        Whole numbers of customers behind each row (frequency weights).
    alpha : float
        1 - confidence of the intervals (lifelines' convention and column names).
    tol : float
        Convergence when the largest Newton step is below it.
    max_iter : int
        Newton steps allowed.
    strict : bool
        Raise `ConvergenceError` when the fit does not converge (e.g. perfect separation: a term
        whose coefficient runs off to infinity); False returns the result with
        ``converged=False`` and the reason in ``message``.
    init : sequence of float, optional
        Coefficients to start Newton's method from (zeros when None), one per covariate: a
        bootstrap resample started from the full sample's fit takes fewer steps to the same optimum.

    Returns
    -------
    EfronCox
        ``summary`` (coef, exp(coef), se(coef), coef lower/upper, exp(coef) lower/upper, z, p;
        as lifelines), ``params_``, ``standard_errors_``, ``confidence_intervals_``,
        ``variance_matrix_``, ``log_likelihood_``, ``iterations``, ``converged``,
        ``customers`` and ``events`` (sums of the weights).

    Example
    -------
    >>> counts = pd.DataFrame({"tenure_months": [1, 1, 2, 2, 3, 3, 4, 5], "churned": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                        "x": [0, 1, 1, 0, 1, 0, 0, 1], "customers": [3, 1, 2, 4, 1, 2, 5, 1]})
    >>> fit = fit_efron(counts, covariates=["x"], weights="customers")
    >>> fit.converged, round(float(fit.params_["x"]), 4), fit.customers
    (True, 0.9352, 19)
    >>> rows = counts.loc[counts.index.repeat(counts["customers"])]   # one row per customer: the same fit
    >>> round(float(fit_efron(rows, covariates=["x"]).params_["x"]), 4)
    0.9352
    """
    covariates, strata = list(covariates), [strata] if isinstance(strata, str) else list(strata or [])
    parts, customers, events = _strata(df, covariates, duration, event, strata, weights)
    if not parts:
        raise ValueError("no churn events: the Cox model has nothing to fit")

    def terms(beta):
        each = [_stratum_terms(st, beta) for st in parts]
        return sum(t[0] for t in each), sum(t[1] for t in each), sum(t[2] for t in each)

    beta = np.zeros(len(covariates)) if init is None else np.array(init, dtype=float)
    if beta.shape != (len(covariates),) or not np.isfinite(beta).all():
        raise ValueError(f"init: give {len(covariates)} finite starting coefficients, one per covariate")
    ll, score, info = terms(beta)
    converged, message, it = False, "", 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is read after the loop)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            message = "the information matrix is singular (a term without variation among the customers at risk?)"
            break
        for _ in range(40):  # step halving: the log partial likelihood must not fall (NaN counts as falling)
            new = terms(beta + step)
            if new[0] >= ll - 1e-12 * (1 + abs(ll)):
                break
            step = step / 2
        if not np.isfinite(new[0]):
            message = "the log partial likelihood is not finite along the Newton step"
            break
        beta, (ll, score, info) = beta + step, new
        if np.max(np.abs(step), initial=0.0) < tol:
            converged = True
            break
    if not converged:
        runaway = [f"{c} ({b:+.1f})" for c, b in zip(covariates, beta) if abs(b) > 10]
        message = message or (f"no convergence after {max_iter} Newton steps" + (
            f"; coefficients running off: {', '.join(runaway)} -- a term that separates churners from the others "
            "(e.g. a level in which nobody churns): pool or drop it" if runaway else ""))
        if strict:
            raise ConvergenceError(f"Cox model: {message}")
    return _result(beta, info, ll, it, converged, customers, events, message, covariates, alpha)


def _variance(info: np.ndarray) -> np.ndarray:
    """The inverse information; where it is singular, the pseudo-inverse with an unbounded variance
    for each term that carries no information (a coefficient running off to infinity has none left:
    a pseudo-inverse alone would give it a variance of 0)."""
    try:
        var = np.linalg.inv(info)
        if np.isfinite(var).all():
            return var
    except np.linalg.LinAlgError:
        pass
    var = np.linalg.pinv(info)
    diag = np.abs(np.diag(info))
    lost = diag <= 1e-12 * max(diag.max(initial=0.0), np.finfo(float).tiny)
    var[np.diag_indices_from(var)] = np.where(lost, np.inf, np.diag(var))
    return var


def _result(beta, info, ll, iterations, converged, customers, events, message, covariates, alpha) -> EfronCox:
    var = _variance(info)
    se = np.sqrt(np.abs(np.diag(var)))
    z, q = beta / se, stats.norm.ppf(1 - alpha / 2)
    level = f"{100 * (1 - alpha):g}%"
    with np.errstate(over="ignore"):  # a runaway coefficient of an unconverged fit: inf, not a warning
        summary = pd.DataFrame({"coef": beta, "exp(coef)": np.exp(beta), "se(coef)": se,
                                f"coef lower {level}": beta - q * se, f"coef upper {level}": beta + q * se,
                                f"exp(coef) lower {level}": np.exp(beta - q * se),
                                f"exp(coef) upper {level}": np.exp(beta + q * se), "z": z,
                                "p": 2 * stats.norm.sf(np.abs(z))},
                               index=pd.Index(covariates, name="covariate"))
    return EfronCox(summary, pd.DataFrame(var, index=covariates, columns=covariates), ll, iterations, converged,
                    int(customers), int(events), message, alpha)
