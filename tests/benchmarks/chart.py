"""Log-log chart of build time vs problem size (run in the CasADi peer venv, which has matplotlib).

Usage: ``python chart.py results.json out.png``.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    with open(sys.argv[1]) as fh:
        rows = json.load(fh)["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    styles = {"ours": "o-", "casadi": "s--", "casadi_cse": "d-.", "gradgen052": "^:"}
    for ax, kernels in zip(axes, (("grad",), ("f", "hess", "hvp")), strict=True):
        for r_kernel in kernels:
            for system, style in styles.items():
                pts = sorted(
                    (r["n"], r["build_s"])
                    for r in rows
                    if r["system"] == system
                    and r["problem"] == "rosenbrock"
                    and r["kernel"] == r_kernel
                    and r.get("build_s")
                )
                if pts:
                    ax.loglog([p[0] for p in pts], [p[1] for p in pts], style, label=f"{system} {r_kernel}")
        ax.set_xlabel("n (rosenbrock)")
        ax.set_ylabel("build time: symbols to source [s]")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("gradient")
    axes[1].set_title("f, Hessian, HVP")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
