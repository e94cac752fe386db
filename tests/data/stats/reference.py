"""Reference values for src/experiments/stats.rs, computed with scipy and statsmodels.

Run: python3 -m venv v && v/bin/pip install scipy==1.17.1 statsmodels==0.15.0 && v/bin/python reference.py > reference.json
The cases mix a textbook example (Agresti & Caffo's 2x2 tables) with experiment-sized samples; the Welch samples
are drawn here with a fixed numpy seed and written out whole, so the Rust test reads the very same numbers.
"""
import json

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.proportion import (confint_proportions_2indep, proportion_confint,
                                          proportions_ztest)

out = {"versions": {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__}}

diffs = []
for x_t, n_t, x_c, n_c in [(9, 10, 3, 10), (120, 1000, 100, 1000), (530, 10000, 500, 10000), (15, 400, 30, 410),
                           (0, 50, 2, 60)]:
    low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff", alpha=0.05)
    _, p = proportions_ztest([x_t, x_c], [n_t, n_c])
    diffs.append({"x_t": x_t, "n_t": n_t, "x_c": x_c, "n_c": n_c, "estimate": x_t / n_t - x_c / n_c,
                  "low": low, "high": high, "p_value": p})
out["diff_of_proportions"] = diffs

out["wilson"] = []
for x, n in [(0, 20), (7, 20), (81, 263), (500, 10000)]:
    low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
    out["wilson"].append({"x": x, "n": n, "estimate": x / n, "low": low, "high": high})

rng = np.random.default_rng(20261202)
out["welch"] = []
for n_t, n_c, shift in [(40, 55, 0.0), (300, 280, 1.5)]:
    # revenue-like: most units spend nothing, a few spend a lognormal amount
    t = np.round(np.where(rng.random(n_t) < 0.3, rng.lognormal(3.0 + 0.1 * shift, 0.8, n_t), 0.0), 2)
    c = np.round(np.where(rng.random(n_c) < 0.3, rng.lognormal(3.0, 0.8, n_c), 0.0), 2)
    res = stats.ttest_ind(t, c, equal_var=False)
    ci = res.confidence_interval(0.95)
    out["welch"].append({"treat": t.tolist(), "ctrl": c.tolist(), "estimate": t.mean() - c.mean(),
                         "low": ci.low, "high": ci.high, "p_value": res.pvalue})

out["srm"] = []
for observed, weights in [([5000, 5400], [1, 1]), ([1000, 1030], [1, 1]), ([900, 2100, 1000], [1, 2, 1]),
                          ([120, 880], [0.1, 0.9])]:
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    out["srm"].append({"observed": observed, "weights": weights,
                       "p_value": stats.chisquare(observed, expected).pvalue})

print(json.dumps(out, indent=1))
