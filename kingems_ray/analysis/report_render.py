"""Rendering the report: matplotlib figures (PNG, Agg backend) and one document template for Markdown and HTML.

A report is a :class:`Document` of :class:`Section` s, each a list of blocks (a paragraph string, a :class:`Table` or a
:class:`Figure`); :func:`render_markdown` and :func:`render_html` walk the same document, so the two formats can not
drift apart. matplotlib is imported when the first figure is drawn.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "Document",
    "Figure",
    "Section",
    "Table",
    "markdown_table",
    "plot_maintenance",
    "plot_roc",
    "plot_trajectory",
    "plot_variability",
    "render_html",
    "render_markdown",
    "shown_columns",
]

#: Variability below this [mmol/gDW/h] is drawn at it: a log axis cannot show 0 (fixed fluxes).
VARIABILITY_FLOOR = 1e-6
_DPI = 120


def _pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display); imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    _pyplot().close(fig)
    return path


# -- figures -----------------------------------------------------------------------------------------------------------
def plot_variability(fva: pd.DataFrame, path: Path, floor: float = VARIABILITY_FLOOR) -> Path:
    """Box plots of log10 flux variability per level (reactions with finite ranges).

    Variability below ``floor`` is drawn at ``floor`` (dotted line); each tick says how many reactions sit there.
    """
    plt = _pyplot()
    levels = list(dict.fromkeys(fva["level"]))
    data, ticks = [], []
    for lvl in levels:
        v = fva.loc[fva["level"] == lvl, "variability"].to_numpy(float)
        v = v[np.isfinite(v)]
        data.append(np.log10(np.maximum(v, floor)))
        ticks.append(f"{lvl}\n{int((v < floor).sum())} at floor")
    fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * len(levels) + 2), 4.4))  # wide enough for title and labels
    ax.boxplot(data, showfliers=True, flierprops={"markersize": 2})
    ax.set_xticks(range(1, len(levels) + 1), ticks)
    ax.axhline(np.log10(floor), color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("ablation level" + (" (tuned: L4 with the tuned kcats)" if "tuned" in levels else ""))
    ax.set_ylabel("log10 flux variability |max - min|\n[mmol/gDW/h]")
    ax.set_title("Flux variability per ablation level")
    floor_text = f"{floor:g}".replace("e-0", "e-")
    ax.text(0.55, np.log10(floor), f"variability < {floor_text} drawn here",
            fontsize=7, color="0.35", va="bottom")
    for i, d in enumerate(data, start=1):
        if len(d):
            ax.plot(i, np.median(d), "r_", markersize=18)
    return _save(fig, path)


def plot_trajectory(traj: pd.DataFrame, path: Path, target: float | None = None) -> Path:
    """Growth per annealing step: current (solid) and best so far (dashed) per chain."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4))
    for c, d in traj.groupby("chain"):
        col = "current_growth" if "current_growth" in d else "growth"
        line = ax.plot(d["iteration"], d[col], lw=1, label=f"chain {c}")[0]
        ax.plot(d["iteration"], d["best_growth"], ls="--", lw=1, color=line.get_color())
    ax.plot([], [], ls="--", lw=1, color="0.4", label="best so far (dashed)")
    if target is not None:
        ax.axhline(target, color="k", lw=0.8, ls=":", label="target")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    ax.set_xlabel("annealing step")
    ax.set_ylabel("growth [1/h]")
    ax.set_title("Simulated annealing of kcats")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_roc(roc: pd.DataFrame, metrics: pd.DataFrame, path: Path, default_label: str = "model") -> Path:
    """ROC curves over all points, one per model, in one figure (legend with each model's ROC-AUC).

    Parameters
    ----------
    roc : DataFrame
        ``model, condition, fpr, tpr`` (``KnockoutComparison.roc``); only ``condition == "all"`` is drawn.
        Without a ``model`` column the table is one model (``default_label``).
    metrics : DataFrame
        ``model, roc_auc`` (``KnockoutComparison.overall``).
    path : Path
        The PNG written.
    default_label : str
        Model name of tables without a ``model`` column.
    """
    plt = _pyplot()
    if "model" not in roc.columns:
        roc = roc.assign(model=default_label)
    if "model" not in metrics.columns:
        metrics = metrics.assign(model=default_label)
    if "condition" in metrics.columns:
        metrics = metrics[metrics["condition"] == "all"]
    auc = dict(zip(metrics["model"], metrics["roc_auc"]))
    pooled = roc[roc["condition"] == "all"]
    fig, ax = plt.subplots(figsize=(5, 5))
    for label in dict.fromkeys(metrics["model"]):
        d = pooled[pooled["model"] == label]
        if len(d):
            ax.plot(d["fpr"], d["tpr"], lw=1.5, label=f"{label} (AUC {auc.get(label, np.nan):.3f})")
        else:
            ax.plot([], [], lw=1.5, label=f"{label} (no ROC: one class)")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Knockouts: grows vs no growth (conditions pooled)")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_maintenance(grid: pd.DataFrame, path: Path) -> Path:
    """Heat map of growth over the NGAM x GAM grid."""
    plt = _pyplot()
    t = grid.pivot(index="ngam", columns="gam", values="growth")
    fig, ax = plt.subplots(figsize=(6, 4))
    im = ax.imshow(t.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(t.shape[1]), [f"{v:g}" for v in t.columns], rotation=45)
    ax.set_yticks(range(t.shape[0]), [f"{v:g}" for v in t.index])
    ax.set_xlabel("GAM [mmol ATP/gDW]")
    ax.set_ylabel("NGAM [mmol/gDW/h]")
    fig.colorbar(im, ax=ax, label="growth [1/h]")
    return _save(fig, path)


# -- the document ------------------------------------------------------------------------------------------------------
@dataclass
class Table:
    """A table block, with an optional sub-heading above it."""

    df: pd.DataFrame
    heading: str | None = None


@dataclass
class Figure:
    """An image block (a PNG beside the document) with a caption paragraph below it."""

    src: str
    alt: str
    caption: str = ""


Block = str | Table | Figure


@dataclass
class Section:
    """A level-2 heading and its blocks, in order (a ``str`` block is a paragraph)."""

    heading: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """Title, one introductory paragraph, sections."""

    title: str
    intro: str
    sections: list[Section] = field(default_factory=list)


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return "" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def shown_columns(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """The listed columns of a metrics table, without columns that hold no value (e.g. a one-condition mean)."""
    keep = [c for c in cols if c in df.columns and not (df[c].dtype.kind == "f" and df[c].isna().all())]
    return df[keep]


def render_markdown(doc: Document) -> str:
    """The document as Markdown (each block followed by a blank line)."""
    md = [f"# {doc.title}", "", doc.intro, ""]
    for sec in doc.sections:
        md += [f"## {sec.heading}", ""]
        for b in sec.blocks:
            if isinstance(b, Table):
                md += ([f"### {b.heading}", ""] if b.heading else []) + [markdown_table(b.df), ""]
            elif isinstance(b, Figure):
                md += [f"![{b.alt}]({b.src})", ""] + ([b.caption, ""] if b.caption else [])
            else:
                md += [b, ""]
    return "\n".join(md)


_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:auto}"
          ".tbl{border-collapse:collapse}.tbl td,.tbl th{padding:2px 8px;border-bottom:1px solid #ddd}"
          ".caption{font-size:90%;color:#444}")


def render_html(doc: Document) -> str:
    """The document as one self-contained HTML page (figures referenced by file name)."""
    esc = html.escape
    body = [f"<h1>{esc(doc.title)}</h1>", f"<p>{esc(doc.intro)}</p>"]
    for sec in doc.sections:
        body.append(f"<h2>{esc(sec.heading)}</h2>")
        for b in sec.blocks:
            if isinstance(b, Table):
                if b.heading:
                    body.append(f"<h3>{esc(b.heading)}</h3>")
                body.append(b.df.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="tbl"))
            elif isinstance(b, Figure):
                body.append(f'<p><img src="{esc(b.src)}" alt="{esc(b.alt)}"></p>')
                if b.caption:
                    body.append(f'<p class="caption">{esc(b.caption)}</p>')
            else:
                body.append(f"<p>{esc(b)}</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(doc.title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
