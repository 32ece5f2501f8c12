"""Report of a cohort run: figures and a Markdown summary from the tidy tables in ``OUT/_cohort/``.

Figures (PNG, matplotlib Agg):

* ``growth_heatmap.png``: trade-off growth per taxon x sample (the most prevalent taxa, log scale);
* ``production_by_group.png``: maximal production of the chosen metabolites per sample, by metadata group;
* ``perturbation_effects.png``: effect sizes of perturbations: mean change of community growth and of each
  metabolite's production over samples (with the standard error), per perturbation (taxon removals pooled).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _read(folder: Path, name: str) -> pd.DataFrame:
    p = folder / f"{name}.parquet"
    return pd.read_parquet(p) if p.exists() else pd.DataFrame()


def effect_sizes(pg: pd.DataFrame, pp: pd.DataFrame) -> pd.DataFrame:
    """Per perturbation (taxon removals pooled as ``remove taxon``): mean, SE and n of the change in community
    growth and in each metabolite's maximal production, plus Cohen's d (mean / SD of the per-sample changes)."""
    rows = []
    if len(pg):
        cg = pg.drop_duplicates(["sample_id", "perturbation"]).copy()
        cg["target"] = "community_growth"
        cg["delta"] = cg["community_growth"] - cg["community_growth_base"]
        frames = [cg[["sample_id", "perturbation", "kind", "target", "delta"]]]
    else:
        frames = []
    if len(pp):
        q = pp.rename(columns={"metabolite": "target"})
        frames.append(q[["sample_id", "perturbation", "kind", "target", "delta"]])
    if not frames:
        return pd.DataFrame()
    d = pd.concat(frames, ignore_index=True)
    d["group"] = np.where(d["kind"] == "remove_taxon", "remove taxon", d["perturbation"])
    for (g, t), sub in d.groupby(["group", "target"]):
        v = sub["delta"].astype(float).dropna().to_numpy()
        if not len(v):
            continue
        sd = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        rows.append({"perturbation": g, "target": t, "n": len(v), "mean_delta": float(v.mean()),
                     "se": sd / np.sqrt(len(v)) if len(v) > 1 else float("nan"),
                     "cohens_d": float(v.mean()) / sd if sd and np.isfinite(sd) and sd > 0 else float("nan")})
    return pd.DataFrame(rows)


def write_report(out: str | Path, metadata: str | Path | None = None, group: str = "group",
                 top_taxa: int = 40) -> Path:
    """Figures and ``OUT/report.md`` from ``OUT/_cohort/*.parquet``; returns the Markdown path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    folder = out / "_cohort"
    samples = _read(folder, "samples")
    growth = _read(folder, "growth")
    prod = _read(folder, "production")
    pg = _read(folder, "perturbation_growth")
    pp = _read(folder, "perturbation_production")
    lines = ["# Cohort report", ""]
    if len(samples):
        if "sample_status" in samples:
            ok = samples["sample_status"] == "optimal"
        else:  # older runs: a solved sample has a growth
            ok = samples["community_growth"].notna()
        lines += [f"Samples: {len(samples)}; solved {int(ok.sum())}; with errors {int((~ok).sum())}.", ""]
        bad = samples[~ok]
        if len(bad):
            lines += ["| sample | error |", "|---|---|"]
            for _, r in bad.head(30).iterrows():
                why = r.get("error") or r.get("error_message") or r.get("sample_status")
                lines.append(f"| {r['sample_id']} | {why} |")
            lines.append("")
        g = samples.loc[ok, "community_growth"]
        if len(g):
            lines += [f"Community growth (1/h): median {g.median():.4g}, range {g.min():.4g}-{g.max():.4g}.", ""]
    if len(growth):
        prev = growth.groupby("taxon")["sample_id"].nunique().sort_values(ascending=False)
        taxa = list(prev.index[:top_taxa])
        mat = growth[growth["taxon"].isin(taxa)].pivot_table(index="taxon", columns="sample_id",
                                                              values="growth_rate", aggfunc="first")
        mat = mat.reindex(taxa)
        fig, ax = plt.subplots(figsize=(min(18, 7 + 0.06 * mat.shape[1]), 3 + 0.2 * len(taxa)))
        v = np.log10(np.clip(mat.to_numpy(float), 1e-4, None))
        v[np.isnan(mat.to_numpy(float))] = np.nan
        im = ax.imshow(np.ma.masked_invalid(v), aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_yticks(range(len(taxa)))
        ax.set_yticklabels([t[:40] for t in taxa], fontsize=6)
        ax.set_xlabel(f"sample ({mat.shape[1]})")
        ax.set_xticks([])
        ax.set_title("Trade-off growth, log10 1/h (blank: taxon absent)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.03)
        fig.tight_layout()
        fig.savefig(out / "growth_heatmap.png", dpi=110)
        plt.close(fig)
        lines += ["![growth heat-map](growth_heatmap.png)", ""]
        grow = growth.assign(grows=growth["growth_rate"] > 1e-3)
        lines += [f"Taxa growing (> 1e-3 1/h): {int(grow['grows'].sum())} of {len(grow)} taxon-sample pairs.", ""]
    if len(prod):
        meta = None
        if metadata is not None and Path(metadata).exists():
            meta = pd.read_csv(metadata, sep="," if ".csv" in str(metadata) else "\t")
            meta["sample_id"] = meta["sample_id"].astype(str)
        q = prod.copy()
        q["group"] = "all"
        if meta is not None and group in meta.columns:
            q = q.drop(columns="group").merge(meta[["sample_id", group]].rename(columns={group: "group"}),
                                              on="sample_id", how="left")
            q["group"] = q["group"].fillna("no group")
        mets = list(dict.fromkeys(q["metabolite"]))
        groups = sorted(q["group"].astype(str).unique())
        fig, axes = plt.subplots(1, len(mets), figsize=(3.2 * len(mets), 3.4), squeeze=False)
        for ax, m in zip(axes[0], mets):
            data = [q[(q["metabolite"] == m) & (q["group"].astype(str) == g)]["max_production"].dropna().to_numpy()
                    for g in groups]
            ax.boxplot([d if len(d) else [np.nan] for d in data], tick_labels=groups)
            ax.set_title(m)
            ax.set_ylabel("max production (mmol/gDW/h)")
        fig.suptitle("Maximal production at trade-off growth, per sample group")
        fig.tight_layout()
        fig.savefig(out / "production_by_group.png", dpi=110)
        plt.close(fig)
        lines += ["![production per group](production_by_group.png)", ""]
        tab = q.groupby(["metabolite", "group"])["max_production"].agg(["count", "median", "mean"]).reset_index()
        lines += ["| metabolite | group | n | median | mean |", "|---|---|---|---|---|"]
        lines += [f"| {r.metabolite} | {r.group} | {r['count']} | {r['median']:.4g} | {r['mean']:.4g} |"
                  for _, r in tab.iterrows()]
        lines.append("")
    eff = effect_sizes(pg, pp)
    if len(eff):
        eff.to_parquet(folder / "effect_sizes.parquet", index=False)
        targets = list(dict.fromkeys(eff["target"]))
        perts = list(dict.fromkeys(eff["perturbation"]))
        fig, axes = plt.subplots(1, len(targets), figsize=(3.0 * len(targets), 0.8 + 0.35 * len(perts)),
                                 squeeze=False, sharey=True)
        for ax, t in zip(axes[0], targets):
            sub = eff[eff["target"] == t].set_index("perturbation").reindex(perts)
            ax.barh(range(len(perts)), sub["mean_delta"], xerr=sub["se"].fillna(0), color="tab:blue")
            ax.axvline(0, color="k", lw=0.5)
            ax.set_title(t, fontsize=9)
        axes[0][0].set_yticks(range(len(perts)))
        axes[0][0].set_yticklabels(perts, fontsize=7)
        fig.suptitle("Perturbation effects: mean change vs baseline over samples (+- SE)")
        fig.tight_layout()
        fig.savefig(out / "perturbation_effects.png", dpi=110)
        plt.close(fig)
        lines += ["![perturbation effects](perturbation_effects.png)", "",
                  "| perturbation | target | n | mean change | SE | Cohen's d |", "|---|---|---|---|---|---|"]
        lines += [f"| {r.perturbation} | {r.target} | {r.n} | {r.mean_delta:.4g} | {r.se:.3g} | {r.cohens_d:.3g} |"
                  for r in eff.itertuples()]
        lines.append("")
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n")
    return md
