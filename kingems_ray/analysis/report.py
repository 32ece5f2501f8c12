"""The paper's table for one model, as Markdown + HTML with figures and the Parquet behind them.

Contents:

* flux-variability ablation: growth and median / mean flux variability (``|max - min|`` at ``fraction`` of the
  optimum) for every ablation level (L1 ... L4) and, when given, the tuned kcats (row ``tuned``: L4 with the kcats
  ``kingems-ray tune`` wrote; kinGEMs calls it L5, a level the CLI does not have), with a figure of the per-reaction
  variability distributions;
* the annealing trajectory (growth per step and chain) when a tuned table comes with its trajectory;
* knockout accuracy of one or several models side by side (e.g. the plain GEM, the ecGEM and the tuned ecGEM): per
  model n, accuracy, balanced accuracy, MCC, ROC-AUC, PR-AUC of both classes and, with several conditions, the mean
  over conditions of the per-condition ROC-AUC; a model x condition table; one ROC curve per model in one figure.
  Without knockout tables the section says why it is empty;
* the maintenance (NGAM x GAM) grid as a heat map, when given.

The work is split in three: :mod:`.report_tables` computes the model tables (it is the one place the report builds
ecGEMs), :mod:`.report_knockouts` joins knockout screens with a truth and scores them (as ``kingems-ray evaluate
knockouts`` does), :mod:`.report_render` draws the figures and renders one document as Markdown and as HTML. This
module puts them together (:func:`write_report`) and re-exports their public names. Nothing here knows about Ray.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cobra
import numpy as np
import pandas as pd

from ..gem.io import load_model
from .metrics import GROWTH_THRESHOLD, SCORE_DECIMALS
from .report_knockouts import (
    DEFAULT_LABEL,
    KNOCKOUT_SCORES,
    TRUTH_COLUMNS,
    KnockoutComparison,
    KnockoutInput,
    knockout_comparison,
    knockout_roc,
    knockout_tables,
    prepare_knockouts,
    resolve_condition_map,
    resolve_truth,
)
from .report_render import (
    VARIABILITY_FLOOR,
    Document,
    Figure,
    Section,
    Table,
    markdown_table,
    plot_maintenance,
    plot_roc,
    plot_trajectory,
    plot_variability,
    render_html,
    render_markdown,
    shown_columns,
)
from .report_tables import (
    DEFAULT_LEVELS,
    TUNED,
    ReportInputError,
    ablation_fva,
    annealing_table,
    maintenance_table,
    read_table,
    tuned_changes,
    tuned_inputs,
)
from .tuning import TuneResult

__all__ = [
    "DEFAULT_LABEL",
    "DEFAULT_LEVELS",
    "GROWTH_THRESHOLD",
    "KNOCKOUT_SCORES",
    "TRUTH_COLUMNS",
    "KnockoutComparison",
    "Report",
    "ReportInputError",
    "ablation_fva",
    "knockout_comparison",
    "knockout_roc",
    "knockout_tables",
    "markdown_table",
    "plot_maintenance",
    "plot_roc",
    "plot_trajectory",
    "plot_variability",
    "prepare_knockouts",
    "resolve_condition_map",
    "resolve_truth",
    "write_report",
]

#: Columns of the knockout tables in the Markdown / HTML report (the Parquet files hold every metric).
_OVERALL_SHOWN = ("model", "n", "n_grow", "n_no_growth", "accuracy", "balanced_accuracy", "mcc", "roc_auc", "pr_auc",
                  "pr_auc_no_growth", "mean_condition_roc_auc")
_CONDITION_SHOWN = ("model", "condition", "n", "n_no_growth", "accuracy", "roc_auc")
#: Why the knockout section is empty when the caller does not say.
NO_KNOCKOUTS = ("not computed: no knockout tables were given (`--knockouts LABEL=PATH`, scored against `--truth` or "
                "a `grows` column in each table)")


@dataclass
class Report:
    """What :func:`write_report` produced: output paths and the tables behind them."""

    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    #: One row per knockout model: ``model`` and every metric (see :func:`knockout_comparison`).
    knockout_summary: pd.DataFrame | None = None
    #: One row per knockout model x condition.
    knockout_conditions: pd.DataFrame | None = None


def write_report(
    model,
    kcats,
    out_dir: str | Path,
    *,
    tuned: TuneResult | pd.DataFrame | str | Path | None = None,
    trajectory: pd.DataFrame | str | Path | None = None,
    knockouts: KnockoutInput | Mapping[str, KnockoutInput] | None = None,
    truth: str | Path | pd.DataFrame | None = None,
    condition_map: Mapping[str, str] | str | Path | None = None,
    score: str = "growth",
    growth_threshold: float = GROWTH_THRESHOLD,
    maintenance: pd.DataFrame | str | Path | None = None,
    levels: Sequence[str] = DEFAULT_LEVELS,
    fraction: float = 0.9,
    processes: int = 1,
    pool: float = 0.25,
    target_growth: float | None = None,
    title: str | None = None,
    knockout_note: str | None = None,
) -> Report:
    """Write ``report.md``, ``report.html``, PNG figures and Parquet tables for one model into ``out_dir``.

    Parameters
    ----------
    model : path, builtin name or cobra.Model
    kcats : path or DataFrame
        The kcat table (predicted kcats); ``None`` is enough for ``levels=["L1"]``.
    out_dir : path
    tuned : TuneResult, DataFrame or path, optional
        Tuned kcat table; a path's trajectory (``<stem>_trajectory.parquet``) is picked up when present.
    trajectory : DataFrame or path, optional
        Annealing trajectory (overrides the one found next to ``tuned``).
    knockouts : DataFrame, path or mapping, optional
        Knockout results (``gene_id, condition, growth, status``, ``relative_growth``) of one model (label
        ``"model"``) or ``{label: table or path}`` of several (e.g. ``{"plain": ..., "ecGEM L4": ..., "tuned": ...}``),
        shown side by side in input order.
    truth : str, path or DataFrame, optional
        What the knockouts are scored against: a truth set name (``ecoli-keio-fitness``, ``ecoli-glc-essential``,
        ``selongatus-bg11``, ``putida-mutants``), a CSV (``gene_id, condition, grows`` or ``fitness``) or a table.
        Each knockout table is joined with it as ``kingems-ray evaluate knockouts`` joins it (with this ``model``
        as ``--model``). Without a truth, every knockout table must carry ``grows`` / ``truth``.
    condition_map : mapping, str or path, optional
        Knockout condition -> truth condition (mapping, JSON file or inline JSON). By default, screens naming
        conditions by exchange id (``--carbon-sources``) are mapped to ``ecoli-keio-fitness``'s names automatically.
    score : {"growth", "relative_growth"}
        Score ranked by ROC-AUC / PR-AUC.
    growth_threshold : float
        Predicted growth above this [1/h] means the knockout grows (0.001).
    maintenance : DataFrame or path, optional
        A grid from :func:`kingems_ray.analysis.maintenance.maintenance_sweep`.
    levels, fraction, processes, pool
        FVA settings (fraction of optimal growth kept; 0.9 as in the paper).
    target_growth : float, optional
        Drawn on the trajectory figure.
    title : str, optional
        The document's title.
    knockout_note : str, optional
        Without ``knockouts``: why there are none, shown in place of the knockout section (default: a sentence
        naming the options that add it).

    Returns
    -------
    Report
        Files written: ``markdown``, ``html``, ``summary`` (ablation_summary.parquet), ``fva``, ``fig_variability``
        and, with their inputs, ``trajectory``, ``fig_trajectory``, ``knockout_metrics`` (one row per model, column
        ``model``), ``knockout_conditions`` (model x condition), ``roc`` (``model, condition, fpr, tpr, threshold``),
        ``fig_roc``, ``fig_maintenance``.

    Raises
    ------
    ReportInputError
        Missing or unusable inputs; knockout inputs are checked (and scored) before the FVA runs.
    """

    model_name = getattr(model, "id", None) or Path(str(model)).name
    out = Path(out_dir)
    # Knockout inputs first: a bad table, label or truth fails in seconds, not after minutes of FVA.
    if knockouts is None and (truth is not None or condition_map):
        raise ReportInputError("a truth set / condition map was given without knockout tables to score")
    cmodel = model if isinstance(model, cobra.Model) else load_model(model)  # loaded once: truth sets + FVA
    comp = None
    if knockouts is not None:
        comp = knockout_comparison(knockouts, truth, condition_map, model=cmodel, score=score,
                                   threshold=growth_threshold)
    tuned_table, traj = tuned_inputs(tuned, trajectory)
    grid = read_table(maintenance, what="maintenance grid")

    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out_dir=out)
    rep.summary, fva = ablation_fva(cmodel, kcats, levels=levels, tuned=tuned_table, fraction=fraction,
                                    processes=processes, pool=pool)
    doc = Document(title=title or f"kingems-ray report: {model_name}",
                   intro=f"Model `{model_name}`; FVA at {fraction:g} of optimal growth; enzyme pool {pool:g} g/gDW.")
    doc.sections.append(_fva_section(rep, fva, fraction))
    if traj is not None and len(traj):
        doc.sections.append(_annealing_section(rep, traj, target_growth))
    changes = tuned_changes(tuned_table)
    if changes is not None:  # below the annealing figure, or the FVA one when there is no trajectory
        doc.sections[-1].blocks.append(
            f"{changes['n_changed']} kcats changed by tuning; median fold change {changes['median']:.3g} "
            f"(range {changes['min']:.3g} to {changes['max']:.3g}).")
    if comp is not None:
        auto_map = condition_map is None
        doc.sections.append(_knockout_section(rep, comp, auto_map, score, growth_threshold))
    else:
        doc.sections.append(Section("Gene knockouts", [knockout_note or f"Knockout accuracy {NO_KNOCKOUTS}."]))
    if grid is not None:
        rep.files["fig_maintenance"] = plot_maintenance(grid, out / "maintenance.png")
        doc.sections.append(Section("Maintenance sweep (growth)", [Table(maintenance_table(grid)),
                                                                  Figure("maintenance.png", "maintenance")]))
    rep.files["markdown"] = out / "report.md"
    rep.files["markdown"].write_text(render_markdown(doc))
    rep.files["html"] = out / "report.html"
    rep.files["html"].write_text(render_html(doc))
    return rep


def _parquet(rep: Report, key: str, name: str, table: pd.DataFrame) -> None:
    rep.files[key] = rep.out_dir / name
    table.to_parquet(rep.files[key], index=False)


def _fva_section(rep: Report, fva: pd.DataFrame, fraction: float) -> Section:
    """The ablation table and its figure (writes ``summary``, ``fva`` and ``fig_variability``)."""
    _parquet(rep, "summary", "ablation_summary.parquet", rep.summary)
    _parquet(rep, "fva", "fva.parquet", fva)
    rep.files["fig_variability"] = plot_variability(fva, rep.out_dir / "flux_variability.png")
    floor = VARIABILITY_FLOOR
    caption = (f"Each box shows the flux variability |max - min| of every reaction at {fraction:g} of optimal growth "
               "(log10 scale; the line in each box is the median). A log axis cannot show zero, so reactions whose "
               f"variability is below {_sci(floor)} mmol/gDW/h (fluxes fixed by the constraints) are drawn at "
               f"{_sci(floor)} (log10 = {np.log10(floor):g}, dotted line); the tick labels count them.")
    if TUNED in set(rep.summary["level"]):
        caption += " The row `tuned` is level L4 with the kcats written by `kingems-ray tune` (kinGEMs' \"L5\")."
    return Section("Flux variability per ablation level",
                   [Table(rep.summary.drop(columns=["seconds"])),
                    Figure("flux_variability.png", "flux variability", caption)])


def _annealing_section(rep: Report, traj: pd.DataFrame, target_growth: float | None) -> Section:
    """The per-chain table and the trajectory figure (writes ``trajectory`` and ``fig_trajectory``)."""
    _parquet(rep, "trajectory", "annealing_trajectory.parquet", traj)
    rep.files["fig_trajectory"] = plot_trajectory(traj, rep.out_dir / "annealing.png", target_growth)
    return Section("Annealing trajectory", [Table(annealing_table(traj)), Figure("annealing.png", "annealing")])


def _knockout_section(rep: Report, comp: KnockoutComparison, auto_map: bool, score: str,
                      threshold: float) -> Section:
    """Knockout metrics per model and per condition, and the ROC figure (writes the Parquet tables and ``fig_roc``)."""
    rep.knockout_summary, rep.knockout_conditions = comp.overall, comp.by_condition
    _parquet(rep, "knockout_metrics", "knockout_metrics.parquet", comp.overall)
    _parquet(rep, "knockout_conditions", "knockout_conditions.parquet", comp.by_condition)
    _parquet(rep, "roc", "roc.parquet", comp.roc)
    rep.files["fig_roc"] = plot_roc(comp.roc, comp.overall, rep.out_dir / "roc.png", DEFAULT_LABEL)
    mapped = ""
    if comp.condition_map:
        mapped = (" (knockout conditions named by exchange id mapped to the truth's names)" if auto_map
                  else f" (condition map of {len(comp.condition_map)} entries)")
    text = (f"{len(comp.overall)} model(s) scored against {comp.truth}{mapped}. A knockout is predicted to grow "
            f"when its growth exceeds {threshold:g} 1/h; ROC-AUC and PR-AUC rank knockouts by `{score}` "
            f"(rounded to 1e-{SCORE_DECIMALS}); pr_auc_no_growth ranks the no-growth class. "
            "mean_condition_roc_auc: mean over conditions holding both classes of the per-condition ROC-AUC.")
    return Section("Gene knockouts", [text, Table(shown_columns(comp.overall, _OVERALL_SHOWN)),
                                      Table(shown_columns(comp.by_condition, _CONDITION_SHOWN), "Per condition"),
                                      Figure("roc.png", "ROC")])


def _sci(v: float) -> str:
    """``1e-06`` -> ``1e-6``."""
    return f"{v:g}".replace("e-0", "e-").replace("e+0", "e+")
