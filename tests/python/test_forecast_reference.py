#!/usr/bin/env python3
"""mirage forecast against an independent fit with scipy.optimize (docs/DESIGN.md §5.10).

On the tallies of a real run (known c = 2e9, alpha = -0.5), for every length, test size and
replicate:
  * token method: the binomial fit of the token errors with a complementary log-log link in
    log N (scipy.optimize.minimize, BFGS, then scipy.optimize.root on the score) must give the
    file's fit_scale (c) and fit_slope (alpha) to 1e-6 relative;
  * naive method: the logistic fit of exact match likewise (fit_scale = the N at which the
    fitted proportion is 1/2), wherever the file reports a fit (status 0), and scipy must find
    no finite optimum where the file reports all-zero or separated counts;
  * the profile-likelihood interval at the largest scale (scipy.optimize.minimize_scalar for
    the inner maximisation, scipy.optimize.brentq for the ends) must give the file's low and
    high of exact match to 1e-6 relative.
Exit status 0 when all hold, 1 otherwise (one line per failure), 77 without scipy.
"""
import argparse
import os
import subprocess
import sys

import h5py
import numpy as np

try:
    from scipy import optimize, special, stats
except ImportError:  # scipy is in scripts/requirements.txt; without it the test is skipped
    print("scipy is not installed; skipping (exit 77)")
    sys.exit(77)

TOL = 1e-6


def loglik(eta, y, m, link):
    """Binomial log-likelihood (without the binomial coefficients) at linear predictors eta."""
    if link == "cloglog":
        u = np.exp(eta)
        log_mu = np.log(-np.expm1(-u))
        log_1m = -u
    else:
        log_mu = -np.logaddexp(0.0, -eta)
        log_1m = -np.logaddexp(0.0, eta)
    return float(np.sum(np.where(y > 0, y * log_mu, 0.0) + np.where(m - y > 0, (m - y) * log_1m, 0.0)))


def score(eta, y, m, link):
    """d loglik / d eta_i."""
    if link == "cloglog":
        u = np.exp(eta)
        return y * u / np.expm1(u) - (m - y) * u
    mu = special.expit(eta)
    return y - m * mu


def fit(x, y, m, link):
    """MLE of eta = a + b (x - mean x); returns (a, b, xm, loglik) or None without an optimum."""
    xm = x.mean()
    xc = x - xm
    def nll(theta):
        return -loglik(theta[0] + theta[1] * xc, y, m, link)
    def grad(theta):
        s = score(theta[0] + theta[1] * xc, y, m, link)
        return -np.array([s.sum(), (s * xc).sum()])
    mu0 = (y + 0.5) / (m + 1.0)
    eta0 = np.log(-np.log1p(-mu0)) if link == "cloglog" else special.logit(mu0)
    b0, a0 = np.polyfit(xc, eta0, 1)
    res = optimize.minimize(nll, [a0, b0], jac=grad, method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 10000})
    root = optimize.root(grad, res.x, tol=1e-14)
    theta = root.x if root.success else res.x
    eta = theta[0] + theta[1] * xc
    if np.max(np.abs(eta)) > 30 or not np.all(np.isfinite(theta)):
        return None
    if np.max(np.abs(grad(theta))) > 1e-6 * (1 + np.abs(nll(theta))):
        return None
    return theta[0], theta[1], xm, -nll(theta)


def profile_interval(x, y, m, link, a, b, xm, lhat, x_star, critical):
    """The ends of {eta*: 2 (lhat - max_b l(eta* + b (x - x*))) <= critical}."""
    def profile(eta_star):
        res = optimize.minimize_scalar(lambda bb: -loglik(eta_star + bb * (x - x_star), y, m, link),
                                       bracket=(b - 0.5, b + 0.5), tol=1e-12)
        return -res.fun
    eta_hat = a + b * (x_star - xm)
    def f(eta):
        return 2 * (lhat - profile(eta)) - critical
    ends = []
    for direction in (-1, 1):
        step = 0.05
        while f(eta_hat + direction * step) < 0:
            step *= 2
        lo, hi = sorted((eta_hat, eta_hat + direction * step))
        ends.append(optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-13))
    return ends


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirage", required=True, help="the mirage executable")
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    result = os.path.join(args.workdir, "r.h5")
    forecast = os.path.join(args.workdir, "f.h5")
    subprocess.run([args.mirage, "run", "--scales", "1e8:5e9:8,2e10,2e11", "--lengths", "1,4",
                    "--test-sizes", "20,200,5000", "--replicates", "3", "--seed", "17", "-q",
                    "-o", result], check=True)
    subprocess.run([args.mirage, "forecast", result, "--fit-below", "1e10", "--metric",
                    "exact_match", "-q", "-o", forecast], check=True)
    failures = []
    checked = {"token": 0, "naive": 0, "naive_degenerate": 0, "interval": 0}
    critical = stats.chi2.ppf(0.95, 1)
    with h5py.File(result, "r") as r, h5py.File(forecast, "r") as f:
        assert f.attrs["filetype"] == "mirage-forecast"
        scale = r["model/scale"][:]
        lengths = r["task/length"][:]
        sizes = r["task/test_size"][:]
        X = r["counts/exact_match"][:]
        E = r["counts/token_errors"][:]
        nfit = int(np.sum(scale < 1e10))
        x = np.log(scale[:nfit])
        x_star = np.log(scale[-1])
        for k, L in enumerate(lengths):
            for t, n in enumerate(sizes):
                for rep in range(X.shape[3]):
                    where = f"L={L} n={n} r={rep}"
                    # Token level.
                    y = E[:nfit, k, t, rep].astype(float)
                    m = np.full(nfit, float(n) * L)
                    ref = fit(x, y, m, "cloglog")
                    g = "forecast/token/exact_match/"
                    c_file = f[g + "fit_scale"][0, k, t, rep]
                    alpha_file = f[g + "fit_slope"][0, k, t, rep]
                    if ref is None:
                        failures.append(f"token {where}: scipy found no optimum")
                        continue
                    a, b, xm, lhat = ref
                    c_ref = np.exp(xm - a / b)
                    if abs(c_file / c_ref - 1) > TOL or abs(alpha_file / b - 1) > TOL:
                        failures.append(f"token {where}: file c={c_file!r} alpha={alpha_file!r}, "
                                        f"scipy c={c_ref!r} alpha={b!r}")
                    checked["token"] += 1
                    lo, hi = profile_interval(x, y, m, "cloglog", a, b, xm, lhat, x_star, critical)
                    em_low, em_high = np.exp(-L * np.exp(hi)), np.exp(-L * np.exp(lo))
                    file_low = f[g + "low"][0, -1, k, t, rep]
                    file_high = f[g + "high"][0, -1, k, t, rep]
                    if abs(file_low / em_low - 1) > TOL or abs(file_high / em_high - 1) > TOL:
                        failures.append(f"interval {where}: file [{file_low!r}, {file_high!r}], "
                                        f"scipy [{em_low!r}, {em_high!r}]")
                    checked["interval"] += 1
                    # Naive: logistic on exact match.
                    y = X[:nfit, k, t, rep].astype(float)
                    m = np.full(nfit, float(n))
                    g = "forecast/naive/exact_match/"
                    status = int(f[g + "status"][0, k, t, rep])
                    ref = fit(x, y, m, "logit")
                    if status != 0:
                        checked["naive_degenerate"] += 1
                        if ref is not None:
                            failures.append(f"naive {where}: file status {status}, scipy optimum "
                                            f"{ref}")
                        continue
                    if ref is None:
                        failures.append(f"naive {where}: scipy found no optimum, file status 0")
                        continue
                    a, b, xm, _ = ref
                    mid_ref = np.exp(xm - a / b)
                    mid_file = f[g + "fit_scale"][0, k, t, rep]
                    slope_file = f[g + "fit_slope"][0, k, t, rep]
                    if abs(mid_file / mid_ref - 1) > TOL or abs(slope_file / b - 1) > TOL:
                        failures.append(f"naive {where}: file N50={mid_file!r} b={slope_file!r}, "
                                        f"scipy N50={mid_ref!r} b={b!r}")
                    checked["naive"] += 1
    for line in failures:
        print("FAIL", line)
    print(f"checked {checked}; {len(failures)} failures")
    if checked["naive"] == 0 or checked["naive_degenerate"] == 0:
        print("FAIL: the sweep must include both fitted and degenerate naive cases")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
