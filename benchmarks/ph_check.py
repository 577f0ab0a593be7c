"""Benchmark: notebook 01's Cox model with its proportional-hazards check and remedy on the
row-level path (`churn.cox_with_ph_check`), as it is and as it was.

    python benchmarks/ph_check.py                                   # 20k, 50k, 100k, 200k
    python benchmarks/ph_check.py --sizes 20000 50000 --old-up-to 50000

Data: `helpers.data.synth.generate(n, 36, seed=7)` in memory (20,000 is the default data set), with
notebook 01's covariates. *Now*: `survival.check_proportional_hazards` (the Grambsch-Therneau
statistic by cumulative sums) and `survival.ph_remedy` (a numeric violator split early/late as
at most two rows per customer, CoxPHFitter with the period as a stratum). *Before*: the same
pipeline with the two steps as they were, kept below: lifelines' ``proportional_hazard_test``
(rank transform) and the (start, stop] episodes fitted by ``CoxTimeVaryingFitter``. Prints the
wall time of the whole call and of its parts (check, remedy; "fit" is the rest: pooling, the
first Cox fit), which terms break proportional hazards, and how far the two runs' statistics
and final hazard ratios are apart. Asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from unittest import mock

import numpy as np
import pandas as pd

COVARIATES = ["contract", "customer_type", "satisfaction", "log2_monthly_value", "wallet_share", "below_parity",
              "quadrant"]  # notebook 01's defaults


# ---- the two steps as they were ---------------------------------------------------------------
def old_check(cph, data=None, *, alpha: float = 0.05) -> pd.DataFrame:
    from lifelines.statistics import proportional_hazard_test
    res = proportional_hazard_test(cph, cph.design_ if data is None else data, time_transform="rank").summary
    terms = [str(t) for t in res.index]
    return pd.DataFrame({"term": terms, "covariate": [t.split("[")[0] for t in terms],
                         "statistic": res["test_statistic"].to_numpy(), "p": res["p"].to_numpy(),
                         "violated": res["p"].to_numpy() < alpha})


def _old_episodes(design, cut, *, duration, event, split):
    base = design.reset_index(drop=True).rename_axis("row").reset_index()
    tenure = base.pop(duration)
    early = base.assign(start=0.0, stop=np.minimum(tenure, cut), **{event: base[event] * (tenure <= cut)})
    late = base[tenure > cut].assign(start=cut, stop=tenure[tenure > cut])
    episodes = pd.concat([early, late], ignore_index=True)
    is_late = episodes["start"] >= cut
    for x in split:
        values = episodes.pop(x)
        episodes[f"{x}:early"], episodes[f"{x}:late"] = values * ~is_late, values * is_late
    return episodes[episodes["stop"] > episodes["start"]]


def old_remedy(df, check, *, covariates, strata=None, duration="tenure_months", event="churned", split_at=None,
               penalizer=0.0):
    from helpers.stats import survival as sv
    bad = check.loc[check["violated"], "covariate"].unique()
    categorical = [c for c in bad if sv._is_categorical(df[c])]
    split = [c for c in bad if c not in categorical]
    strata, kept = sv._as_list(strata) + categorical, [c for c in covariates if c not in categorical]
    if not split:
        model = sv.fit_cox(df, covariates=kept, strata=strata, duration=duration, event=event, penalizer=penalizer)
        return model, sv.ph_verdict_text(check, stratified=categorical)
    design, _ = sv._design(df, covariates=kept, strata=strata, duration=duration, event=event)
    split_at = float(design.loc[design[event] == 1, duration].median()) if split_at is None else split_at
    episodes = _old_episodes(design, split_at, duration=duration, event=event, split=split)
    terms = [c for c in episodes if c not in ("row", "start", "stop", event, *strata)]
    model = sv.fit_time_varying(episodes, covariates=terms, strata=strata, id_col="row", event=event,
                                penalizer=penalizer)
    return model, sv.ph_verdict_text(check, stratified=categorical, split=split, split_at=split_at)


# ---- one measurement ----------------------------------------------------------------------------
def _timed(fn, clock: dict, key: str):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[key] = clock.get(key, 0.0) + time.perf_counter() - began
    return wrapper


def measure(customers: pd.DataFrame, *, old: bool) -> tuple[dict, object]:
    """Wall times of `churn.cox_with_ph_check` and of its check and remedy; the result."""
    from helpers.stats import churn
    from helpers.stats import survival as sv
    clock: dict = {}
    check, remedy = (old_check, old_remedy) if old else (sv.check_proportional_hazards, sv.ph_remedy)
    with mock.patch.object(sv, "check_proportional_hazards", _timed(check, clock, "check")), \
         mock.patch.object(sv, "ph_remedy", _timed(remedy, clock, "remedy")):
        began = time.perf_counter()
        result = churn.cox_with_ph_check(customers, COVARIATES)
        clock["total"] = time.perf_counter() - began
    clock["fit"] = clock["total"] - clock["check"] - clock["remedy"]
    return clock, result


def _line(label: str, clock: dict, result) -> str:
    flagged = ", ".join(result.check.loc[result.check["violated"], "term"]) or "none"
    return (f"  {label:<7} {clock['total']:7.1f} s  (fit {clock['fit']:5.1f} s, check {clock['check']:6.2f} s, "
            f"remedy {clock['remedy']:5.1f} s; {type(result.final).__name__})  flagged: {flagged}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 50_000, 100_000, 200_000])
    parser.add_argument("--old-up-to", type=int, default=200_000, help="largest size also run the old way")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from helpers.data import synth
    from helpers.data.io import Dataset
    from helpers.stats import churn
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; load average "
          f"{os.getloadavg()[0]:.1f}")
    for n in args.sizes:
        tables, truth = synth.generate(n, 36, seed=7)
        customers = churn.prepare(Dataset("synthetic", None, tables, "bench", truth))
        print(f"\n{n:,} customers")
        now, new = measure(customers, old=False)
        print(_line("now", now, new))
        if n > args.old_up_to:
            continue
        before, old = measure(customers, old=True)
        print(_line("before", before, old))
        same = old.check["violated"].tolist() == new.check["violated"].tolist()
        stat = np.abs(old.check["statistic"].to_numpy() - new.check["statistic"].to_numpy()).max()
        hr_old, hr_new = old.hazard_ratios().set_index("term")["hr"], new.hazard_ratios().set_index("term")["hr"]
        print(f"  speed-up {before['total'] / now['total']:.1f}x (check {before['check'] / now['check']:.0f}x, "
              f"remedy {before['remedy'] / now['remedy']:.1f}x); same verdicts: {same}; "
              f"max |statistic difference| {stat:.1e}; max |HR difference| {np.abs(hr_old - hr_new).max():.1e}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
