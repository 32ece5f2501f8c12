"""Figures of sampled analyses: FVA intervals per reaction, lethality probability vs fitness, reliability curve."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _wrap(title: str, width: int = 60) -> str:
    """A long title on several lines, so that it is not cut at the figure's edges."""
    return textwrap.fill(title, width)


def plot_fva_intervals(summary: pd.DataFrame, path: str | Path, top: int = 40, title: str = "") -> Path:
    """The ``top`` reactions with the widest 90 % bands: point range, and the 5-95 % bands of both bounds.

    Parameters
    ----------
    summary : DataFrame
        :func:`kingems_ray.analysis.uncertainty.summarise_fva` output.
    """
    plt = _plt()
    s = summary[summary["kcat_dependent"]].sort_values("band_width", ascending=False).head(top)
    s = s.iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, max(3, 0.22 * len(s) + 1.2)))
    y = np.arange(len(s))
    if "point_minimum" in s:
        ax.hlines(y, s["point_minimum"], s["point_maximum"], color="0.2", lw=1, label="point model range")
    ax.hlines(y + 0.2, s["min_q05"], s["min_q95"], color="tab:blue", lw=4, alpha=0.7, label="minimum, 5-95 %")
    ax.hlines(y - 0.2, s["max_q05"], s["max_q95"], color="tab:red", lw=4, alpha=0.7, label="maximum, 5-95 %")
    ax.plot(s["min_q50"], y + 0.2, "|", color="navy")
    ax.plot(s["max_q50"], y - 0.2, "|", color="darkred")
    ax.set_yticks(y)
    ax.set_yticklabels(s["reaction_id"], fontsize=7)
    ax.set_xlabel("flux [mmol/gDW/h]")
    ax.set_title(_wrap(title or f"FVA intervals over kcat samples (top {len(s)} by band width)"), fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def plot_lethality_vs_fitness(joined: pd.DataFrame, path: str | Path, title: str = "", seed: int = 0) -> Path:
    """p(lethal) per knockout against its measured fitness (jittered), the -2 fitness threshold marked.

    ``joined`` needs ``p_lethal`` and ``fitness`` (a summary joined with a fitness truth table).
    """
    plt = _plt()
    d = joined.dropna(subset=["fitness"])
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.015, 0.015, len(d))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.scatter(d["fitness"], d["p_lethal"] + jitter, s=4, alpha=0.35, color="tab:purple", lw=0)
    ax.axvline(-2.0, color="0.4", ls="--", lw=1)
    ax.text(-2.05, 0.5, "fitness -2", rotation=90, ha="right", va="center", fontsize=7, color="0.3")
    ax.set_xlabel("measured fitness (RB-TnSeq)")
    ax.set_ylabel("p(lethal) over kcat samples (jittered)")
    ax.set_title(_wrap(title or "knockout lethality probability vs measured fitness"), fontsize=9)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def plot_reliability(reliability: pd.DataFrame, path: str | Path, brier: float | None = None,
                     title: str = "") -> Path:
    """Observed lethal frequency against mean p(lethal) per bin (marker area ~ points), the diagonal for reference."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
    size = 20 + 300 * reliability["n"] / max(1, reliability["n"].max())
    ax.plot(reliability["mean_predicted"], reliability["observed_frequency"], color="tab:blue", lw=1)
    ax.scatter(reliability["mean_predicted"], reliability["observed_frequency"], s=size, color="tab:blue",
               alpha=0.6)
    for _, r in reliability.iterrows():
        ax.annotate(str(int(r["n"])), (r["mean_predicted"], r["observed_frequency"]), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("predicted p(lethal)")
    ax.set_ylabel("observed lethal frequency")
    t = title or "reliability of p(lethal)"
    if brier is not None:
        t += f" (Brier {brier:.4f})"
    ax.set_title(_wrap(t), fontsize=9)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def plot_label_frequencies(summary: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Stacked bars: per pair of organisms, how often each interaction label occurred over kcat samples.

    ``summary`` is :func:`kingems_ray.analysis.uncertainty.summarise_pairs` output.
    """
    plt = _plt()
    s = summary.assign(pair=summary["model_a"].str[:20] + " + " + summary["model_b"].str[:20])
    wide = s.pivot_table(index="pair", columns="label", values="frequency", fill_value=0.0)
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(wide) + 1.5)))
    left = np.zeros(len(wide))
    for lab in wide.columns:
        ax.barh(wide.index, wide[lab], left=left, label=lab)
        left += wide[lab].to_numpy()
    ax.set_xlim(0, 1)
    ax.set_xlabel("frequency over kcat samples")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(_wrap(title or "interaction label frequency over kcat samples"), fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def plot_taxon_growth(summary: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Per taxon: the 5-95 % growth band over kcat samples and its median.

    ``summary`` is :func:`kingems_ray.analysis.uncertainty.summarise_taxa` output.
    """
    plt = _plt()
    s = summary.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, max(2.5, 0.35 * len(s) + 1.2)))
    y = np.arange(len(s))
    ax.hlines(y, s["growth_q05"], s["growth_q95"], color="tab:green", lw=5, alpha=0.6, label="5-95 %")
    ax.plot(s["growth_q50"], y, "|", color="darkgreen", ms=12, label="median")
    ax.set_yticks(y)
    ax.set_yticklabels(s["taxon"].str[:30], fontsize=7)
    ax.set_xlabel("growth [1/h] (cooperative trade-off)")
    ax.legend(fontsize=7)
    ax.set_title(_wrap(title or "taxon growth over kcat samples"), fontsize=9)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p
