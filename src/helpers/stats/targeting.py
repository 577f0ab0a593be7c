"""Who to target: per-customer effects of a campaign, whether they vary, and what targeting is worth.

Built on scikit-learn with the published estimator definitions. EconML 0.17 was weighed and left
out: its install took 96 s and 711 MB (numba, llvmlite, shap, lightgbm, sparse, and pandas 3, which
this project's lifelines pin refuses) against 58 s and 300 MB for scikit-learn, and its validation
(``DRTester.evaluate_blp``) fails for a binary treatment with a binary outcome (py-why/EconML#875).
One fit, then one call per question:

`fit_cate`
    The DR-learner (Kennedy 2023): doubly robust pseudo-outcomes from cross-fitted outcome models
    and a propensity (known in a randomized design, `effects.propensity` in a targeted one),
    regressed on the covariates; every customer's predicted effect is out-of-fold.
`calibration`, `heterogeneity_verdict`
    Do the predictions carry signal? The best linear predictor (BLP) test and the sorted group
    effects (GATES) of Chernozhukov, Demirer, Duflo & Fernandez-Val (2018, rev. 2023).
`qini_curve`, `uplift_areas`, `uplift_curves`
    Qini and uplift curves (Radcliffe 2007), AUUC, and the effect by decile of predicted effect
    with the targeting-operator characteristic (TOC; Yadlowsky et al. 2021), bootstrap bands.
`targeting_value`, `policy_tree`, `evaluate_rule`
    Profit per customer of treating the top k%, of a depth-2 tree rule fitted on training folds
    and of any rule given, against treating everyone and no one.
`tenure_by_effect`
    Restricted mean tenure by arm within groups of predicted effect (Kaplan-Meier).

Conventions: one row per customer; each non-control arm is compared with control on the rows of
those two arms. Bootstrap intervals resample customers with the predictions and rules held fixed
(they are out-of-fold already), percentile intervals. Profit per customer of the campaign's
population, relative to treating no one: ``margin_rate x effect - cost_per_action`` for each
customer treated, with the effect read from the DR pseudo-outcome.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines.exceptions import StatisticalWarning
from scipy.integrate import trapezoid
from scipy.stats import rankdata
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeRegressor
from statsmodels.regression.linear_model import OLS

from helpers.data import schema as S
from helpers.data.privacy import MIN_CELL, check_covariates
from helpers.stats import effects, survival
from helpers.stats.design import as_list, require_roles
from helpers.stats.intervals import normal_quantile
from helpers.stats.retention import CHURNED_WINDOW, MONTHS_TO_CHURN

DESIGNS = ("randomized", "targeted")
SHARES = tuple(np.round(np.linspace(0, 1, 11), 2))  # top-k shares of `targeting_value`
_CHUNK = 50  # bootstrap replicates held in memory at once


# ---- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CateFit:
    """Cross-fitted DR-learner effects of each arm against control.

    Attributes
    ----------
    scores : DataFrame
        One row per customer and arm compared: ``arm`` (the arm compared with control), ``row``
        (the customer's index label in the frame), ``treated`` (1 in that arm, 0 in control),
        ``fold``, ``propensity``, ``y``, ``mu0``, ``mu1`` (cross-fitted outcome models),
        ``pseudo`` (DR pseudo-outcome), ``predicted`` (out-of-fold predicted effect), ``rank``
        (the prediction's rank within its fold as a share, 0 to 1, 1 = highest; see `fold_rank`).
    features : DataFrame
        The covariates as model inputs (floats; one 0/1 column ``col[level]`` per level of a
        categorical one), indexed like the frame.
    outcome, arm, control, arms, covariates, design, binary, folds, seed :
        What was fitted: ``arms`` are the non-control arms; ``binary`` is True for a 0/1 outcome.
    dropped, trimmed : int
        Customers left out for a missing value, and for a propensity outside ``trim``.
    """

    scores: pd.DataFrame = field(repr=False)
    features: pd.DataFrame = field(repr=False)
    outcome: str
    arm: str
    control: object
    arms: tuple
    covariates: tuple
    design: str
    binary: bool
    folds: int
    seed: int
    dropped: int
    trimmed: int

    @property
    def summary(self) -> pd.DataFrame:
        """Per arm: customers, the average effect (mean pseudo-outcome) with a 95% interval, spread of predictions."""
        z, rows = normal_quantile(0.95), []
        for a, s in self.scores.groupby("arm", sort=False):
            se = s["pseudo"].std(ddof=1) / math.sqrt(len(s))
            rows.append({"arm": a, "n_treated": int(s["treated"].sum()), "n_control": int((1 - s["treated"]).sum()),
                         "ate": s["pseudo"].mean(), "se": se, "lower": s["pseudo"].mean() - z * se,
                         "upper": s["pseudo"].mean() + z * se, "predicted_sd": s["predicted"].std(ddof=1)})
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class Calibration:
    """BLP test and GATES of a `CateFit`; ``verdict`` says in words whether the effect varies.

    ``blp``: ``arm``, ``n``, ``ate`` (mean pseudo-outcome) with ``ate_se``, ``slope`` (on the centred
    prediction), ``se`` (median over folds), ``lower``, ``upper``, ``p`` (two-sided, slope = 0;
    fold-wise and combined by medians, see `calibration`), ``top_minus_bottom`` with
    ``tmb_lower``, ``tmb_upper``. ``gates``: ``arm``, ``group`` (1 = lowest predicted effect), ``n``,
    ``predicted`` (mean prediction), ``estimate`` (mean pseudo-outcome), ``se``, ``lower``, ``upper``.
    """

    blp: pd.DataFrame
    gates: pd.DataFrame
    outcome: str
    confidence: float

    @property
    def verdict(self) -> str:
        return heterogeneity_verdict(self)


@dataclass(frozen=True)
class UpliftCurves:
    """Qini and uplift curves of each arm, their areas, and the effect by decile of predicted effect.

    ``curves``: ``arm``, ``share`` targeted, ``qini``, ``uplift``, ``random`` (each per customer of
    the population) with ``_lower``/``_upper`` bands. ``areas``: ``arm``, ``ate``, ``auuc``,
    ``random_area``, ``qini_coefficient`` (area between the Qini curve and random targeting), with
    intervals. ``deciles``: ``arm``, ``decile`` (1 = highest predicted effect), ``n``, ``predicted``,
    ``effect`` (mean pseudo-outcome), ``toc`` (mean effect of the top deciles through this one minus
    the average effect), with intervals.
    """

    curves: pd.DataFrame
    areas: pd.DataFrame
    deciles: pd.DataFrame
    confidence: float


@dataclass(frozen=True)
class TargetingValue:
    """Profit per customer of treating the top share by predicted effect, and the best share.

    ``table``: ``arm``, ``share``, ``treated`` (customers), ``profit`` with ``lower``/``upper``,
    ``vs_all`` (profit minus that of treating everyone) with ``vs_all_lower``/``vs_all_upper``.
    ``best``: per arm the row of the best share. Treating no one is the share 0 (profit 0).
    """

    table: pd.DataFrame
    best: pd.DataFrame
    confidence: float

    @property
    def sentence(self) -> str:
        parts = []
        for b, every in zip(self.best.itertuples(), self.table.loc[self.table["share"] == 1.0].itertuples()):
            everyone = f"{_num(every.profit)} per customer ({_num(every.lower)} to {_num(every.upper)})"
            if b.share == 0:
                text = f"treating no one is best: every share treated loses money (treating everyone: {everyone})"
            elif b.share == 1:
                text = f"treating everyone is best: {everyone}"
            else:
                text = (f"treating the top {b.share:.0%} by predicted gain earns {_num(b.profit)} per customer "
                        f"({_num(b.lower)} to {_num(b.upper)}), against {everyone} for treating everyone and 0 "
                        f"for no one")
            parts.append(f"{b.arm}: {text}")
        return "; ".join(parts)


@dataclass(frozen=True)
class RuleValue:
    """Profit per customer of a targeting rule against treating everyone, per arm.

    ``table``: ``arm``, ``rule`` (text), ``share_treated``, ``profit`` with ``lower``/``upper``,
    ``treat_all`` with ``treat_all_lower``/``treat_all_upper``, ``vs_all`` (rule minus treat-all)
    with ``vs_all_lower``/``vs_all_upper``, and for a fitted tree ``agreement`` (share of customers
    whom the held-out fold rules and the rule shown treat alike). ``decisions``: ``arm``, ``row``
    (index label in the frame), ``treat`` (the decision valued: for a fitted tree, that of the
    rule fitted without the customer's fold). ``trees``: the depth-2 trees fitted on all
    customers, by arm (empty for a given rule).
    """

    table: pd.DataFrame
    decisions: pd.DataFrame = field(repr=False)
    confidence: float
    trees: dict = field(default_factory=dict, repr=False)

    @property
    def verdict(self) -> str:
        return "; ".join(_rule_sentence(r) for r in self.table.itertuples())


@dataclass(frozen=True)
class TenureByEffect:
    """Restricted mean tenure up to ``horizon`` by arm within groups of predicted effect.

    ``table``: ``arm``, ``group`` (1 = lowest predicted effect), ``predicted``, ``n_treated``,
    ``n_control``, ``rmst_treated``, ``rmst_control``, ``difference`` (treated minus control,
    months), ``se``, ``lower``, ``upper``.
    """

    table: pd.DataFrame
    horizon: float
    confidence: float


# ---- checks and inputs -----------------------------------------------------------------------
def _check_inputs(frame: pd.DataFrame, *, outcome: str, covariates: list[str], arm: str, control, design: str,
                  folds: int) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"fit_cate needs a DataFrame with one row per customer, got {type(frame).__name__}")
    if design not in DESIGNS:
        raise ValueError(f"design={design!r}: use 'randomized' (known propensity) or 'targeted' (estimated)")
    if not covariates:
        raise ValueError("covariates is empty: per-customer effects need pre-treatment columns to vary with")
    if not isinstance(folds, int | np.integer) or folds < 2:
        raise ValueError(f"folds={folds!r}: cross-fitting needs an integer number of folds >= 2 (default 5)")
    require_roles(frame, outcome=outcome, arm=arm, covariate=covariates)
    check_covariates(frame, covariates)
    if not frame.index.is_unique:
        raise ValueError("the frame's index has repeated labels: customers are matched by index; reset_index() first")
    y = frame[outcome]
    if not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        raise ValueError(f"outcome column {outcome!r} is not numeric (dtype {y.dtype}): code it as a number or 0/1")
    if control not in set(frame[arm].dropna()):
        raise ValueError(f"control value {control!r} is not in arm column {arm!r} (values: "
                         f"{', '.join(map(repr, pd.unique(frame[arm].dropna())))}): pass control= one of them")


def _features(rows: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric and 0/1 covariates as floats; others one 0/1 column ``col[level]`` per level (all levels)."""
    parts = []
    for col in covariates:
        if pd.api.types.is_numeric_dtype(rows[col]) or pd.api.types.is_bool_dtype(rows[col]):
            parts.append(rows[col].astype(float).to_frame(col))
        else:
            dummies = pd.get_dummies(rows[col].astype("category").cat.remove_unused_categories(), dtype=float)
            parts.append(dummies.set_axis([f"{col}[{level}]" for level in dummies.columns], axis=1))
    return pd.concat(parts, axis=1)


def _propensity(pair: pd.DataFrame, d: pd.Series, *, design: str, propensity, covariates: list[str], arm: str,
                treated, control, min_cell: int) -> tuple[pd.Series, bool]:
    """P(arm | covariates, arm or control) per row, and whether it varies (so that trimming applies)."""
    if isinstance(propensity, str):
        require_roles(pair, propensity=propensity)
        return pair[propensity].astype(float), True
    if propensity is not None:
        if not 0 < float(propensity) < 1:
            raise ValueError(f"propensity={propensity!r}: a known assignment probability is strictly between 0 and 1")
        return pd.Series(float(propensity), index=pair.index), False
    if design == "randomized":
        return pd.Series(float(d.mean()), index=pair.index), False
    ps = effects.propensity(pair, covariates=covariates, arm=arm, treated=treated, control=control, min_cell=min_cell)
    return ps, True


def _default_outcome_model(seed: int) -> RegressorMixin:
    """Boosted shallow trees on binned features: as accurate as exact-split boosting here, 4x (1,500 rows) to
    16x (8,000) faster, and the time grows about linearly with the rows."""
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_depth=3, min_samples_leaf=20,
                                         early_stopping=False, random_state=seed)


def _default_effect_model(seed: int) -> RegressorMixin:
    """The final stage on noisy pseudo-outcomes: few, large leaves and a slow learning rate keep it smooth."""
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_depth=2, min_samples_leaf=40,
                                         l2_regularization=1.0, early_stopping=False, random_state=seed)


# ---- the DR-learner --------------------------------------------------------------------------
def _cross_fit(X: np.ndarray, y: np.ndarray, d: np.ndarray, e: np.ndarray, fold: np.ndarray, *,
               outcome_model, effect_model, binary: bool) -> dict[str, np.ndarray]:
    """Cross-fitted mu0, mu1, pseudo-outcome, and out-of-fold predictions of the effect model."""
    mu = {0: np.empty(len(y)), 1: np.empty(len(y))}
    for k in np.unique(fold):
        test, train = fold == k, fold != k
        for arm_value in (0, 1):
            rows = train & (d == arm_value)
            mu[arm_value][test] = clone(outcome_model).fit(X[rows], y[rows]).predict(X[test])
    if binary:
        mu = {k: np.clip(v, 0.0, 1.0) for k, v in mu.items()}
    pseudo = mu[1] - mu[0] + d * (y - mu[1]) / e - (1 - d) * (y - mu[0]) / (1 - e)
    predicted = np.empty(len(y))
    for k in np.unique(fold):
        test, train = fold == k, fold != k
        predicted[test] = clone(effect_model).fit(X[train], pseudo[train]).predict(X[test])
    if binary:
        predicted = np.clip(predicted, -1.0, 1.0)
    return {"mu0": mu[0], "mu1": mu[1], "pseudo": pseudo, "predicted": predicted}


def fit_cate(frame: pd.DataFrame, *, outcome: str, covariates: Sequence[str], arm: str = S.ARM,
             control=S.CONTROL, design: str = "randomized", propensity: float | str | None = None, folds: int = 5,
             seed: int = 0, trim: tuple[float, float] | None = (0.05, 0.95), outcome_model=None, effect_model=None,
             min_cell: int = MIN_CELL) -> CateFit:
    """Per-customer effect of each arm against control by the cross-fitted DR-learner (Kennedy 2023).

    Customers get ``folds`` folds (stratified by arm, shuffled with ``seed``). For each arm
    ``a`` compared with control, on the rows of those two arms, with ``d`` = 1 in ``a``:

    1. outcome models ``mu1(x)`` (fitted to arm ``a``) and ``mu0(x)`` (to control) on the other
       folds predict each fold; ``e(x)`` is P(a | x, a or control);
    2. the doubly robust pseudo-outcome, whose conditional mean is the effect at ``x``::

           phi = mu1 - mu0 + d (y - mu1) / e - (1 - d) (y - mu0) / (1 - e)

    3. an effect model regresses ``phi`` on the covariates on the other folds and predicts each
       fold: ``predicted`` is out-of-fold for every customer, so `calibration`, `uplift_curves`
       and the targeting values validate it on customers it was not fitted to.

    ``phi`` of a customer comes from outcome models that never saw that customer. The effect
    model of a fold never saw its customers' covariates or pseudo-outcomes; their outcomes reach
    it only through the outcome models behind other customers' pseudo-outcomes, a second-order
    link that K-fold cross-fitting accepts (a fully nested scheme would fit the outcome models
    ``folds x (folds - 1)`` times).

    In a randomized design ``e`` is known: the arm's share of the two arms (or ``propensity``
    given as a number). In a targeted one it is `effects.propensity` (logit on the covariates),
    and customers with ``e`` outside ``trim`` are left out (the effect is then that of the
    customers kept). A 0/1 outcome (churn) is modelled with the same regressors (a probability
    model by least squares), clipped to [0, 1]; its effects are differences in probability.

    Parameters
    ----------
    frame : DataFrame
        One row per customer (e.g. `retention.campaign_frame`), with a unique index.
    outcome : str
        Numeric or 0/1 (bool) outcome column, e.g. ``revenue_window`` or ``churned_window``.
    covariates : list of str
        Pre-treatment columns the effect may vary with; categorical ones are one-hot (all levels).
    arm, control :
        Arm column and its control value; every other value is an arm compared with control.
    design : {"randomized", "targeted"}
        Known or estimated propensity.
    propensity : float or str, optional
        A known P(arm | arm or control) for every customer, or a column of them.
    folds, seed : int
        Cross-fitting folds, and the seed of the folds and of the default models.
    trim : (float, float) or None
        Range of estimated (or column) propensities kept.
    outcome_model, effect_model : scikit-learn regressor, optional
        Templates (cloned for every fit). Defaults: histogram gradient boosting (100 trees of
        depth 3, learning rate 0.05) for the outcomes; for the effect, 100 trees of depth 2 with
        leaves of 40 and an L2 penalty, which average away much of the pseudo-outcomes' noise.
    min_cell : int
        Passed to `effects.propensity` (small levels pooled).

    Returns
    -------
    CateFit

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.uniform(size=400), "arm": np.tile(["treatment", "control"], 200)})
    >>> df["y"] = rng.normal(size=400) + 2 * df["x"] * (df["arm"] == "treatment")
    >>> fit = fit_cate(df, outcome="y", covariates=["x"], folds=2)
    >>> fit.summary[["arm", "n_treated", "n_control"]].values.tolist()
    [['treatment', 200, 200]]
    """
    covariates = as_list(covariates)
    _check_inputs(frame, outcome=outcome, covariates=covariates, arm=arm, control=control, design=design, folds=folds)
    rows = frame.dropna(subset=[arm, outcome, *covariates, *([propensity] if isinstance(propensity, str) else [])])
    X, y = _features(rows, covariates), rows[outcome].astype(float)
    binary = bool(y.isin([0.0, 1.0]).all())
    arms = sorted((a for a in pd.unique(rows[arm]) if a != control), key=str)
    if not arms:
        raise ValueError(f"arm column {arm!r} holds only the control value {control!r}: nothing to compare")
    fold = _assign_folds(rows[arm].astype(str), folds, seed)
    models = {"outcome_model": outcome_model if outcome_model is not None else _default_outcome_model(seed),
              "effect_model": effect_model if effect_model is not None else _default_effect_model(seed)}
    parts, dropped, trimmed = [], len(frame) - len(rows), 0
    for a in arms:
        pair = rows[rows[arm].isin([a, control])]
        d = (pair[arm] == a).astype(float)
        e, varies = _propensity(pair, d, design=design, propensity=propensity, covariates=covariates, arm=arm,
                                treated=a, control=control, min_cell=min_cell)
        keep, out = _kept(e, trim if varies else None, a)
        dropped, trimmed = dropped + int(e.isna().sum()), trimmed + out
        index = pair.index[keep]
        fitted = _cross_fit(X.loc[index].to_numpy(), y[index].to_numpy(), d[keep].to_numpy(), e[keep].to_numpy(),
                            fold[index].to_numpy(), binary=binary, **models)
        parts.append(pd.DataFrame({"arm": a, "row": index, "treated": d[keep].to_numpy(),
                                   "fold": fold[index].to_numpy(), "propensity": e[keep].to_numpy(),
                                   "y": y[index].to_numpy(), **fitted,
                                   "rank": fold_rank(fitted["predicted"], fold[index].to_numpy())}))
    return CateFit(scores=pd.concat(parts, ignore_index=True), features=X, outcome=outcome, arm=arm, control=control,
                   arms=tuple(arms), covariates=tuple(covariates), design=design, binary=binary, folds=folds,
                   seed=seed, dropped=dropped, trimmed=trimmed)


def _assign_folds(arms: pd.Series, folds: int, seed: int) -> pd.Series:
    """Fold 0..folds-1 per customer, stratified by arm, after checking every arm fills the folds."""
    small = {a: int(n) for a, n in arms.value_counts().items() if n < 2 * folds}
    if small:
        raise ValueError(f"arms with fewer than {2 * folds} complete customers ({small}): cross-fitting with "
                         f"folds={folds} needs at least two per fold and arm; lower folds or pool arms")
    fold = pd.Series(0, index=arms.index)
    for k, (_, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(arms, arms)):
        fold.iloc[test] = k
    return fold


def _kept(e: pd.Series, trim: tuple[float, float] | None, arm_value) -> tuple[pd.Series, int]:
    """Rows with a propensity (inside ``trim`` when given), and how many were trimmed; refuses 0 and 1."""
    keep = e.notna()
    trimmed = pd.Series(False, index=e.index) if not trim else keep & ~e.between(*trim)
    keep &= ~trimmed
    if not e[keep].between(0, 1, inclusive="neither").all():
        raise ValueError(f"propensities of arm {arm_value!r} reach 0 or 1: their weights are infinite; trim them "
                         f"(trim=(0.05, 0.95)) or fix the scores")
    return keep, int(trimmed.sum())


# ---- is there heterogeneity? -----------------------------------------------------------------
def fold_rank(predicted, fold) -> np.ndarray:
    """Each prediction's rank among those of its fold, as a share in (0, 1): ``(rank - 1/2) / fold size``.

    Every evaluation here (GATES, uplift curves, top shares, tenure groups) ranks customers within
    their fold, as the BLP test works within folds. Each fold's predictions come from its own
    effect model, fitted to the other folds, so a fold's level is partly the mean of the other
    folds' pseudo-outcomes: it falls as the fold's own rises. Ranked over all folds at once, that
    artefact sorts whole folds against their own outcomes (when the effect does not vary, a
    regression on pooled predictions has a slope near ``-(folds - 1)``); within folds it is
    absent, and each fold's decisions depend on the other folds only. Ties are broken by position.

    Example
    -------
    >>> fold_rank([0.3, 0.1, 0.2, 5.0, 4.0], [0, 0, 0, 1, 1]).round(3).tolist()
    [0.833, 0.167, 0.5, 0.75, 0.25]
    """
    predicted, fold = np.asarray(predicted, dtype=float), np.asarray(fold)
    share = np.empty(len(predicted))
    for k in np.unique(fold):
        members = fold == k
        share[members] = (rankdata(predicted[members], method="ordinal") - 0.5) / members.sum()
    return share


def _rank_groups(rank: np.ndarray, groups: int, *, descending: bool = False) -> np.ndarray:
    """Group 1..groups from within-fold rank shares (1 = lowest, or highest when ``descending``)."""
    group = np.floor(rank * groups).astype(int) + 1
    return groups + 1 - group if descending else group


def _blp_fold(pseudo: np.ndarray, predicted: np.ndarray, confidence: float) -> tuple[float, ...]:
    """OLS of one fold's pseudo-outcomes on a constant and its centred predictions, HC2: slope, se, bounds, p."""
    centred = predicted - predicted.mean()
    if len(centred) < 3 or centred.std() <= 1e-12 * max(1.0, abs(predicted.mean())):
        return (np.nan,) * 5
    fit = OLS(pseudo, np.column_stack([np.ones_like(centred), centred])).fit(cov_type="HC2")
    lower, upper = fit.conf_int(alpha=1 - confidence)[1]
    return float(fit.params[1]), float(fit.bse[1]), float(lower), float(upper), float(fit.pvalues[1])


def _blp(pseudo: np.ndarray, predicted: np.ndarray, fold: np.ndarray, confidence: float) -> dict:
    """BLP slope per fold at level ``1 - alpha/2``, aggregated by medians (Chernozhukov et al.)."""
    per_fold = np.array([_blp_fold(pseudo[fold == k], predicted[fold == k], (1 + confidence) / 2)
                         for k in np.unique(fold)])
    if np.isnan(per_fold[:, 0]).all():
        slope = se = lower = upper = p = np.nan
    else:
        slope, se, lower, upper, p = np.nanmedian(per_fold, axis=0)
    return {"ate": float(pseudo.mean()), "ate_se": float(pseudo.std(ddof=1) / math.sqrt(len(pseudo))),
            "slope": slope, "se": se, "lower": lower, "upper": upper, "p": min(1.0, 2 * p)}


def calibration(fit: CateFit, *, groups: int = 5, confidence: float = 0.95) -> Calibration:
    """Do the predicted effects carry signal? BLP slope and GATES (Chernozhukov et al. 2018/2023).

    Per arm: statsmodels OLS of the DR pseudo-outcome on a constant and the demeaned out-of-fold
    prediction, ``phi = a + b (pred - mean pred) + error``, with HC2 standard errors. ``b`` is 1
    when the predictions are calibrated, above 0 when they carry any signal, and 0 when they do
    not (or when the effect does not vary). The pseudo-outcome is the score of the DR-learner,
    so the test holds for a binary treatment with a binary outcome as for any other.

    The regression is run within each fold, the fold playing the main sample and the other folds
    (to which its effect model was fitted) the auxiliary one, as in the sample splits of
    Chernozhukov et al.; given the other folds, a fold's customers are independent, so its
    interval is valid. The folds are combined by their rule for many splits, valid whatever the
    dependence between them: each fold's interval at level ``1 - (1 - confidence) / 2``, then the
    medians of the slopes, of the lower and of the upper bounds, and ``p = 2 x median p``
    (capped at 1). It is conservative. (One regression over all folds at once is not valid: the
    predictions of one fold were fitted to the pseudo-outcomes of the others. In 40 simulated
    randomized campaigns of 450 customers with a constant effect it claimed heterogeneity at the
    5% level 7 times, mostly with a negative slope, and 5 times even with the true outcome
    models; the fold-wise rule, in 60, never.) ``ate`` is the mean pseudo-outcome over all
    customers, with ``ate_se``.

    GATES: mean pseudo-outcome within ``groups`` equal groups by predicted effect, ranked within
    folds (`fold_rank`), with normal intervals; and the top group minus the bottom one.

    Parameters
    ----------
    fit : CateFit
    groups : int
        Number of groups for GATES (5: quintiles).
    confidence : float
        Level of the intervals; the verdict claims heterogeneity when the slope's interval lies above 0.

    Returns
    -------
    Calibration
    """
    if groups < 2:
        raise ValueError(f"groups={groups}: GATES needs at least 2 groups (5 for quintiles)")
    z, blp, gates = normal_quantile(confidence), [], []
    for a, s in fit.scores.groupby("arm", sort=False):
        pseudo, predicted = s["pseudo"].to_numpy(), s["predicted"].to_numpy()
        g = _rank_groups(s["rank"].to_numpy(), groups)
        for k in range(1, groups + 1):
            p = pseudo[g == k]
            se = p.std(ddof=1) / math.sqrt(len(p)) if len(p) > 1 else np.nan
            gates.append({"arm": a, "group": k, "n": len(p), "predicted": predicted[g == k].mean(),
                          "estimate": p.mean(), "se": se, "lower": p.mean() - z * se, "upper": p.mean() + z * se})
        top, bottom = gates[-1], gates[-groups]
        tmb, tmb_se = top["estimate"] - bottom["estimate"], math.hypot(top["se"], bottom["se"])
        blp.append({"arm": a, "n": len(s), **_blp(pseudo, predicted, s["fold"].to_numpy(), confidence),
                    "top_minus_bottom": tmb, "tmb_lower": tmb - z * tmb_se, "tmb_upper": tmb + z * tmb_se})
    return Calibration(blp=pd.DataFrame(blp), gates=pd.DataFrame(gates), outcome=fit.outcome, confidence=confidence)


def heterogeneity_verdict(calibration: Calibration) -> str:
    """The BLP test in words, per arm: signal (slope's interval above 0), none, or a reversed ranking.

    Example
    -------
    >>> blp = pd.DataFrame({"arm": ["call"], "slope": [0.94], "lower": [0.6], "upper": [1.3]})
    >>> verdict = heterogeneity_verdict(Calibration(blp, pd.DataFrame(), "revenue_window", 0.95))
    >>> verdict.split(" (")  # doctest: +NORMALIZE_WHITESPACE
    ['the predicted effects carry signal: customers predicted to gain more do gain more',
     'slope 0.94, 95% interval 0.6 to 1.3)']
    """
    parts = []
    for r in calibration.blp.itertuples():
        if np.isnan(r.slope):
            text = "no evidence the effect varies: the model predicts the same effect for every customer"
        else:
            numbers = (f"slope {_short(r.slope)}, {calibration.confidence:.0%} interval {_short(r.lower)} to "
                       f"{_short(r.upper)}")
            if r.lower > 0:
                text = f"the predicted effects carry signal: customers predicted to gain more do gain more ({numbers})"
            elif r.upper < 0:
                text = f"the predicted effects rank customers the wrong way round ({numbers}): do not target on them"
            else:
                text = f"no evidence the effect varies ({numbers}): the predictions do not track the measured effects"
        parts.append(text if len(calibration.blp) == 1 else f"{r.arm}: {text}")
    return "; ".join(parts)


# ---- uplift curves ---------------------------------------------------------------------------
def _gains(y: np.ndarray, d: np.ndarray, w: np.ndarray, counts: np.ndarray):
    """Share, Qini and uplift after each customer in sorted order; one row per row of ``counts``.

    ``w``: inverse-propensity weights (constant within arm in a randomized design); ``counts``:
    frequency weights (1 for the sample, bootstrap multiplicities for a replicate).
    """
    ct, cc = counts * (w * d), counts * (w * (1 - d))
    nt, nc, yt, yc = ct.cumsum(1), cc.cumsum(1), (ct * y).cumsum(1), (cc * y).cumsum(1)
    size = counts.cumsum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(nc > 0, nt / nc, 0.0)
        uplift = np.where(nt > 0, yt / nt, 0.0) - np.where(nc > 0, yc / nc, 0.0)
    return size / size[:, -1:], (yt - yc * ratio) / nt[:, -1:], uplift * size / size[:, -1:]


def _weights(d: np.ndarray, e: np.ndarray) -> np.ndarray:
    return d / e + (1 - d) / (1 - e)


def qini_curve(y, treated, score, *, weights=None) -> pd.DataFrame:
    """Qini and uplift curves at each distinct score, customers sorted by decreasing score.

    After the top ``n`` customers, with ``N_t, N_c`` the treated and control among them and
    ``Y_t, Y_c`` their outcome sums (Radcliffe 2007; as scikit-uplift's ``qini_curve`` and
    ``uplift_curve``, a ratio with an empty arm taken as 0)::

        qini(n)   = (Y_t - Y_c N_t / N_c) / N_t(all)
        uplift(n) = (Y_t / N_t - Y_c / N_c) n / N

    Both are per customer of the population and end at the average effect; random targeting is
    the straight line to that end. ``weights`` (inverse propensities) weight the sums and counts,
    for a targeted design.

    Parameters
    ----------
    y, treated, score : array-like
        Outcome, 0/1 treated indicator, predicted effect (same length).
    weights : array-like, optional
        Inverse-propensity weights; none for a randomized comparison.

    Returns
    -------
    DataFrame
        ``share`` (0 to 1), ``qini``, ``uplift``, starting at (0, 0, 0).

    Example
    -------
    >>> qini_curve([1, 0, 0, 1], [1, 0, 1, 0], [0.9, 0.7, 0.5, 0.3]).round(3).values.tolist()
    [[0.0, 0.0, 0.0], [0.25, 0.5, 0.25], [0.5, 0.5, 0.5], [0.75, 0.5, 0.375], [1.0, 0.0, 0.0]]
    """
    y, d, s = (np.asarray(v, dtype=float) for v in (y, treated, score))
    if not len(y) == len(d) == len(s) or len(y) == 0:
        raise ValueError(f"y, treated and score need the same non-zero length, got {len(y)}, {len(d)}, {len(s)}")
    if not np.isin(d, [0, 1]).all() or d.min() == d.max():
        raise ValueError("treated must be 0/1 with both values present: a curve compares treated with control")
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    share, qini, uplift = (v[0] for v in _gains(y[order], d[order], w[order], np.ones((1, len(y)))))
    last = np.r_[np.flatnonzero(np.diff(s[order]) != 0), len(y) - 1]  # the last customer of each distinct score
    return pd.DataFrame({"share": np.r_[0.0, share[last]], "qini": np.r_[0.0, qini[last]],
                         "uplift": np.r_[0.0, uplift[last]]})


def uplift_areas(y, treated, score, *, weights=None) -> dict:
    """Areas under the `qini_curve` curves over the share targeted (trapezoids), and that of random targeting.

    Returns
    -------
    dict
        ``ate`` (where both curves end), ``auuc`` (area under the uplift curve), ``qini_area``,
        ``random_area`` (``ate / 2``), ``qini_coefficient`` (``qini_area - random_area``: above
        0 when the ranking beats random targeting).

    Example
    -------
    >>> {k: round(v, 4) for k, v in uplift_areas([1, 0, 0, 1], [1, 0, 1, 0], [0.9, 0.7, 0.5, 0.3]).items()}
    {'ate': 0.0, 'auuc': 0.2812, 'qini_area': 0.375, 'random_area': 0.0, 'qini_coefficient': 0.375}
    """
    c = qini_curve(y, treated, score, weights=weights)
    ate = float(c["uplift"].iloc[-1])
    qini_area = float(trapezoid(c["qini"], c["share"]))
    return {"ate": ate, "auuc": float(trapezoid(c["uplift"], c["share"])), "qini_area": qini_area,
            "random_area": ate / 2, "qini_coefficient": qini_area - ate / 2}


def _bootstrap_counts(n: int, reps: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap multiplicities of ``n`` customers, ``_CHUNK`` replicates at a time (reps x n in all)."""
    rng = np.random.default_rng(seed)
    for start in range(0, reps, _CHUNK):
        draws = rng.integers(0, n, size=(min(_CHUNK, reps - start), n))
        yield np.stack([np.bincount(row, minlength=n) for row in draws]).astype(float)


def _band(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = np.nanquantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    return lower, upper


def _with_band(table: dict, name: str, boot: np.ndarray, confidence: float) -> None:
    table[f"{name}_lower"], table[f"{name}_upper"] = _band(boot, confidence)


def uplift_curves(fit: CateFit, *, larger_is_better: bool = True, reps: int = 200, seed: int = 0,
                  confidence: float = 0.95, points: int = 21, deciles: int = 10) -> UpliftCurves:
    """Qini and uplift curves on the out-of-fold predictions, their areas, and the effect by decile.

    Per arm: `qini_curve` of the observed outcome, treated indicator and predicted effect, with
    inverse-propensity weights (constant within arm in a randomized design, so the plain
    curves), customers sorted by their predicted effect's rank within its fold (`fold_rank`),
    at ``points`` shares from 0 to 1 (the top ``round(share x n)`` customers); areas by
    `uplift_areas`. By decile of predicted effect (1 = highest): the mean DR pseudo-outcome, and
    the TOC of Yadlowsky et al. (2021): the mean pseudo-outcome of the top deciles through this
    one minus the mean over everyone (0 for random targeting, above 0 when the top is better).
    Bands and intervals: percentile bootstrap over ``reps`` resamples of the customers, their
    predictions held fixed. For an outcome the campaign should lower (churn), pass
    ``larger_is_better=False``: outcomes, pseudo-outcomes and predictions are negated, so the
    curves count churn prevented and the top deciles are the customers predicted to gain most.

    Parameters
    ----------
    fit : CateFit
    larger_is_better : bool
        False when a fall in the outcome is the gain (churn).
    reps, seed : int
        Bootstrap replicates and seed.
    confidence : float
        Level of the bands.
    points : int
        Shares at which the curves are tabulated.
    deciles : int
        Groups by predicted effect (10: deciles).

    Returns
    -------
    UpliftCurves
    """
    if reps < 20 or points < 2 or deciles < 2:
        raise ValueError(f"reps={reps}, points={points}, deciles={deciles}: need reps >= 20 for bands, points >= 2 "
                         f"and deciles >= 2")
    parts = [_arm_curves(s, sign=1.0 if larger_is_better else -1.0, points=points, deciles=deciles, reps=reps,
                         seed=seed, confidence=confidence) for _, s in fit.scores.groupby("arm", sort=False)]
    curves, areas, by_decile = zip(*parts)
    return UpliftCurves(curves=pd.concat(curves, ignore_index=True), areas=pd.DataFrame(areas),
                        deciles=pd.concat(by_decile, ignore_index=True), confidence=confidence)


def _arm_curves(s: pd.DataFrame, *, sign: float, points: int, deciles: int, reps: int, seed: int,
                confidence: float) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """`uplift_curves` of one arm's scores: the curves, the areas (one row) and the deciles."""
    y, d, w = sign * s["y"].to_numpy(), s["treated"].to_numpy(), _weights(s["treated"].to_numpy(),
                                                                         s["propensity"].to_numpy())
    pseudo, predicted, n, a = sign * s["pseudo"].to_numpy(), sign * s["predicted"].to_numpy(), len(s), s["arm"].iloc[0]
    rank = s["rank"].to_numpy() if sign > 0 else 1 - s["rank"].to_numpy()
    order, grid = np.argsort(-rank, kind="mergesort"), np.linspace(0, 1, points)
    at = np.maximum(np.round(grid * n).astype(int) - 1, 0)  # index of the last customer in the top share
    G = (_rank_groups(rank, deciles, descending=True)[:, None] == np.arange(1, deciles + 1)).astype(float)
    args = (y[order], d[order], w[order], pseudo, G, at)
    stats = _curve_stats(*args, np.ones((1, n)), order)
    boot = [_curve_stats(*args, counts, order) for counts in _bootstrap_counts(n, reps, seed)]
    boot = {k: np.concatenate([b[k] for b in boot]) for k in stats}
    exact = uplift_areas(y, d, rank, weights=w)
    curve = {"arm": a, "share": grid, "qini": stats["qini"][0], "uplift": stats["uplift"][0],
             "random": grid * exact["ate"]}
    for name in ("qini", "uplift", "random"):
        _with_band(curve, name, boot[name], confidence)
    area = {"arm": a, **{k: exact[k] for k in ("ate", "auuc", "random_area", "qini_coefficient")}}
    for name in ("auuc", "qini_coefficient"):
        _with_band(area, name, boot[name], confidence)
    by_decile = {"arm": a, "decile": np.arange(1, deciles + 1), "n": G.sum(0).astype(int),
                 "predicted": predicted @ G / G.sum(0), "effect": stats["effect"][0], "toc": stats["toc"][0]}
    for name in ("effect", "toc"):
        _with_band(by_decile, name, boot[name], confidence)
    return pd.DataFrame(curve), area, pd.DataFrame(by_decile)


def _curve_stats(y, d, w, pseudo, G, at, counts, order) -> dict[str, np.ndarray]:
    """Curves at the grid, areas, decile effects and TOC for each row of ``counts``.

    ``y``, ``d``, ``w`` are sorted by decreasing prediction (``order``); ``counts``, ``pseudo`` and ``G``
    are in the customers' own order.
    """
    share, qini, uplift = _gains(y, d, w, counts[:, order])
    start = np.zeros((len(counts), 1))
    auuc = trapezoid(np.hstack([start, uplift]), np.hstack([start, share]), axis=1)
    qini_area = trapezoid(np.hstack([start, qini]), np.hstack([start, share]), axis=1)
    ate = uplift[:, -1]
    grid = np.linspace(0, 1, len(at))
    first = grid == 0
    sums, sizes = (counts * pseudo) @ G, counts @ G
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = sums / sizes
        toc = sums.cumsum(1) / sizes.cumsum(1) - ((counts * pseudo).sum(1) / counts.sum(1))[:, None]
    return {"qini": np.where(first, 0.0, qini[:, at]), "uplift": np.where(first, 0.0, uplift[:, at]),
            "random": grid * ate[:, None], "auuc": auuc, "qini_coefficient": qini_area - ate / 2,
            "effect": effect, "toc": toc}


# ---- the value of targeting ------------------------------------------------------------------
def _check_money(margin_rate: float, cost_per_action: float) -> None:
    for name, value in (("margin_rate", margin_rate), ("cost_per_action", cost_per_action)):
        if not np.isfinite(value):
            raise ValueError(f"{name}={value!r}: give a finite number")
    if cost_per_action < 0:
        raise ValueError(f"cost_per_action={cost_per_action}: a cost is >= 0 (0 for a free action)")


def _policy_values(gain: np.ndarray, policies: np.ndarray, *, reps: int, seed: int,
                   confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Profit per customer of each policy (column of 0/1 ``policies``): estimate, bootstrap replicates."""
    n = len(gain)
    estimate = gain @ policies / n
    boot = np.concatenate([(c * gain) @ policies / c.sum(1, keepdims=True) for c in _bootstrap_counts(n, reps, seed)])
    lower, upper = _band(boot, confidence)
    return estimate, lower, upper, boot


def targeting_value(fit: CateFit, *, margin_rate: float, cost_per_action: float, shares: Sequence[float] = SHARES,
                    reps: int = 500, seed: int = 0, confidence: float = 0.95) -> TargetingValue:
    """Profit per customer of treating the top share by predicted effect, against everyone and no one.

    For a policy that treats the customers with ``pi = 1`` the profit per customer of the
    population, relative to treating no one, is the mean of ``pi (margin_rate x phi - cost)``
    with ``phi`` the DR pseudo-outcome (an unbiased score of each customer's effect). The top
    share ``k`` treats the ``round(k x n)`` customers of highest predicted profit
    ``margin_rate x predicted effect`` (out-of-fold, ranked within folds, `fold_rank`: about the
    top ``k`` of every fold);
    share 1 is treating everyone, 0 no one. The best share is the one of highest profit (its
    interval does not allow for that choice, so it is a little optimistic). For a revenue
    outcome ``margin_rate`` is the margin on revenue; for churn, pass minus the margin a churner
    takes away, so that a fall in churn is a gain.

    Parameters
    ----------
    fit : CateFit
    margin_rate, cost_per_action : float
        Profit per unit of the outcome's effect; cost of one action (per customer treated).
    shares : sequence of float
        Shares to evaluate (0 and 1 are always added).
    reps, seed : int
        Bootstrap replicates and seed.
    confidence : float
        Level of the intervals.

    Returns
    -------
    TargetingValue
    """
    _check_money(margin_rate, cost_per_action)
    shares = np.unique(np.r_[0.0, np.asarray(shares, dtype=float), 1.0])
    if shares.min() < 0 or shares.max() > 1:
        raise ValueError(f"shares must lie in [0, 1], got {shares.min():g} to {shares.max():g}")
    tables = []
    for a, s in fit.scores.groupby("arm", sort=False):
        n = len(s)
        gain = margin_rate * s["pseudo"].to_numpy() - cost_per_action
        position = np.empty(n, dtype=int)
        best_first = -s["rank"].to_numpy() if margin_rate >= 0 else s["rank"].to_numpy()
        position[np.argsort(best_first, kind="mergesort")] = np.arange(n)
        treated = np.round(shares * n).astype(int)
        policies = (position[:, None] < treated[None, :]).astype(float)
        est, lower, upper, boot = _policy_values(gain, policies, reps=reps, seed=seed, confidence=confidence)
        vs_lower, vs_upper = _band(boot - boot[:, -1:], confidence)
        tables.append(pd.DataFrame({"arm": a, "share": shares, "treated": treated, "profit": est, "lower": lower,
                                    "upper": upper, "vs_all": est - est[-1], "vs_all_lower": vs_lower,
                                    "vs_all_upper": vs_upper}))
    table = pd.concat(tables, ignore_index=True)
    best = table.loc[table.groupby("arm", sort=False)["profit"].idxmax()].reset_index(drop=True)
    return TargetingValue(table=table, best=best, confidence=confidence)


def _policy_table(fit: CateFit, policies: dict, rules: dict, *, margin_rate: float, cost_per_action: float,
                  reps: int, seed: int, confidence: float) -> pd.DataFrame:
    """One row per arm: the rule's profit and that of treating everyone, and their difference, with intervals."""
    rows = []
    for a, s in fit.scores.groupby("arm", sort=False):
        gain = margin_rate * s["pseudo"].to_numpy() - cost_per_action
        pi = np.asarray(policies[a], dtype=float)
        est, lower, upper, boot = _policy_values(gain, np.column_stack([pi, np.ones_like(pi)]), reps=reps,
                                                 seed=seed, confidence=confidence)
        vs_lower, vs_upper = _band(boot[:, 0] - boot[:, 1], confidence)
        rows.append({"arm": a, "rule": rules[a], "share_treated": pi.mean(), "profit": est[0], "lower": lower[0],
                     "upper": upper[0], "treat_all": est[1], "treat_all_lower": lower[1],
                     "treat_all_upper": upper[1], "vs_all": est[0] - est[1], "vs_all_lower": vs_lower,
                     "vs_all_upper": vs_upper})
    return pd.DataFrame(rows)


def _decisions(fit: CateFit, policies: dict) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"arm": a, "row": s["row"].to_numpy(), "treat": np.asarray(policies[a], dtype=bool)})
                      for a, s in fit.scores.groupby("arm", sort=False)], ignore_index=True)


def _rule_sentence(r) -> str:
    """A rule's value against treating everyone, in words."""
    head = (f"{r.arm}: {r.rule!r} treats {r.share_treated:.0%} of customers and earns {_num(r.profit)} per "
            f"customer ({_num(r.lower)} to {_num(r.upper)}), against {_num(r.treat_all)} for treating everyone")
    if r.vs_all_lower > 0:
        return (f"{head}: it beats treating everyone by {_num(r.vs_all)} per customer ({_num(r.vs_all_lower)} to "
                f"{_num(r.vs_all_upper)})")
    if r.vs_all_upper < 0:
        return (f"{head}: treating everyone beats it by {_num(-r.vs_all)} per customer ({_num(-r.vs_all_upper)} "
                f"to {_num(-r.vs_all_lower)})")
    return (f"{head}: no clear difference from treating everyone ({_num(r.vs_all)} per customer, "
            f"{_num(r.vs_all_lower)} to {_num(r.vs_all_upper)})")


def _condition(name: str, threshold: float, right: bool, features: pd.DataFrame) -> str:
    """One split in words: ``contract is month-to-month``, ``pre_revenue is at most 1,870``."""
    if name.endswith("]") and "[" in name:
        column, level = name[:-1].split("[", 1)
        return f"{column} is {'' if right else 'not '}{level}"
    if set(np.unique(features[name])) <= {0.0, 1.0}:
        return f"{name} is {1 if right else 0}"
    cut = _num(threshold)
    return f"{name} is {'above' if right else 'at most'} {cut.rstrip('0').rstrip('.') if '.' in cut else cut}"


def rule_text(tree: DecisionTreeRegressor, features: pd.DataFrame, *, margin_rate: float,
              cost_per_action: float) -> str:
    """The leaves of a fitted tree whose mean effect pays (``margin_rate x value > cost``), as a sentence.

    Two treated leaves under the same split are said as that split alone.

    Example
    -------
    >>> X = pd.DataFrame({"satisfaction": [2.0, 3, 8, 9]})
    >>> tree = DecisionTreeRegressor(max_depth=1).fit(X, [10.0, 12, 0, 1])
    >>> rule_text(tree, X, margin_rate=1.0, cost_per_action=5.0)
    'treat customers where satisfaction is at most 5.5'
    """
    t, names = tree.tree_, list(features.columns)

    def paths(node: int, conditions: list[str]) -> list[list[str]] | None:
        """Condition lists of the treated leaves below ``node``; None when all of them are treated."""
        if t.children_left[node] == -1:
            return None if margin_rate * t.value[node][0][0] > cost_per_action else []
        name, threshold = names[t.feature[node]], t.threshold[node]
        below = [(child, [*conditions, _condition(name, threshold, right, features)])
                 for child, right in ((t.children_left[node], False), (t.children_right[node], True))]
        found = [(paths(child, conds), conds) for child, conds in below]
        if all(p is None for p, _ in found):
            return None
        return [c for p, conds in found for c in ([conds] if p is None else p)]

    treated = paths(0, [])
    if treated is None:
        return "treat everyone"
    if not treated:
        return "treat no one"
    return "treat customers where " + "; or where ".join(" and ".join(c) for c in treated)


def _depth2_tree(X: pd.DataFrame, pseudo: np.ndarray, *, min_leaf_share: float, min_cell: int,
                 seed: int) -> DecisionTreeRegressor:
    leaf = max(int(min_leaf_share * len(X)), min_cell, 1)
    return DecisionTreeRegressor(max_depth=2, min_samples_leaf=leaf, random_state=seed).fit(X, pseudo)


def policy_tree(fit: CateFit, *, margin_rate: float, cost_per_action: float, min_leaf_share: float = 0.05,
                min_cell: int = MIN_CELL, reps: int = 500, seed: int = 0, confidence: float = 0.95) -> RuleValue:
    """A readable targeting rule: a depth-2 regression tree of the pseudo-outcomes, valued on held-out folds.

    Per arm, for each fold: a scikit-learn ``DecisionTreeRegressor(max_depth=2)`` fitted to the DR
    pseudo-outcomes of the other folds (leaves of at least ``min_leaf_share`` of them and of
    ``min_cell`` customers); its leaves whose mean effect pays (``margin_rate x effect >
    cost_per_action``) are treated; the fold's customers are treated by that rule. The profit of
    these held-out decisions is valued as in `evaluate_rule`. The rule shown (``rule``) is the
    same tree fitted on all customers, written as text; ``agreement`` is the share of customers
    whom it and the held-out fold rules treat alike (low agreement: the rule is unstable).

    Parameters
    ----------
    fit : CateFit
    margin_rate, cost_per_action : float
        As in `targeting_value`.
    min_leaf_share : float
        Smallest leaf as a share of the customers fitted to.
    min_cell : int
        Smallest leaf in customers.
    reps, seed, confidence :
        Bootstrap replicates, seed and level of the intervals.

    Returns
    -------
    RuleValue
        With ``agreement`` in the table and the all-customer trees in ``trees``.
    """
    _check_money(margin_rate, cost_per_action)
    if not 0 < min_leaf_share < 0.5:
        raise ValueError(f"min_leaf_share={min_leaf_share}: a leaf is a share of customers in (0, 0.5)")
    policies, rules, trees, agreement = {}, {}, {}, {}
    for a, s in fit.scores.groupby("arm", sort=False):
        X, pseudo, fold = fit.features.loc[s["row"]], s["pseudo"].to_numpy(), s["fold"].to_numpy()
        leaf = {"min_leaf_share": min_leaf_share, "min_cell": min_cell, "seed": fit.seed}
        held_out = np.zeros(len(s))
        for k in np.unique(fold):
            tree = _depth2_tree(X[fold != k], pseudo[fold != k], **leaf)
            held_out[fold == k] = margin_rate * tree.predict(X[fold == k]) > cost_per_action
        trees[a] = _depth2_tree(X, pseudo, **leaf)
        rules[a] = rule_text(trees[a], X, margin_rate=margin_rate, cost_per_action=cost_per_action)
        policies[a], agreement[a] = held_out, float(np.mean(held_out == (margin_rate * trees[a].predict(X)
                                                                         > cost_per_action)))
    table = _policy_table(fit, policies, rules, margin_rate=margin_rate, cost_per_action=cost_per_action, reps=reps,
                          seed=seed, confidence=confidence)
    table["agreement"] = table["arm"].map(agreement)
    return RuleValue(table=table, decisions=_decisions(fit, policies), confidence=confidence, trees=trees)


def evaluate_rule(fit: CateFit, frame: pd.DataFrame, rule: Callable[[pd.DataFrame], pd.Series] | pd.Series, *,
                  margin_rate: float, cost_per_action: float, name: str = "the rule", reps: int = 500, seed: int = 0,
                  confidence: float = 0.95) -> RuleValue:
    """Profit per customer of any targeting rule, its interval, and a verdict against treating everyone.

    ``rule(frame)`` (or ``rule`` itself) is True for the customers to treat, e.g.
    ``lambda f: f["quadrant"] == "win_back"``. The profit is the mean of ``rule x (margin_rate x
    phi - cost_per_action)`` over the customers of each arm and control (``phi`` the DR
    pseudo-outcome), so a rule chosen without looking at these outcomes is valued without bias;
    treating everyone is the same with ``rule = 1``. Intervals: percentile bootstrap of the
    customers, the rule fixed.

    Parameters
    ----------
    fit : CateFit
    frame : DataFrame
        The frame given to `fit_cate` (customers are matched by index).
    rule : callable or boolean Series
        Which customers to treat.
    margin_rate, cost_per_action : float
        As in `targeting_value`.
    name : str
        The rule's name in the table and the verdict.
    reps, seed, confidence :
        Bootstrap replicates, seed and level of the intervals.

    Returns
    -------
    RuleValue
    """
    _check_money(margin_rate, cost_per_action)
    chosen = rule(frame) if callable(rule) else rule
    if not isinstance(chosen, pd.Series) or not (pd.api.types.is_bool_dtype(chosen)):
        raise ValueError(f"{name} must give a boolean Series indexed like the frame (True: treat), got "
                         f"{type(chosen).__name__}{'' if not isinstance(chosen, pd.Series) else f' of {chosen.dtype}'}")
    missing = fit.scores["row"][~fit.scores["row"].isin(chosen.index)]
    if len(missing):
        raise ValueError(f"{name} says nothing about {missing.nunique():,} fitted customers (e.g. row "
                         f"{missing.iloc[0]!r}): pass the frame given to fit_cate")
    chosen = chosen.fillna(False).astype(bool)
    policies = {a: chosen.loc[s["row"]].to_numpy() for a, s in fit.scores.groupby("arm", sort=False)}
    table = _policy_table(fit, policies, dict.fromkeys(policies, name), margin_rate=margin_rate,
                          cost_per_action=cost_per_action, reps=reps, seed=seed, confidence=confidence)
    return RuleValue(table=table, decisions=_decisions(fit, policies), confidence=confidence)


# ---- time to churn ---------------------------------------------------------------------------
def tenure_by_effect(fit: CateFit, frame: pd.DataFrame, *, horizon: float, duration: str = MONTHS_TO_CHURN,
                     event: str = CHURNED_WINDOW, groups: int = 3, confidence: float = 0.95) -> TenureByEffect:
    """Restricted mean tenure up to ``horizon`` by arm, within groups of predicted effect.

    Customers of each arm and control are split into ``groups`` equal groups by the fit's
    out-of-fold predicted effect, ranked within folds (1 = lowest; for a churn fit, those whose
    churn the campaign is predicted to cut most). Within each group, the Kaplan-Meier restricted mean of each arm
    (`survival.rmst`: censoring-aware, Greenwood-type SE) and their difference with ``se =
    sqrt(se_t^2 + se_c^2)``. In a targeted design the curves are weighted by the inverse
    propensity (normalised to the customers of each arm in the group), an adjusted
    Kaplan-Meier; its interval treats the weights as fixed, so it is approximate.

    Parameters
    ----------
    fit : CateFit
        Any fit of the campaign (churn or revenue); its predictions define the groups.
    frame : DataFrame
        The frame given to `fit_cate`, with ``duration`` and ``event``.
    horizon : float
        Months over which tenure is counted (the campaign's window, say).
    duration, event : str
        Months from assignment to churn or censoring, and the churn indicator.
    groups : int
        Number of groups (3: thirds).
    confidence : float
        Level of the intervals.

    Returns
    -------
    TenureByEffect
    """
    require_roles(frame, duration=duration, event=event)
    if groups < 1 or horizon <= 0:
        raise ValueError(f"groups={groups}, horizon={horizon}: need at least one group and a positive horizon")
    z, rows = normal_quantile(confidence), []
    for a, s in fit.scores.groupby("arm", sort=False):
        data = frame.loc[s["row"], [duration, event]].assign(_group=_rank_groups(s["rank"].to_numpy(), groups),
                                                             _treated=s["treated"].to_numpy(),
                                                             _predicted=s["predicted"].to_numpy())
        data["_w"] = _weights(s["treated"].to_numpy(), s["propensity"].to_numpy())
        data = data.dropna(subset=[duration, event])
        for g, sub in data.groupby("_group"):
            row = {"arm": a, "group": int(g), "predicted": sub["_predicted"].mean()}
            means = {}
            for label, arm_rows in (("treated", sub[sub["_treated"] == 1]), ("control", sub[sub["_treated"] == 0])):
                row[f"n_{label}"] = len(arm_rows)
                means[label] = _rmst(arm_rows, horizon=horizon, duration=duration, event=event,
                                     weighted=fit.design == "targeted", confidence=confidence)
                row[f"rmst_{label}"] = means[label]["estimate"]
            difference = means["treated"]["estimate"] - means["control"]["estimate"]
            se = math.hypot(means["treated"]["se"], means["control"]["se"])
            rows.append({**row, "difference": difference, "se": se, "lower": difference - z * se,
                         "upper": difference + z * se})
    return TenureByEffect(table=pd.DataFrame(rows), horizon=horizon, confidence=confidence)


def _rmst(rows: pd.DataFrame, *, horizon: float, duration: str, event: str, weighted: bool,
          confidence: float) -> dict:
    """`survival.rmst` of one arm in one group (NaN with fewer than two customers)."""
    if len(rows) < 2:
        return {"estimate": np.nan, "se": np.nan}
    if not weighted:
        return survival.rmst(rows, horizon=horizon, duration=duration, event=event, confidence=confidence)
    rows = rows.assign(_w=rows["_w"] * len(rows) / rows["_w"].sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)  # lifelines: weights that are not whole numbers
        return survival.rmst(rows, horizon=horizon, duration=duration, event=event, confidence=confidence,
                             weights="_w")


def _short(x: float) -> str:
    """Two significant digits, at least one decimal: 0.94, 0.6, -0.097, 1.0, 1.3, 12.3."""
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.2g}"


def _num(x: float) -> str:
    """Three significant digits, thousands separated: 12.3, 1,230, -0.0456."""
    if not np.isfinite(x) or x == 0:
        return f"{x:g}"
    decimals = max(0, 2 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"
