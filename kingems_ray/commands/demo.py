"""``kingems-ray demo``: the whole method on cobra's ``textbook`` E. coli core model, through the Ray layer.

predict kcats (predictor actor) -> build the ecGEM at every ablation level -> tune kcats by annealing -> FVA
(plain, ecGEM, tuned) -> gene knockouts -> report with figures. Every step is a set of work units run by the
sweep scheduler on solver-replica actors and written to ``OUT/results`` (a Parquet dataset, resumable: run the
same command again and finished units are skipped). Needs only cobra's built-in model and the package's shipped
kcat checkpoint; with ``../shared/data`` present, database fallbacks and measured essentiality are used as well.
A missing piece (checkpoint, protein sequences, tuning / knockout / report module) stops the demo with a message
naming it: nothing is replaced by a stand-in.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from ..errors import DataNotFoundError, KingemsError

HELP = "run the whole pipeline on the textbook E. coli core model via Ray (predict, build, tune, FVA, knockouts)"

MODEL = "textbook"
LEVELS = ("L2", "L3a", "L3b", "L3c", "L4")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kingems-ray demo``."""
    parser.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray started here)")
    parser.add_argument("--sequences", default=None,
                        help="protein sequences of the model's genes (FASTA/table; default: shipped, else shared data)")
    parser.add_argument("--checkpoint", default=None, help="kcat predictor checkpoint (default: the shipped one)")
    parser.add_argument("--target-growth", type=float, default=0.87,
                        help="growth the annealing aims at [1/h] (kinGEMs' biomass_goal for E. coli: 0.87)")
    parser.add_argument("--iterations", type=int, default=150, help="annealing steps (default 150)")
    parser.add_argument("--workers", type=int, default=None, help="solver actors (default: CPUs - 1, at least 1)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _require_modules() -> None:
    need = {
        "kingems_ray.kcat.build_table": "kcat tables (predictor + fallbacks)",
        "kingems_ray.kcat.actor": "predictor actors",
        "kingems_ray.analysis.tuning": "kcat tuning",
        "kingems_ray.analysis.knockout": "gene knockouts",
        "kingems_ray.analysis.report": "the report",
    }
    missing = []
    for mod, what in need.items():
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name and mod.startswith(exc.name):
                missing.append(f"{mod} ({what})")
            else:
                raise
    if missing:
        raise KingemsError("the demo needs modules that are not in this installation: " + ", ".join(missing))


def find_sequences(explicit: str | None = None) -> Path:
    """Protein sequences for the textbook model's genes (E. coli b-numbers).

    Looked for in order: ``explicit``; FASTA / tables shipped in ``kingems_ray/data`` (``kcat_default/`` or
    ``sequences/``); ``<data>/sequences/ecoli_gp.faa.gz``.

    Raises
    ------
    DataNotFoundError
        When none is found (predictions need sequences; the demo does not fall back silently).
    """
    from ..paths import data_root, package_data

    if explicit:
        p = Path(explicit)
        if not p.exists():
            raise DataNotFoundError(f"sequences file not found: {p}")
        return p
    pats = ("*.faa", "*.faa.gz", "*.fasta", "*.fasta.gz", "*sequences*.csv", "*sequences*.csv.gz")
    for folder in (package_data("kcat_default"), package_data("sequences")):
        if folder.is_dir():
            for pat in pats:
                hits = sorted(folder.glob(pat))
                if hits:
                    return hits[0]
    root = data_root()
    if root is not None and (root / "sequences" / "ecoli_gp.faa.gz").exists():
        return root / "sequences" / "ecoli_gp.faa.gz"
    raise DataNotFoundError(
        "no protein sequences for the textbook model: ship a FASTA of its genes in kingems_ray/data/kcat_default/, "
        "pass --sequences, or set KINGEMS_DATA to the reference data"
    )


def _preflight(checkpoint: Path, sequences: Path | None) -> None:
    """Read the checkpoint and the given sequences once, so that a damaged file is one error line, not a failed
    Ray stage minutes later."""
    from ..kcat.model import load_any_checkpoint
    from ..kcat.pairs import read_sequences

    try:
        load_any_checkpoint(checkpoint)
    except KingemsError:
        raise
    except Exception as exc:  # torch raises several types for a file that is not a checkpoint
        raise KingemsError(f"{checkpoint}: not a readable kcat checkpoint ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:200]})") from exc
    if sequences is None:
        return
    try:
        seqs = read_sequences(sequences)
    except KingemsError:
        raise
    except Exception as exc:  # noqa: BLE001 - undecodable / malformed text of many kinds
        raise KingemsError(f"{sequences}: cannot read protein sequences ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:200]})") from exc
    if not seqs:
        raise KingemsError(f"{sequences}: no protein sequence found (expected FASTA or a gene_id/sequence table)")


def _stage(name: str, units, store, actors, progress: bool, unit_timeout: float = 600.0):
    from ..distributed.scheduler import run_units

    t = time.perf_counter()
    st = run_units(units, store, backend="ray", actors=actors, progress=progress, desc=name, retries=1,
                   unit_timeout=unit_timeout)
    df = store.read()
    mine = df[df["unit_id"].isin([u.unit_id for u in units])]
    bad = mine[mine["status"] != "ok"]
    _say(f"  {name}: {len(units)} units ({st.n_skipped} already done) in {time.perf_counter() - t:.1f} s")
    if len(bad):
        lines = "; ".join(f"{r.label}: {r.error_type}: {r.error_message}" for r in bad.itertuples())
        raise KingemsError(f"demo step {name!r} failed: {lines}")
    return mine.set_index("label")


def _unit(analysis: str, params: dict, label: str):
    from ..store.cache import model_content_id
    from ..store.results import Unit, unit_id

    key = model_content_id(MODEL)
    ident = dict(params)
    ec = ident.get("ec")
    if ec and isinstance(ec.get("kcats"), str) and ec["kcats"] not in ("predicted", "fallback"):
        ident["ec"] = {**ec, "kcats": model_content_id(ec["kcats"])}  # the table's content, not its path
    return Unit(unit_id(key, analysis, ident), MODEL, key, analysis, params, label=label)


def run(args: argparse.Namespace) -> int:
    """Run the demo; prints a summary table and where the report is."""
    import pandas as pd

    t0 = time.perf_counter()
    out = Path(args.out).resolve()
    progress = not args.no_progress
    _require_modules()
    from ..kcat.predict import default_checkpoint_path

    ckpt = Path(args.checkpoint) if args.checkpoint else default_checkpoint_path()
    if not ckpt.exists():
        raise DataNotFoundError(f"kcat checkpoint not found: {ckpt}" + ("" if args.checkpoint else
                                " (the package should ship it; pass --checkpoint)"))
    try:
        seqs = find_sequences(args.sequences)
        shipped = None
    except DataNotFoundError:
        if args.sequences:
            raise
        # A newcomer without the reference data: no protein sequences to predict from. Use the table that the
        # default checkpoint predicted from public UniProt sequences (shipped without the sequences), and say so.
        from ..paths import package_data

        seqs, shipped = None, package_data("kcat_default", "textbook_kcats_predicted.parquet")
    _preflight(ckpt, seqs if args.sequences else None)  # bad inputs fail here, before Ray starts

    from ..analysis.report import write_report
    from ..analysis.tuning import trajectory_path
    from ..distributed.actors import start_solver_actors
    from ..distributed.cluster import connect
    from ..ec.kcats import write_kcat_table
    from ..kcat.actor import start_actors
    from ..kcat.build_table import summarize
    from ..paths import data_root
    from ..store.results import ResultStore

    _say(f"kingems-ray demo: model {MODEL}, sequences {seqs.name if seqs else 'none'}, checkpoint {ckpt.name} "
         f"-> {out}")
    info = connect(args.address, num_cpus=args.num_cpus)
    cpus = float(info["resources"].get("CPU", 1))
    n_solvers = args.workers or max(1, int(cpus) - 1)
    _say(f"ray: {'local' if info['local'] else 'cluster'} with {cpus:g} CPUs; 1 predictor actor, "
         f"{n_solvers} solver actor(s)")
    predictors = start_actors(1, checkpoint=str(ckpt), num_cpus_per_actor=min(1.0, max(cpus - n_solvers, 0.5)))
    solvers = start_solver_actors(n_solvers, cache_dir=out / "cache" / "compiled", predictor_actors=predictors)
    store = ResultStore(out / "results")

    # 1. predict: the kcat table of every (reaction, substrate, enzyme) pair, on the predictor actor
    if shipped is None:
        ec_pred = {"kcats": "predicted", "sequences": str(seqs), "organism": "Escherichia coli",
                   "checkpoint": str(ckpt)}
        u_kcat = _unit("kcat_table", {"ec": ec_pred}, "kcat_table")
        _stage("predict", [u_kcat], store, solvers, progress)
        table = store.read_tables("kcat_table", unit=u_kcat.unit_id).drop(columns=["unit_id"])
    else:
        _say("  predict: no protein sequences here (reference data absent, no --sequences): using the kcat table "
             f"the default checkpoint predicted from UniProt sequences, shipped as {shipped.name}")
        table = pd.read_parquet(shipped)
    counts = summarize(table)
    by_source = counts["pairs_by_source"]
    n_seq = by_source.get("prediction", 0)
    n_free = by_source.get("prediction_sequence_free", 0)
    _say(f"  kcats: {counts['pairs']} reaction-gene pairs, {n_seq} predicted from a sequence, {n_free} "
         f"predicted without one, {counts['pairs'] - n_seq - n_free} from fallbacks")
    if n_seq + n_free == 0:
        raise KingemsError("the predictor scored no pair (no sequence or structure matched): see the kcat table "
                           f"{out / 'results'}")
    kcat_path = out / "kcats_predicted.parquet"
    write_kcat_table(table, kcat_path)

    # 2. build the ecGEM at every ablation level; tune the L4 kcats towards the target growth
    ec = {"kcats": str(kcat_path), "level": "L4", "pool": 0.25}
    build_units = [_unit("fba", {}, "GEM")] + [_unit("ecgem", {"ec": {**ec, "level": lv}}, lv) for lv in LEVELS]
    u_tune = _unit("tune", {"ec": ec, "target_growth": args.target_growth, "iterations": args.iterations,
                            "n_top": 20, "seed": 0}, "tune")
    res = _stage("build+tune", build_units + [u_tune], store, solvers, progress)
    tuned = store.read_tables("tune", unit=u_tune.unit_id).drop(columns=["unit_id"])
    traj = store.read_tables("tune", "trajectory", unit=u_tune.unit_id).drop(columns=["unit_id"])
    tuned_path = out / "kcats_tuned.parquet"
    tuned.to_parquet(tuned_path, index=False)  # kcat table + kcat_original/tuned, as TuneResult.write does
    traj.to_parquet(trajectory_path(tuned_path), index=False)
    _say(f"  tuned: growth {res.loc['tune', 'start_growth']:.3f} -> {res.loc['tune', 'best_growth']:.3f} 1/h "
         f"(target {args.target_growth:g}), {int(res.loc['tune', 'n_kcats_changed'])} kcats changed")
    from ..analysis.tuning import AnnealingSettings
    from .tune import stop_explanation

    tune_note = stop_explanation(tuned, traj, args.target_growth, AnnealingSettings(max_iterations=args.iterations,
                                 n_top=20), reached=bool(res.loc["tune", "reached"]), best_chain=0, flags=False)

    # 3. FVA and knockouts: plain GEM, ecGEM (predicted kcats), ecGEM (tuned kcats)
    ec_tuned = {**ec, "kcats": str(tuned_path)}
    variants = {"GEM": None, "ecGEM": ec, "ecGEM_tuned": ec_tuned}
    fva_units, ko_units = [], []
    for name, e in variants.items():
        base = {"ec": e} if e else {}
        fva_units.append(_unit("fva_summary", {**base, "fraction": 0.9, "table": True}, f"fva_{name}"))
        ko_units.append(_unit("knockout", base, f"knockout_{name}"))
    res3 = _stage("fva+knockouts", fva_units + ko_units, store, solvers, progress)

    # 4. report (figures, Markdown, HTML)
    kos = {}
    for u in ko_units:
        k = store.read_tables("knockout", unit=u.unit_id).drop(columns=["unit_id"])
        kos[u.label.removeprefix("knockout_")] = k.assign(condition="glucose")
    ko = pd.concat([k.assign(model=name) for name, k in kos.items()], ignore_index=True)
    truth_note = "no measured essentiality (reference data absent): knockout accuracy not computed"
    ko_for_report, truth = None, None
    if data_root() is not None:
        from ..analysis.validation_data import ecoli_glucose_essential, essentiality_truth

        ess = ecoli_glucose_essential()
        # One row per model in the report's knockout table, all scored against the same glucose-M9 essential list.
        truth = essentiality_truth(ko["gene_id"].unique(), ess, "glucose")
        ko_for_report = kos
        truth_note = f"knockouts scored against {len(ess)} genes essential on glucose M9 (Baba/Joyce)"
    ko.to_parquet(out / "knockouts.parquet", index=False)
    t = time.perf_counter()
    rep = write_report(MODEL, kcat_path, out / "report", tuned=tuned_path, knockouts=ko_for_report, truth=truth,
                       target_growth=args.target_growth, title="kingems-ray demo: E. coli core (textbook)",
                       knockout_note=None if ko_for_report is not None else (
                           "Knockout accuracy is not computed: the measured essentiality list is part of the reference "
                           "data (../shared/data or $KINGEMS_DATA), which is absent. The knockout screens themselves "
                           f"ran: {out / 'knockouts.parquet'}."))
    _say(f"  report: {time.perf_counter() - t:.1f} s")

    # summary
    rows = []
    for name in variants:
        f, k = res3.loc[f"fva_{name}"], res3.loc[f"knockout_{name}"]
        rows.append({"model": name, "growth": f["growth"], "median_variability": f["median_variability"],
                     "essential_genes": int(k["n_essential"]), "knockout_lps": int(k["n_lp"])})
    summary = pd.DataFrame(rows)
    base = summary.loc[0, "median_variability"]
    summary["fold_narrower"] = base / summary["median_variability"]
    summary.to_csv(out / "summary.csv", index=False)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(truth_note)
    print(tune_note)
    print(f"results: {out / 'results'} (pyarrow.dataset, {len(store.unit_files())} units)")
    print(f"report: {rep.files.get('html')} and {rep.files.get('markdown')}")
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0
