"""Reference forecasts for `aisle bench forecast --reference benches/forecast_reference.py`.

Reads the series `aisle bench forecast` exported (series.csv: cutoff,unique_id,t,y; each series from its first
sale up to the forecast origin, weekly) and writes forecasts.csv (model,cutoff,unique_id,step,mean,lo80,hi80,lo95,
hi95) from Nixtla statsforecast: AutoETS (non-seasonal: under two years of weeks), CrostonSBA, TSB (alpha_d = alpha_p
= 0.1, the usual choice: TSB has no default), ADIDA and Naive, each alone, and "best per series": per series the
one of AutoETS, CrostonSBA, TSB and ADIDA with the least RMSSE on the series' own last h weeks when fitted on the
weeks before them (the same rule Aisle uses). Intervals where statsforecast gives them (AutoETS, Naive).
Aisle scores every forecast with its own code. Needs `pip install statsforecast pandas`.
Usage: python forecast_reference.py DIR H
"""
import sys
import time
import warnings

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import ADIDA, AutoETS, CrostonSBA, Naive, TSB

warnings.filterwarnings("ignore")


def fit(df, h, level):
    """Every model's forecasts; intervals (`level`) from the models that give them natively."""
    with_intervals = [AutoETS(season_length=1, alias="AutoETS"), Naive(alias="Naive")]
    without = [CrostonSBA(alias="CrostonSBA"), TSB(alpha_d=0.1, alpha_p=0.1, alias="TSB"), ADIDA(alias="ADIDA")]
    a = StatsForecast(models=with_intervals, freq=1, n_jobs=1).forecast(df=df, h=h, level=level)
    b = StatsForecast(models=without, freq=1, n_jobs=1).forecast(df=df, h=h)
    return a.merge(b, on=["unique_id", "ds"])


def main():
    d, h = sys.argv[1], int(sys.argv[2])
    series = pd.read_csv(f"{d}/series.csv", dtype={"unique_id": str})
    out = []
    started = time.time()
    for cutoff, df in series.groupby("cutoff"):
        df = df.rename(columns={"t": "ds"})[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
        full = fit(df, h, [80, 95])
        # validation: the last h weeks of each series held out
        n = df.groupby("unique_id")["ds"].transform("size")
        pos = df.groupby("unique_id").cumcount()
        train, held = df[pos < n - h], df[pos >= n - h]
        val = fit(train, h, None)
        scale = train.groupby("unique_id")["y"].apply(lambda y: np.mean(np.diff(y.to_numpy()) ** 2))
        held = held.assign(step=held.groupby("unique_id").cumcount())
        val = val.assign(step=val.groupby("unique_id").cumcount())
        joined = held.merge(val, on=["unique_id", "step"], suffixes=("", "_f"))
        best = {}
        for uid, g in joined.groupby("unique_id"):
            s = scale.get(uid, 0.0)
            s = s if s > 0 else 1.0
            scores = {m: np.mean((g["y"].to_numpy() - g[m].to_numpy()) ** 2) / s
                      for m in ["AutoETS", "CrostonSBA", "TSB", "ADIDA"]}
            best[uid] = min(scores, key=scores.get)
        full = full.assign(step=full.groupby("unique_id").cumcount())
        for m in ["AutoETS", "CrostonSBA", "TSB", "ADIDA", "Naive"]:
            cols = {"mean": full[m]}
            for lv in (80, 95):
                for side in ("lo", "hi"):
                    c = f"{m}-{side}-{lv}"
                    cols[f"{side}{lv}"] = full[c] if c in full else np.nan
            out.append(pd.DataFrame({"model": m, "cutoff": cutoff, "unique_id": full["unique_id"],
                                     "step": full["step"], **cols}))
        chosen = full["unique_id"].map(lambda u: best.get(u, "AutoETS"))
        mean = np.choose(chosen.map({"AutoETS": 0, "CrostonSBA": 1, "TSB": 2, "ADIDA": 3}).to_numpy(),
                         [full[m].to_numpy() for m in ["AutoETS", "CrostonSBA", "TSB", "ADIDA"]])
        out.append(pd.DataFrame({"model": "best per series", "cutoff": cutoff, "unique_id": full["unique_id"],
                                 "step": full["step"], "mean": mean, "lo80": np.nan, "hi80": np.nan,
                                 "lo95": np.nan, "hi95": np.nan}))
    pd.concat(out).to_csv(f"{d}/forecasts.csv", index=False)
    print(f"statsforecast forecasts written in {time.time() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
