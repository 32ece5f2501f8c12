"""Abundance-weighted communities with MICOM's cooperative trade-off, and perturbations.

Formulation (as MICOM 0.39 ``Community`` + ``cooperative_tradeoff``; re-implemented on compiled models):

* each taxon ``i`` keeps its own fluxes per gDW of that taxon; its exchanges become transports into one shared
  medium with weight ``a_i`` (relative abundance): ``sum_i a_i v_i,secretion - EX_m = 0``; taxon imports are
  limited to ``max_exchange`` (100, MICOM's default), the diet bounds the medium exchanges ``EX_m``;
* community growth ``mu_c = sum_i a_i mu_i``;
* cooperative trade-off: maximise ``mu_c`` (LP) -> ``mu*``; then with ``f * mu* <= mu_c <= mu*`` minimise
  ``sum_i mu_i^2`` (a QP in the growth rates only, solved exactly by Wolfe's minimum-norm-point algorithm with one
  LP per step on the same HiGHS instance, see :meth:`Community.cooperative_tradeoff`). Growth rates of that QP are
  unique.

Enzyme-constrained taxa (compiled at L4) bring their own protein-pool row ``sum_g MW_g E_g <= P`` in per-taxon
units, which is the pool ``a_i * P`` in community units: each taxon's pool scales with its abundance.

Perturbations run on the same HiGHS instance, edited in place and restored: knock a taxon out, change the diet,
knock out genes in one taxon. ``run_community`` is a plain function a sweep registry can call.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..ec.compile import CompiledModel
from ..errors import Infeasible, KingemsError
from ..solver.highs import PRESOLVE_RULE_AGGREGATOR, PersistentLP
from .diets import Diet, lumen_bounds, read_diet
from .joint import Block, BlockStore, JointLP, assemble, reduce_block
from .models import Member, member_from_compiled

log = logging.getLogger(__name__)

MAX_EXCHANGE = 100.0


@dataclass
class TradeoffResult:
    """Outcome of one cooperative trade-off."""

    status: str
    community_growth: float
    max_community_growth: float
    growth: pd.Series
    x: np.ndarray | None
    seconds: float = 0.0
    #: what ``cooperative_tradeoff(..., then=f)`` returned from ``f(growth)`` (None otherwise)
    after: Any = None
    #: the cuts and bases of an optimal cutting-plane trade-off, for warm starts of perturbed ones (else None)
    state: TradeoffState | None = None

    @property
    def ok(self) -> bool:
        """Whether both the LP and the QP reached an optimum."""
        return self.status == "optimal"


@dataclass(frozen=True)
class TradeoffState:
    """What a later trade-off on the same community can start from (:meth:`Community.cooperative_tradeoff`).

    ``cuts``: the tangent points of every cut in the order they were added (taxon index, growth rate);
    ``scale``: the objective scale of those cuts; ``max_basis``: the max-growth LP's basis; ``cut_basis``: the
    basis of the last cutting-plane LP (over the LP plus epigraph columns and cut rows). Tangent cuts of
    ``mu_i^2`` are valid under-estimators whatever the bounds, so a perturbed community (bounds changed, same
    columns) can reuse them and start the dual simplex from that basis, which stays dual feasible.
    """

    cuts: tuple[tuple[int, float], ...]
    scale: float
    max_basis: object
    cut_basis: object

    def cuts_only(self, old_taxa: list[str], new_taxa: list[str]) -> TradeoffState:
        """The cuts of this state carried to another community (other taxa, abundances or columns), no bases.

        The tangent points stay valid for a taxon of the same name whatever the LP around it; taxa of the new
        community without a stored cut get the default first tangents. Used when a perturbation builds a new
        community (a probiotic added): its cutting planes then start near the optimum instead of from three
        tangents per taxon.
        """
        pos = {t: i for i, t in enumerate(new_taxa)}
        cuts = tuple((pos[old_taxa[i]], m) for i, m in self.cuts if old_taxa[i] in pos)
        return TradeoffState(cuts, self.scale, None, None)


#: Blocks of community members (no coupling rows, MICOM's import limit), shared by every community of a process.
#: An AGORA block holds ~0.1 MB of matrix and bounds (ecGEM or plain), so 256 blocks cost tens of MB while covering
#: the taxa of many samples of a cohort.
_BLOCKS = BlockStore(maxsize=256, prepare=reduce_block)


def community_block(member: Member, max_exchange: float = MAX_EXCHANGE, reduce_enzymes: bool = False) -> Block:
    """The cached block of ``member`` as a :class:`Community` takes it (no coupling rows, the model's exchange bounds,
    imports limited to ``max_exchange``); built once per process, member and setting (a cohort meets each taxon in
    many samples and perturbations; an ecGEM block's enzyme projection costs ~50-80 ms on an AGORA model)."""
    return _BLOCKS.get(member, coupling=None, exchange_bounds=None, max_import=max_exchange,
                       reduce_enzymes=reduce_enzymes)


class Community:
    """A community of compiled taxa in one persistent HiGHS problem.

    Parameters
    ----------
    members : list of Member or CompiledModel
    abundances : sequence of float, optional
        Relative abundances (normalised to sum 1); equal when omitted.
    diet : Diet or str, optional
        Medium (uptake limits on the shared exchanges); everything open at 1000 when omitted.
    max_exchange : float
        Import limit of each taxon's own exchanges (MICOM: 100).
    reduce_enzymes : bool
        ecGEM taxa: project their enzyme and isoenzyme-clause columns out of the LP
        (:func:`~kingems_ray.community.joint.make_block`): the same growth, ~3x faster; kcat samples rewrite the
        pool rows (:mod:`~kingems_ray.community.sampled`). Off where enzyme levels are read.
    """

    def __init__(self, members, abundances=None, diet: Diet | str | None = None,
                 max_exchange: float = MAX_EXCHANGE, reduce_enzymes: bool = False) -> None:
        self.members = [m if isinstance(m, Member) else member_from_compiled(m) for m in members]
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise KingemsError(f"taxon names must be unique, got {names}")
        if not self.members:
            raise KingemsError("a community needs at least one taxon")
        ab = np.ones(len(self.members)) if abundances is None else np.asarray(abundances, float)
        if ab.shape != (len(self.members),) or np.any(ab <= 0) or not np.all(np.isfinite(ab)):
            raise KingemsError("abundances must be one positive number per taxon")
        self.abundances = pd.Series(ab / ab.sum(), index=names)
        self.diet = read_diet(diet) if diet is not None else None
        blocks = [community_block(m, max_exchange, reduce_enzymes) for m in self.members]
        self.joint: JointLP = assemble(blocks, self.diet, weights=self.abundances.to_numpy())
        self.solver = PersistentLP(self.joint.lp, threads=1, presolve=False)
        if any(b.pool_row is not None for b in blocks):
            # Reduced ecGEM taxa bring one dense pool row each. HiGHS's presolve aggregator then spends most of a
            # cold solve substituting into those rows: without it an 8-taxon AGORA ecGEM community's max-growth
            # LP solved in 0.6-1.0 s instead of 1.5-1.6 s (plain communities: no change, so left as they are).
            self.solver.set_option("presolve_rule_off", PRESOLVE_RULE_AGGREGATOR)
        self._n_cols = self.joint.lp.n_cols
        self._bio = [self.joint.growth_cols(i)[0][0] for i in range(len(self.members))]
        # the community-growth row sum_i a_i mu_i (bounds set per trade-off), added once
        w = self.abundances.to_numpy()
        self._growth_row = self.solver.add_row(-np.inf, np.inf, self._bio, w.astype(float))
        self._cost = np.asarray(self.joint.lp.cost, float).copy()
        self._solved = False  # no basis yet: the first LP is solved cold with presolve

    @property
    def taxa(self) -> list[str]:
        """Taxon names."""
        return list(self.abundances.index)

    def _index(self, taxon: str) -> int:
        try:
            return self.taxa.index(taxon)
        except ValueError:
            raise KingemsError(f"unknown taxon {taxon!r}; taxa are {', '.join(self.taxa)}") from None

    # -- solving ------------------------------------------------------------------------------------------
    def _set_growth_cost(self, c: np.ndarray, maximize: bool) -> None:
        cost = np.zeros(self.solver.n_cols)
        cost[self._bio] = c
        self.solver.set_costs(cost, maximize=maximize)

    def _growths(self, x: np.ndarray) -> np.ndarray:
        return np.array([self.joint.growth(x, i) for i in range(len(self.members))])

    def max_growth(self) -> tuple[str, float, np.ndarray | None]:
        """Maximal community growth (LP). The first solve is cold with presolve (about 4x faster than the simplex
        without it on a 20-taxon AGORA community); later ones warm-start from the previous basis."""
        self._set_growth_cost(self.abundances.to_numpy(), maximize=True)
        self.solver.set_row_bounds(self._growth_row, -np.inf, np.inf)
        self.solver.set_strategy("dual")
        res = self.solver.solve_cold(need_x=True) if not self._solved else self.solver.solve(need_x=True)
        self._solved = self._solved or res.ok
        return res.status, res.objective, res.x

    def _oracle(self, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Growth vector (and column vector) minimising ``direction . mu`` over the trade-off set."""
        self._set_growth_cost(direction, maximize=False)
        res = self.solver.solve(need_x=True)
        if not res.ok:
            return None
        return self._growths(res.x), res.x

    def cooperative_tradeoff(self, fraction: float = 0.5, tol: float = 1e-10, max_iter: int = 200,
                             method: str = "cutting_plane", warm: TradeoffState | None = None,
                             then: Callable[[np.ndarray], Any] | None = None) -> TradeoffResult:
        """MICOM's cooperative trade-off: max community growth, then min ``sum mu_i^2`` at ``>= fraction * max``.

        The QP only involves the growth rates. Two exact methods, both on the same HiGHS instance:

        * ``"cutting_plane"`` (default): Kelley's outer approximation of the separable objective. Epigraph columns
          ``t_i >= mu_i^2`` enter as tangent cuts ``t_i >= 2 m mu_i - m^2``; minimise ``sum t_i`` (an LP), add the
          tangent at each new ``mu_i``, repeat. ``sum t`` is a lower bound and ``||mu||^2`` of the LP's point an
          upper bound on the QP optimum; their gap bounds the distance to the unique minimiser
          (``||mu - mu*||^2 <= gap``). The first LP is solved cold with presolve, the rest warm by the dual simplex
          (Devex pricing: new rows make exact steepest-edge weights costly). Cut rows and epigraph columns are
          deleted afterwards and the max-growth basis restored, so the problem keeps its shape.
        * ``"wolfe"``: Wolfe's minimum-norm-point algorithm in growth space, one LP per step (primal simplex warm
          starts); exact but slow beyond ~10 taxa (oracle LPs jump far across the polytope).

        HiGHS' own QP solver (``passHessian``) stopped with a solve error after 15 s on a 20-taxon community.
        ``tol`` is the relative gap ``(||mu||^2 - sum t) / ||mu||^2`` at which the cutting planes stop (they also
        stop when the gap stalls at the LP tolerances). Returns a result with status ``infeasible`` (not an
        exception) when nothing grows.

        ``warm``: the ``state`` of an earlier result on this community (perturbations: bounds changed in place,
        same columns). Both LPs then start from its bases and the cutting planes from its cuts, by the dual simplex
        (bound changes keep a basis dual feasible), instead of cold solves with presolve. The result is the same
        optimum. Every optimal cutting-plane trade-off returns its own ``state`` to reuse.

        A state without bases (:meth:`TradeoffState.cuts_only`) only seeds the cutting planes (cold first LPs).

        ``then``: called as ``then(growth_rates)`` on the optimal trade-off while its last LP is still loaded
        (epigraph columns and cuts in place, the optimal basis current), so that LPs at the trade-off's growth
        rates start primal feasible from it; its value is returned as ``result.after``. With ``wolfe``, and when
        nothing grows (all rates 0, the max-growth LP loaded), it is called after the trade-off.
        """
        if not 0.0 <= fraction <= 1.0:
            raise KingemsError(f"trade-off fraction must be in [0, 1], got {fraction}")
        if method not in ("cutting_plane", "wolfe"):
            raise KingemsError(f"unknown trade-off method {method!r} (cutting_plane, wolfe)")
        t0 = time.perf_counter()
        if warm is not None and warm.max_basis is not None:
            self.solver.set_basis(warm.max_basis)
            self._solved = True
        st, gmax, x = self.max_growth()
        nan = pd.Series(np.nan, index=self.taxa)
        if st != "optimal":
            return TradeoffResult(st, float("nan"), float("nan"), nan, None, time.perf_counter() - t0)
        mu0 = self._growths(x)
        if gmax <= 1e-9:
            zero = mu0 * 0.0
            return TradeoffResult("optimal", 0.0, gmax, pd.Series(zero, index=self.taxa), x,
                                  time.perf_counter() - t0, then(zero) if then is not None else None)
        self.solver.set_row_bounds(self._growth_row, fraction * gmax, gmax)
        try:
            if method == "wolfe":
                self.solver.set_strategy("primal")
                mu, xs, status = self._min_norm_point(mu0, x, 1e-10, max(max_iter, 500))
                after, state = None, None
            else:
                # at fraction 1 the growth row is an equality and HiGHS' first cut LP stalled (trio, > 20 s); a
                # 1e-9 relative slack keeps community growth within 1e-9 of the bound
                self.solver.set_row_bounds(self._growth_row, min(fraction, 1.0 - 1e-9) * gmax, gmax)
                mu, xs, status, after, state = self._cutting_planes(min(fraction, 1.0 - 1e-9) * gmax, tol,
                                                                    max_iter, warm, then)
        finally:
            self.solver.set_strategy("dual")
            self.solver.set_row_bounds(self._growth_row, -np.inf, np.inf)
        if method == "wolfe" and then is not None and status == "optimal":
            after = then(mu)
        g = pd.Series(mu, index=self.taxa)
        return TradeoffResult(status, float((g * self.abundances).sum()), gmax, g, xs, time.perf_counter() - t0,
                              after, state)

    #: Dual simplex iterations a warm-started cutting-plane LP may take before it is re-solved cold with presolve.
    #: Most take tens to a few thousand; a rare one stalls for minutes (seen on a 50-taxon sample under load).
    CUT_WARM_LIMIT = 1500
    #: The same for the first LP of a perturbed trade-off, from the baseline's last cut basis. On a 36-taxon sample
    #: (42 perturbations, in a run with other first tangents) it either took 0-310 iterations or ran past 1,500 (28
    #: of 42, ~2.3 s each) before the cold solve (~1.5 s); a warm iteration there costs ~1.5 ms, a cold solve ~1,000.
    FIRST_CUT_WARM_LIMIT = 400

    #: Warm statuses after which an LP of this class (and a cohort's production LP) is solved cold.
    WARM_RETRY_ON = ("iteration_limit", "unknown", "error", "time_limit", "not_solved")

    def _warm_or_cold(self, limit: int | None = None, need_x: bool = True, max_seconds: float | None = None):
        """One LP: warm simplex (the current strategy) up to ``limit`` iterations (default
        :attr:`CUT_WARM_LIMIT`), else cold with presolve.

        :meth:`PersistentLP.solve_capped` with every undecided status sent cold (also after ``max_seconds`` of
        wall time when given): its warm solve is
        :meth:`PersistentLP.solve` itself, not a policy a caller may have installed on the instance
        (``cohort.use_presolve_fallback`` uses its own limit, which would send the longer early steps cold).
        """
        t0 = time.process_time()
        res = PersistentLP.solve_capped(self.solver, int(self.CUT_WARM_LIMIT if limit is None else limit), need_x,
                                        retry_on=self.WARM_RETRY_ON,
                                        max_seconds=max_seconds)
        log.debug("LP: %s, %.2f s CPU", res.status, time.process_time() - t0)
        return res

    def _cutting_planes(self, target: float, tol: float, max_iter: int, warm: TradeoffState | None = None,
                        then: Callable[[np.ndarray], Any] | None = None):
        """Kelley's cutting planes for ``min sum mu_i^2`` (see :meth:`cooperative_tradeoff`)."""
        s = self.solver
        n = len(self.members)
        bio = np.asarray(self._bio)
        a = self.abundances.to_numpy()
        n_cols, n_rows = s.n_cols, s.n_rows
        basis = s.basis()  # the max-growth vertex, restored afterwards
        tcols = s.add_cols(np.ones(n), np.zeros(n), np.full(n, np.inf))
        cuts: list[tuple[int, float]] = []

        def add_cuts(taxa: np.ndarray, m: np.ndarray) -> None:
            k = taxa.size
            cuts.extend(zip(taxa.tolist(), np.asarray(m, float).tolist()))
            rows = sp.csr_matrix((np.column_stack([np.ones(k), -2.0 * scale * m]).ravel(),
                                  np.column_stack([tcols[taxa], bio[taxa]]).ravel(), np.arange(0, 2 * k + 1, 2)),
                                 shape=(k, s.n_cols))
            s.add_rows(-scale * m * m, np.full(k, np.inf), rows)

        # first tangents around the unconstrained optimum mu_i = c a_i (every taxon at the same share of a_i)
        c = target / (a @ a)
        # t_i estimates scale * mu_i^2 ~ 1 for the largest taxon: the LP's absolute tolerances (1e-9) then limit
        # the gap relative to the objective, not to a tiny sum of squares (growth rates agree with the exact
        # min-norm point to ~1e-4 relative instead of ~1e-3)
        scale = 1.0 / (c * a.max()) ** 2
        warm_basis = warm is not None and bool(warm.cuts) and warm.cut_basis is not None
        if warm is not None and warm.cuts:
            if warm_basis:
                scale = warm.scale  # the stored basis belongs to cut rows of that scale
            tw, mw = np.array(warm.cuts, dtype=float).T
            add_cuts(tw.astype(int), mw)
        uncut = np.setdiff1d(np.arange(n), [i for i, _ in cuts])
        for g in (0.5, 1.0, 2.0):
            if uncut.size:
                add_cuts(uncut, g * c * a[uncut])
        cost = np.zeros(s.n_cols)
        cost[tcols] = 1.0
        s.set_costs(cost, maximize=False)
        s.set_strategy("dual")
        best_ub, best_mu, best_x = np.inf, None, None
        best_gap, stall = np.inf, 0
        status = "iteration_limit"
        try:
            with s.option("simplex_dual_edge_weight_strategy", 1):
                if warm_basis:
                    s.set_basis(warm.cut_basis)
                    res = self._warm_or_cold(self.FIRST_CUT_WARM_LIMIT)
                else:
                    res = s.solve_cold(need_x=True)
                for _ in range(max_iter):
                    if not res.ok:
                        status = res.status
                        break
                    mu, t = res.x[bio], res.x[tcols]
                    ub = float(mu @ mu)
                    if ub < best_ub:  # every LP point is feasible: keep the one of least norm
                        best_ub, best_mu, best_x = ub, mu.copy(), res.x[:n_cols].copy()
                    gap = best_ub - float(t.sum()) / scale  # sum t only grows: a valid lower bound on the optimum
                    gscale = max(best_ub, 1e-12)
                    if gap <= tol * gscale:
                        status = "optimal"
                        break
                    log.debug("cutting planes: |mu|^2 %.10g, gap %.3g (rel %.2g)", best_ub, gap, gap / gscale)
                    # near the end the gap stalls at the LP tolerances (1e-9): no further progress possible
                    stall = 0 if gap < 0.5 * best_gap or gap > 1e-7 * gscale else stall + 1
                    best_gap = min(best_gap, gap)
                    if stall >= 3:
                        status = "optimal"
                        break
                    new = np.nonzero(mu * mu - t / scale > 1e-12 * gscale)[0]
                    if new.size == 0:
                        status = "optimal"
                        break
                    log.debug("cutting planes: %d new cuts", new.size)
                    add_cuts(new, mu[new])
                    res = self._warm_or_cold()
            after, state = None, None
            if status == "optimal" and best_mu is not None:
                state = TradeoffState(tuple(cuts), scale, basis, s.basis())  # one cut per added row
                if then is not None:
                    after = then(best_mu)
        finally:
            s.truncate(n_cols, n_rows, basis)
        if best_mu is None:
            return np.full(n, np.nan), None, status, None, None
        return best_mu, best_x, status, after, state

    def _min_norm_point(self, mu0, x0, tol, max_iter):
        """Wolfe (1976): the point of minimal Euclidean norm in the polytope of feasible growth vectors."""
        pts = [mu0]
        xs = [x0]
        lam = np.array([1.0])
        mu = mu0.copy()
        for _ in range(max_iter):
            got = self._oracle(mu)
            if got is None:
                return mu, None, "error"
            p, xp = got
            if mu @ mu - mu @ p <= tol * max(1.0, mu @ mu):
                break
            pts.append(p)
            xs.append(xp)
            lam = np.append(lam, 0.0)
            for _minor in range(len(pts) + 5):
                P = np.array(pts)
                k = len(pts)
                # affine minimiser: min ||alpha P||^2, sum alpha = 1
                M = np.zeros((k + 1, k + 1))
                M[:k, :k] = P @ P.T
                M[:k, k] = 1.0
                M[k, :k] = 1.0
                rhs = np.zeros(k + 1)
                rhs[k] = 1.0
                alpha = np.linalg.lstsq(M, rhs, rcond=None)[0][:k]
                if np.all(alpha > 1e-12):
                    lam = alpha
                    break
                neg = alpha <= 1e-12
                theta = np.min(lam[neg] / np.maximum(lam[neg] - alpha[neg], 1e-300))
                lam = theta * alpha + (1 - theta) * lam
                keep = lam > 1e-12
                pts = [q for q, kk in zip(pts, keep) if kk]
                xs = [q for q, kk in zip(xs, keep) if kk]
                lam = lam[keep] / lam[keep].sum()
            mu = lam @ np.array(pts)
        else:
            return mu, None, "iteration_limit"
        # a column vector for the min-norm growth: convex combination of the vertices' solutions
        x = sum(lv * xv for lv, xv in zip(lam, xs))
        return mu, x, "optimal"

    # -- reading solutions --------------------------------------------------------------------------------
    def exchanges(self, x: np.ndarray, tol: float = 1e-6) -> pd.DataFrame:
        """Each taxon's exchanges in a solution.

        Returns
        -------
        DataFrame
            ``taxon, metabolite, flux, community_flux``: ``flux`` per gDW of the taxon (secretion > 0, uptake < 0),
            ``community_flux = abundance * flux``.
        """
        rows = []
        for i, blk in enumerate(self.joint.blocks):
            v = x[self.joint.col_offset[i] + blk.env_cols] * blk.env_coef
            a = self.abundances.iloc[i]
            for k, f in zip(blk.env_keys, v):
                if abs(f) > tol:
                    rows.append((self.taxa[i], k, float(f), float(a * f)))
        return pd.DataFrame(rows, columns=["taxon", "metabolite", "flux", "community_flux"])

    def cross_feeding(self, x: np.ndarray, tol: float = 1e-6) -> pd.DataFrame:
        """Metabolites secreted by one taxon and taken up by another.

        Returns
        -------
        DataFrame
            ``metabolite, producers, consumers, produced, consumed`` (community-weighted fluxes).
        """
        ex = self.exchanges(x, tol)
        rows = []
        for met, grp in ex.groupby("metabolite"):
            prod = grp[grp["community_flux"] > tol]
            cons = grp[grp["community_flux"] < -tol]
            if len(prod) and len(cons):
                rows.append((met, ";".join(prod["taxon"]), ";".join(cons["taxon"]),
                             float(prod["community_flux"].sum()), float(-cons["community_flux"].sum())))
        return pd.DataFrame(rows, columns=["metabolite", "producers", "consumers", "produced", "consumed"])

    # -- perturbations (in place, restored) ---------------------------------------------------------------
    @contextlib.contextmanager
    def _cols_fixed(self, cols: list[int]) -> Iterator[None]:
        cols_a = np.asarray(cols, dtype=int)
        with self.solver.temporary_col_bounds(cols_a, np.zeros(cols_a.size), np.zeros(cols_a.size)):
            yield

    @contextlib.contextmanager
    def without_taxon(self, taxon: str) -> Iterator[None]:
        """All reactions of ``taxon`` blocked (as MICOM's ``knockout_taxa``), restored on exit."""
        i = self._index(taxon)
        off, n = self.joint.col_offset[i], self.joint.blocks[i].n_cols
        with self._cols_fixed(list(range(off, off + n))):
            yield

    @contextlib.contextmanager
    def with_diet(self, diet: Diet | str) -> Iterator[list[str]]:
        """Medium exchanges bounded by another diet, restored on exit; yields the unmatched components."""
        d = read_diet(diet)
        lb, ub, unmatched = lumen_bounds(d, self.joint.env_keys)
        cols = self.joint.env_col0 + np.arange(len(self.joint.env_keys))
        with self.solver.temporary_col_bounds(cols, lb, ub):
            yield unmatched

    def knockout_columns(self, taxon: str, genes: list[str]) -> list[int]:
        """Columns of ``taxon`` disabled by knocking out ``genes`` (GPR evaluation)."""
        i = self._index(taxon)
        cm = self.members[i].compiled
        known = set(cm.gene_ids)
        missing = [g for g in genes if g not in known]
        if missing:
            raise KingemsError(f"genes not in {taxon}: {', '.join(missing[:5])}")
        # Flux columns only (as before the enzyme columns were counted in knockout screens): a member's E_g stays free.
        local = self.joint.blocks[i].local_cols(list(cm.knockout_columns(genes, enzymes=False)), skip_zero=True)
        # merged pathways: several reactions share one column (fixing it blocks them all)
        return [self.joint.col_offset[i] + int(c) for c in dict.fromkeys(local.tolist())]

    @contextlib.contextmanager
    def with_gene_knockout(self, taxon: str, genes: list[str]) -> Iterator[list[int]]:
        """Genes knocked out in one taxon, restored on exit; yields the blocked columns."""
        cols = self.knockout_columns(taxon, genes)
        with self._cols_fixed(cols):
            yield cols


def growth_change(base: TradeoffResult, new: TradeoffResult, perturbation: str) -> pd.DataFrame:
    """Per-taxon growth before and after a perturbation."""
    df = pd.DataFrame({"taxon": base.growth.index, "growth_base": base.growth.to_numpy(),
                       "growth_perturbed": new.growth.reindex(base.growth.index).to_numpy()})
    df["change"] = df["growth_perturbed"] - df["growth_base"]
    df["perturbation"] = perturbation
    df["status"] = new.status
    return df


def run_community(
    members: list[Member | CompiledModel],
    abundances=None,
    diet: Diet | str | None = "western",
    tradeoff: float = 0.5,
    perturbations: list[dict] | None = None,
    max_exchange: float = MAX_EXCHANGE,
    reduce_enzymes: bool = True,
) -> dict:
    """Cooperative trade-off of a community plus optional perturbations.

    Parameters
    ----------
    members : list of Member or CompiledModel
    abundances : sequence, optional
    diet : Diet or str
    tradeoff : float
        Fraction of the maximal community growth kept.
    perturbations : list of dict, optional
        Each ``{"kind": "remove_taxon", "taxon": T}``, ``{"kind": "diet", "diet": D}`` or
        ``{"kind": "gene_knockout", "taxon": T, "genes": [...]}``.
    reduce_enzymes : bool
        ecGEM taxa in the reduced form (see :class:`Community`); same growth, faster.

    Returns
    -------
    dict
        ``growth`` (DataFrame taxon, abundance, growth), ``community_growth``, ``max_community_growth``, ``status``,
        ``exchanges``, ``cross_feeding``, ``perturbations`` (DataFrame of per-taxon growth changes),
        ``perturbation_cross_feeding`` (DataFrame), ``seconds``.
    """
    t0 = time.perf_counter()
    com = Community(members, abundances, diet, max_exchange=max_exchange, reduce_enzymes=reduce_enzymes)
    base = com.cooperative_tradeoff(tradeoff)
    state = base.state  # perturbations (bounds changed in place) start from the baseline's cuts and bases
    growth = pd.DataFrame({"taxon": com.taxa, "abundance": com.abundances.to_numpy(),
                           "growth": base.growth.to_numpy()})
    ex = com.exchanges(base.x) if base.x is not None else pd.DataFrame()
    xf = com.cross_feeding(base.x) if base.x is not None else pd.DataFrame()
    changes, pxf = [], []
    for p in perturbations or []:
        kind = p.get("kind")
        if kind == "remove_taxon":
            ctx, label = com.without_taxon(p["taxon"]), f"remove {p['taxon']}"
        elif kind == "diet":
            d = read_diet(p["diet"])
            ctx, label = com.with_diet(d), f"diet {d.name}"
        elif kind == "gene_knockout":
            ctx, label = com.with_gene_knockout(p["taxon"], list(p["genes"])), \
                f"knockout {'+'.join(p['genes'])} in {p['taxon']}"
        else:
            raise KingemsError(f"unknown perturbation {kind!r} (remove_taxon, diet, gene_knockout)")
        with ctx:
            new = com.cooperative_tradeoff(tradeoff, warm=state)
        changes.append(growth_change(base, new, label))
        if new.x is not None:
            c = com.cross_feeding(new.x)
            c.insert(0, "perturbation", label)
            pxf.append(c)
    return {
        "status": base.status, "community_growth": base.community_growth,
        "max_community_growth": base.max_community_growth, "growth": growth, "exchanges": ex,
        "cross_feeding": xf, "perturbations": pd.concat(changes, ignore_index=True) if changes else pd.DataFrame(),
        # empty frames (no cross-feeding under a perturbation) left out: pandas warns on concatenating them
        "perturbation_cross_feeding": pd.concat([c for c in pxf if len(c)] or pxf, ignore_index=True)
        if pxf else pd.DataFrame(),
        "unmatched_diet": com.joint.unmatched, "seconds": time.perf_counter() - t0,
    }


__all__ = ["Community", "TradeoffResult", "run_community", "growth_change", "Infeasible"]
