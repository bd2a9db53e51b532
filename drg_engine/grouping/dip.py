"""DIP (按病种分值付费) group assignment of a clean claim batch: gathers over candidate pairs.

The national matching order (reference §2.2-§2.7), for all claims at once:

1. **Pre-processing** - codes are normalised; a claim without a diagnosis, with a principal
   diagnosis that is not an ICD-10 code, or with one on the excluded-principal list (sheet 五)
   is not grouped (with its reason); procedures on the excluded-procedure list are dropped, and
   the principal procedure is the first one left.
2. **Candidates** - each group is anchored on a diagnosis prefix (principal position, or any
   position for the low-birth-weight pre-groups) or, for the pre-groups that take any
   diagnosis, on a procedure code. Codes are integer ids of the rule set's known codes
   (``drg_engine.dip.code_facts``: one hash lookup per cell, the string work once per code),
   which keep per principal-diagnosis code and claim kind (treatment type, conservative or not)
   the groups it anchors, all prefix lengths at once: one gather turns every claim into its
   candidate (claim, group) pairs; there is no Python loop over claims. The treatment type of
   comprehensive groups and the conservative condition of medical groups depend only on the
   kind, so they are settled there; without evidence only the candidates that can still win
   are kept (none ranked after a group without claim conditions).
3. **Conditions** - evaluated on the pairs: newborn age and birth-weight band, secondary
   diagnosis spec (burns, tumours), the procedure expression (``|`` any of, ``+`` all of; the
   principal procedure must be in the alternative unless the group takes procedures anywhere)
   and related procedures (counted: the partial-match rule), each on the few cells that can
   match (codes on some list).
4. **Choice** - per claim the candidate with the smallest key: stage (pre-group, merge,
   assisted, base, basic, comprehensive), then longest diagnosis code first, conservative
   fallback last, most related procedures first, then the rule set's regional tie-break
   strategies, then catalogue order. Pre-groups are taken in workbook order.
5. **Comprehensive groups** - a claim with no core or basic group goes to its listed
   comprehensive group, or (``comprehensive = "generated"``) to 3-character category x
   treatment type of its principal procedure; otherwise it is ungrouped (or the blank group).
6. **Auxiliary typing** - CCI score and level, disease or tumour severity, age band and
   death/transfer are computed for every claim; the auxiliary type applied is the one with the
   highest coefficient m_j / M the rule set defines for the claim's group.

With ``evidence`` the result also carries what the decision rested on (matched diagnosis prefix,
principal and matched procedures, dropped procedures, the ranked candidates, which key decided,
the CCI components and severity codes), which ``drg explain --scheme dip`` renders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.dip.code_facts import (
    CCI_MASK,
    CLAIM_KINDS,
    MALIGNANT_BIT,
    SEVERITY_SHIFT,
    DxFacts,
    KnownCodes,
    PxFacts,
    claim_kind,
    kind_allows,
    known_codes,
    procedure_facts,
)
from drg_engine.dip.codes import CodeList, expand, list_column, member_any
from drg_engine.dip.compiled import (
    COMPREHENSIVE,
    STAGES,
    TREATMENT_CODES,
    TREATMENT_ZH,
    TREATMENTS,
    CompiledDip,
)

CHUNK_ROWS = 131_072
STATUSES = ("GROUPED", "UNGROUPED", "BLANK")
REASONS: dict[str, str] = {
    "NO_DIAGNOSIS": "the claim has no diagnosis",
    "PDX_INVALID": "the principal diagnosis is not an ICD-10 code",
    "PDX_EXCLUDED": "the principal diagnosis is on the rule set's excluded-principal list",
    "NO_GROUP": "no pre-group, core, basic-level or comprehensive group of the rule set fits",
}
REASON_CODES = ("", *REASONS)
SEVERITY_LABELS = ("SEV:death", "SEV:severe", "SEV:moderate", "SEV:mild",
                   "TUM:death", "TUM:metastasis", "TUM:severe", "TUM:moderate", "TUM:other")
DISCHARGE_LABELS = ("OUT:death", "OUT:transfer")
BASE_KEYS = ("stage", "longest_code", "conservative_fallback", "related_count")

# Columns of few distinct values are dictionary-encoded (the same values; Parquet stores them
# as dictionaries, polars reads them as categoricals): no string is copied per row.
LABEL_TYPE = pa.dictionary(pa.int32(), pa.string())
RESULT_FIELDS = [
    pa.field("claim_id", pa.string()),
    pa.field("dip_status", LABEL_TYPE),
    pa.field("dip_group", pa.string()),
    pa.field("dip_group_name", pa.string()),
    pa.field("dip_stage", LABEL_TYPE),
    pa.field("dip_treatment", LABEL_TYPE),
    pa.field("dip_basic_level", pa.bool_()),
    pa.field("dip_aux_type", LABEL_TYPE),
    pa.field("dip_aux_coefficient", pa.float64()),
    pa.field("dip_cci", pa.int16()),
    pa.field("dip_cci_level", LABEL_TYPE),
    pa.field("dip_severity", LABEL_TYPE),
    pa.field("dip_age_band", LABEL_TYPE),
    pa.field("dip_discharge", LABEL_TYPE),
    pa.field("dip_reason", LABEL_TYPE),
    pa.field("dip_rule_set", LABEL_TYPE),
]
EVIDENCE_FIELDS = [
    pa.field("dip_matched_dx", pa.string()),
    pa.field("dip_principal_px", pa.string()),
    pa.field("dip_matched_px", pa.list_(pa.string())),
    pa.field("dip_excluded_px", pa.list_(pa.string())),
    pa.field("dip_candidates", pa.list_(pa.string())),
    pa.field("dip_decided_by", pa.string()),
    pa.field("dip_cci_components", pa.list_(pa.string())),
    pa.field("dip_severity_codes", pa.list_(pa.string())),
]
RESULT_SCHEMA = pa.schema(RESULT_FIELDS)
EVIDENCE_SCHEMA = pa.schema(RESULT_FIELDS + EVIDENCE_FIELDS)


def dip_result_schema(*, evidence: bool = False) -> pa.Schema:
    return EVIDENCE_SCHEMA if evidence else RESULT_SCHEMA


def decision_keys(rules: CompiledDip) -> tuple[str, ...]:
    """The names of the ranking keys, in order, as ``dip_decided_by`` reports them."""
    return (*BASE_KEYS, *rules.options.tie_break, "catalogue_order")


# --- per distinct code ------------------------------------------------------------------------


def diagnosis_status(rules: CompiledDip, codes: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(valid ICD-10 code, on the excluded-principal list) of diagnosis codes under a rule set."""
    facts = DxFacts.of(rules, codes, kind_allows(rules))
    return facts.valid, facts.excluded


def procedure_treatment(rules: CompiledDip, codes: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(excluded, treatment type) of procedure codes under a rule set (as assignment sees them)."""
    _, excluded, rank = procedure_facts(rules, codes)
    return excluded, rank


# --- claim fields -----------------------------------------------------------------------------


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    column = table.column(name)
    if not pa.types.is_floating(column.type):
        column = pc.cast(column, pa.float64())
    if column.num_chunks == 1:
        array = column.chunk(0)
        return np.asarray(array.fill_null(np.nan) if array.null_count else array,
                          dtype=np.float64)
    return np.asarray(column.fill_null(np.nan).to_numpy(), dtype=np.float64)


def _discharge(table: pa.Table, rules: CompiledDip) -> np.ndarray:
    """int8 per claim: 0 death, 1 transfer, -1 neither (death first), in one hash lookup."""
    options = rules.options
    ways = list(dict.fromkeys([*options.death_discharge_ways, *options.transfer_discharge_ways]))
    if "discharge_way" not in table.column_names or not ways:
        return np.full(table.num_rows, -1, dtype=np.int8)
    column = table.column("discharge_way")
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    outcome = np.array([0 if way in options.death_discharge_ways else 1 for way in ways] + [-1],
                       dtype=np.int8)
    found = pc.index_in(column, value_set=pa.array(ways, type=pa.string()))
    return outcome[np.asarray(found.fill_null(-1).to_numpy(), dtype=np.int64)]


@dataclass
class _Claims:
    """The claim fields the assignment reads."""

    age_years: np.ndarray
    age_days: np.ndarray  # nan when missing
    weight: np.ndarray
    los: np.ndarray
    cost: np.ndarray
    discharge: np.ndarray  # int8: 0 death, 1 transfer, -1 neither

    @property
    def death(self) -> np.ndarray:
        return self.discharge == 0

    def slice(self, start: int, stop: int) -> _Claims:
        return _Claims(*(getattr(self, name)[start:stop] for name in (
            "age_years", "age_days", "weight", "los", "cost", "discharge")))


def _claims(table: pa.Table, rules: CompiledDip) -> _Claims:
    return _Claims(
        age_years=_floats(table, "age_years"),
        age_days=_floats(table, "age_days"),
        weight=_floats(table, "birth_weight_g"),
        los=_floats(table, "los_days"),
        cost=_floats(table, "total_cost"),
        discharge=_discharge(table, rules),
    )


# --- the kernel ------------------------------------------------------------------------------


@dataclass
class _Pairs:
    claim: np.ndarray  # int64
    group: np.ndarray  # int64
    dx_len: np.ndarray  # int16
    prefix: np.ndarray  # int32, -1 = anchored on a procedure
    by_claim: bool = False  # ordered by claim

    def take(self, index: np.ndarray) -> _Pairs:
        """The pairs at ``index`` (ascending, so that the order by claim is kept)."""
        return _Pairs(self.claim[index], self.group[index], self.dx_len[index],
                      self.prefix[index], self.by_claim)

    @classmethod
    def concat(cls, parts: list[_Pairs]) -> _Pairs:
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, np.zeros(0, np.int16), np.zeros(0, np.int32))
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("claim", "group", "dx_len", "prefix")))


def _anchor_pairs(csr_start: np.ndarray, csr_groups: np.ndarray, claims: np.ndarray,
                  keys: np.ndarray, dx_len: int, prefix: np.ndarray) -> _Pairs:
    counts = csr_start[keys + 1] - csr_start[keys]
    rows, rank = expand(counts)
    return _Pairs(
        claim=claims[rows].astype(np.int64),
        group=csr_groups[csr_start[keys[rows]] + rank].astype(np.int64),
        dx_len=np.full(len(rows), dx_len, dtype=np.int16),
        prefix=prefix[rows].astype(np.int32),
    )


def _dedupe(pairs: _Pairs, n_groups: int) -> _Pairs:
    """One pair per (claim, group), keeping the longest diagnosis prefix."""
    if len(pairs.claim) < 2:
        return pairs
    key = pairs.claim * n_groups + pairs.group
    order = np.lexsort((-pairs.dx_len, key))
    sorted_key = key[order]
    first = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    return pairs.take(np.sort(order[first]))


def _csr_items(start: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row into ``keys``, item) for every item of a CSR's lists ``start[k]:start[k + 1]``."""
    first = start[keys]
    counts = start[keys + 1] - first
    rows = np.repeat(np.arange(len(keys), dtype=np.int64), counts)
    # item = first[row] + rank within the row = position + (first - position of the row's
    # first item), one repeat instead of a rank computation.
    shift = np.repeat(first - (np.cumsum(counts) - counts), counts)
    return rows, np.arange(len(rows), dtype=np.int64) + shift


def _per_claim(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many flags are set per claim (a segmented count: running sums at the offsets)."""
    running = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return running[offsets[1:]] - running[offsets[:-1]]


def _owners(offsets: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The claim of each of a few cell positions (a search, not a per-cell repeat)."""
    return np.searchsorted(offsets, positions, side="right") - 1


class _Chunk:
    """One chunk of claims with the code facts gathered per cell and per claim."""

    def __init__(self, rules: CompiledDip, known: KnownCodes, fields: _Claims, dx: CodeList,
                 px: CodeList, dxf: DxFacts, pxf: PxFacts) -> None:
        self.rules, self.known, self.fields = rules, known, fields
        self.dx, self.px, self.dxf, self.pxf = dx, px, dxf, pxf
        n = self.n = dx.claims
        self.pdx = dx.first()
        has_dx = self.pdx >= 0
        safe = np.maximum(self.pdx, 0)
        self.pdx_valid = has_dx & dxf.valid[safe]
        self.pdx_excluded = self.pdx_valid & dxf.excluded[safe]
        self.eligible = self.pdx_valid & ~self.pdx_excluded
        self.reason = np.zeros(n, dtype=np.int8)
        self.reason[~has_dx] = REASON_CODES.index("NO_DIAGNOSIS")
        self.reason[has_dx & ~self.pdx_valid] = REASON_CODES.index("PDX_INVALID")
        self.reason[self.pdx_excluded] = REASON_CODES.index("PDX_EXCLUDED")

        # Procedures: drop the excluded ones; the principal is the first one left. Counts per
        # claim are differences of running sums at the list offsets (no per-cell owner).
        cell = px.cell
        px_null = len(cell) > 0 and int(cell.min()) < 0
        safe_cell = np.maximum(cell, 0) if px_null else cell
        keep = ~pxf.excluded[safe_cell]
        if px_null:
            keep &= cell >= 0
        self.px_dropped = np.flatnonzero((cell >= 0) & ~keep)
        self.kept = np.flatnonzero(keep)
        self.kept_count = _per_claim(keep, px.offsets)
        self.kept_start = np.concatenate([[0], np.cumsum(self.kept_count)[:-1]]).astype(np.int64)
        self.principal_pos = np.full(n, -1, dtype=np.int64)
        with_px = np.flatnonzero(self.kept_count)
        principal = self.kept[self.kept_start[with_px]]
        self.principal_pos[with_px] = principal
        self.treatment = np.zeros(n, dtype=np.int8)
        self.treatment[with_px] = pxf.rank[safe_cell[principal]]
        # Conservative: no kept procedure of another treatment type than conservative.
        self.conservative = _per_claim(keep & (pxf.rank[safe_cell] > 0), px.offsets) == 0
        self.kind = claim_kind(self.treatment, self.conservative)
        self._listed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def kept_cells(self, claims: np.ndarray, skip_principal: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(row into ``claims``, px cell position) for every kept procedure of those claims."""
        rows, rank = expand(self.kept_count[claims])
        positions = self.kept[self.kept_start[claims[rows]] + rank]
        if skip_principal:
            other = positions != self.principal_pos[claims[rows]]
            rows, positions = rows[other], positions[other]
        return rows, positions

    def listed_cells(self, claims: np.ndarray, skip_principal: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`kept_cells` restricted to procedures some group expression or related list
        names (exact id > 0): the others cannot match any group's procedures."""
        if self._listed is None:
            listed = np.zeros(len(self.px.cell), dtype=bool)
            listed[self.kept] = self.pxf.exact[self.px.cell[self.kept]] > 0
            count = _per_claim(listed, self.px.offsets)
            self._listed = (np.flatnonzero(listed), count,
                            np.concatenate([[0], np.cumsum(count)[:-1]]))
        positions, count, first = self._listed
        rows, rank = expand(count[claims])
        cells = positions[first[claims[rows]] + rank]
        if skip_principal:
            other = cells != self.principal_pos[claims[rows]]
            rows, cells = rows[other], cells[other]
        return rows, cells

    def sdx_cells(self, claims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row into ``claims``, code id) for every secondary diagnosis of those claims whose
        code is on some group's secondary-diagnosis list (the others cannot match)."""
        dx, dxf = self.dx, self.dxf
        cell = dx.cell
        on_list = dxf.on_sdx[np.maximum(cell, 0)] & (cell >= 0)
        starts = dx.offsets[:-1]
        on_list[starts[dx.offsets[1:] > starts]] = False  # the principal diagnosis
        positions = np.flatnonzero(on_list)
        count = _per_claim(on_list, dx.offsets)
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        rows, rank = expand(count[claims])
        return rows, cell[positions[first[claims[rows]] + rank]]

    # candidates -------------------------------------------------------------------------------

    def candidates(self, every: bool) -> _Pairs:
        """The (claim, group) pairs a claim's diagnoses or procedures anchor and its kind
        allows (a comprehensive group of another treatment type, a medical group for a claim
        with procedures, are never candidates): all of them when ``every`` (evidence ranks
        them), else only those that can still win."""
        rules, dxf = self.rules, self.dxf
        claims = np.flatnonzero(self.eligible)
        # Principal diagnosis: the code's candidates for the claim's kind, all prefix lengths
        # at once (DxFacts keeps them per code).
        table = dxf.candidates if every else dxf.contenders
        key = self.pdx[claims].astype(np.int64) * CLAIM_KINDS + self.kind[claims]
        rows, item = _csr_items(table.start, key)
        primary = _Pairs(claims[rows], table.group[item].astype(np.int64), table.length[item],
                         table.prefix[item], by_claim=True)
        extra: list[_Pairs] = []
        if not rules.anchor_anydx.empty:
            cell = self.dx.cell
            positions = np.flatnonzero((cell >= 0) & dxf.anydx[np.maximum(cell, 0)])
            owner = _owners(self.dx.offsets, positions)
            keep = self.eligible[owner]
            positions, owner = positions[keep], owner[keep]
            cell_ids = dxf.ids[cell[positions]]
            start, groups = rules.anchor_anydx.start, rules.anchor_anydx.groups
            anydx: list[_Pairs] = []
            for column, length in enumerate(rules.dx_index.lengths):
                prefix = cell_ids[:, column]
                has = np.flatnonzero(prefix >= 0)
                if len(has):
                    anydx.append(_anchor_pairs(start, groups, owner[has], prefix[has], length,
                                               prefix[has]))
            # Groups anchored in any position are reached once per matching diagnosis.
            extra.append(_dedupe(_Pairs.concat(anydx), rules.n_groups))
        if not rules.anchor_px.empty:
            cell = self.px.cell[self.kept]
            anchored = self.pxf.anchor[np.maximum(cell, 0)] & (cell >= 0)
            positions = self.kept[anchored]
            owner = _owners(self.px.offsets, positions)
            keep = self.eligible[owner]
            positions, owner = positions[keep], owner[keep]
            exact = self.pxf.exact[self.px.cell[positions]]
            extra.append(_dedupe(_anchor_pairs(
                rules.anchor_px.start, rules.anchor_px.groups, owner, exact, 0,
                np.full(len(owner), -1)), rules.n_groups))
        if not extra:
            return primary
        # The sources anchor disjoint groups (by their dx_position), so they cannot repeat
        # each other's pairs.
        others = _Pairs.concat(extra)
        allowed = self.known.allows.ravel()[self.kind[others.claim] * max(rules.n_groups, 1)
                                            + others.group]
        return _Pairs.concat([primary, others.take(np.flatnonzero(allowed))])

    # conditions -------------------------------------------------------------------------------

    def evaluate(self, pairs: _Pairs) -> dict[str, np.ndarray]:
        """Which pairs hold, with the counts the ranking reads."""
        rules, f = self.rules, self.fields
        g, c = pairs.group, pairs.claim
        p = len(g)
        ok = np.ones(p, dtype=bool)
        fallback = np.zeros(p, dtype=bool)
        related_count = np.zeros(p, dtype=np.int16)
        required = np.zeros(p, dtype=np.int16)
        has_principal = np.zeros(p, dtype=bool)

        newborn = np.flatnonzero(rules.has_newborn[g])
        if len(newborn):
            gn, cn = g[newborn], c[newborn]
            days = f.age_days[cn]
            holds = (f.age_years[cn] < 1) & (days <= rules.max_age_days[gn])
            banded = np.isfinite(rules.bw_min[gn]) | np.isfinite(rules.bw_max[gn])
            weight = f.weight[cn]
            in_band = (weight >= rules.bw_min[gn]) & (weight < rules.bw_max[gn])
            ok[newborn] = holds & (~banded | in_band)

        # The treatment type of comprehensive groups and the conservative condition of medical
        # groups hold by construction of the candidates (kind_allows); with the conservative
        # fallback a medical group stays a candidate, ranked after the others.
        if rules.options.conservative_fallback:
            fallback = rules.needs_conservative[g] & ~self.conservative[c]

        sdx = np.flatnonzero(ok & rules.has_sdx[g])
        if len(sdx):
            rows, codes = self.sdx_cells(c[sdx])
            ids = self.dxf.ids[codes]
            keys = g[sdx][rows][:, None] * len(rules.dx_index.prefixes) + ids
            hit = ((ids >= 0) & member_any(keys.ravel(), rules.sdx_keys).reshape(
                keys.shape)).any(axis=1)
            found = np.zeros(len(sdx), dtype=bool)
            found[rows[hit]] = True
            ok[sdx] = found

        size = rules.px_size
        px_rows = np.flatnonzero(ok & rules.has_px[g])
        if len(px_rows):
            rows, positions = self.listed_cells(c[px_rows])
            exact = self.pxf.exact[self.px.cell[positions]].astype(np.int64)
            key = g[px_rows][rows] * size + exact
            low = np.searchsorted(rules.alt_keys, key, side="left")
            high = np.searchsorted(rules.alt_keys, key, side="right")
            items, rank = expand(high - low)
            alt = rules.alt_of_key[low[items] + rank].astype(np.int64)
            row = rows[items]
            is_principal = positions[items] == self.principal_pos[c[px_rows][row]]
            n_alt = max(len(rules.alt_group), 1)
            pair_alt = row * n_alt + alt
            distinct = np.unique(pair_alt * size + exact[items])
            matched_alt, matched = np.unique(distinct // size, return_counts=True)
            alt_id = matched_alt % n_alt
            alt_row = matched_alt // n_alt
            full = matched == rules.alt_size[alt_id]
            principal_in = member_any(matched_alt, np.unique(pair_alt[is_principal]))
            alt_ok = full & (principal_in | rules.px_any[rules.alt_group[alt_id]])
            px_ok = np.zeros(len(px_rows), dtype=bool)
            px_ok[alt_row[alt_ok]] = True
            best = np.zeros(len(px_rows), dtype=np.int16)
            _reduce_into(best, np.maximum, alt_row[alt_ok], rules.alt_size[alt_id[alt_ok]])
            with_principal = np.zeros(len(px_rows), dtype=bool)
            with_principal[alt_row[alt_ok & principal_in]] = True
            ok[px_rows] = px_ok
            required[px_rows] = best
            has_principal[px_rows] = with_principal

        related = np.flatnonzero(ok & rules.has_related[g])
        if len(related):
            rows, positions = self.listed_cells(c[related], skip_principal=True)
            exact = self.pxf.exact[self.px.cell[positions]].astype(np.int64)
            key = g[related][rows] * size + exact
            hit = member_any(key, rules.related_keys)
            distinct = np.unique(rows[hit].astype(np.int64) * size + exact[hit])
            counts = np.bincount(distinct // size, minlength=len(related)).astype(np.int16)
            related_count[related] = counts
            if rules.options.related_match == "all":
                ok[related] = counts == rules.n_related[g[related]]
            else:
                ok[related] = counts >= 1
        return {"ok": ok, "fallback": fallback, "related": related_count,
                "required": required, "has_principal": has_principal}

    def ranking_keys(self, pairs: _Pairs, facts: dict[str, np.ndarray], index: np.ndarray
                     ) -> list[np.ndarray]:
        """The ranking keys of the valid pairs at ``index``, most significant first (smaller is
        better)."""
        rules = self.rules
        g, c = pairs.group[index], pairs.claim[index]
        core = rules.stage[g] != 0  # pre-groups are taken in workbook order

        def core_only(values: np.ndarray) -> np.ndarray:
            return np.where(core, values, 0)

        related = facts["related"][index].astype(np.int64)
        required = facts["required"][index].astype(np.int64)
        keys: list[np.ndarray] = [
            rules.stage[g].astype(np.int64),
            core_only(-pairs.dx_len[index].astype(np.int64)),
            core_only(facts["fallback"][index].astype(np.int64)),
            core_only(-related),
        ]
        for strategy in rules.options.tie_break:
            if strategy == "treatment_rank":
                value = -rules.treatment[g].astype(np.int64)
            elif strategy == "principal_px":
                value = (~facts["has_principal"][index]).astype(np.int64)
            elif strategy == "required_count":
                value = -required
            elif strategy == "matched_count":
                value = -(required + related)
            elif strategy == "exact_set":
                value = ((required + related) != self.kept_count[c]).astype(np.int64)
            elif strategy == "closest_cost":
                value = np.abs(rules.average_cost[g] - self.fields.cost[c])
                value = np.where(np.isnan(value), np.inf, value)
            else:  # highest_score
                value = np.where(np.isnan(rules.score[g]), np.inf, -rules.score[g])
            keys.append(np.where(core, value, 0))
        keys.append(g.astype(np.int64))
        return keys


def _reduce_into(out: np.ndarray, ufunc: np.ufunc, owner: np.ndarray, values: np.ndarray
                 ) -> None:
    """``out[o] = ufunc(out[o], values of o)`` per owner; ``owner`` ascending (a segmented
    reduction, much faster than ``ufunc.at``)."""
    if len(owner) == 0:
        return
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    rows = owner[starts]
    out[rows] = ufunc(out[rows], ufunc.reduceat(values, starts).astype(out.dtype))


def _as_integer(values: np.ndarray) -> np.ndarray:
    """A key as int64 with the same order: floats (costs in yuan, scores) to millionths."""
    if values.dtype.kind != "f":
        return values.astype(np.int64, copy=False)
    finite = np.isfinite(values)
    scaled = np.rint(np.where(finite, values, 0) * 1e6).astype(np.int64)
    top = scaled[finite].max(initial=0) + 1
    return np.where(finite, scaled, top)


def _packed(fields: list[np.ndarray]) -> list[np.ndarray]:
    """Sort keys packed into as few int64 words as their value ranges allow (most significant
    first), so one sort replaces a lexsort over a dozen arrays; the order is the same."""
    words: list[np.ndarray] = []
    current: np.ndarray | None = None
    used = 0
    for field in fields:
        values = _as_integer(field)
        low = int(values.min())
        bits = int(values.max() - low).bit_length()
        shifted = values - low
        if current is None or used + bits > 62:
            if current is not None:
                words.append(current)
            current, used = shifted, bits
        elif bits:
            current = (current << bits) | shifted
            used += bits
    assert current is not None
    words.append(current)
    return words


def _choose(pairs: _Pairs, head: np.ndarray, keys_of: Callable[[np.ndarray], list[np.ndarray]],
            n: int, ranked: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """(winner pair per claim or -1, runner-up pair or -1, pair order by claim then rank, the
    ranking keys of every pair when ``ranked``).

    ``head`` is the first two ranking keys in one (stage * 64 + the second), ``keys_of(index)``
    the ranking keys of the pairs at ``index``. Claims with a single candidate need neither
    keys nor a sort; the order covers every pair only when ``ranked`` (evidence), else only the
    pairs of claims with several candidates.
    """
    winner = np.full(n, -1, dtype=np.int64)
    runner = np.full(n, -1, dtype=np.int64)
    p = len(pairs.claim)
    candidates = np.arange(p)
    if not ranked and p:
        # Stage and code length decide most claims: keep only the pairs at their claim's
        # best (stage, length) - the first two ranking keys - before sorting what is tied.
        best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        if pairs.by_claim:
            _reduce_into(best, np.minimum, pairs.claim, head)
        else:
            np.minimum.at(best, pairs.claim, head)
        candidates = np.flatnonzero(head == best[pairs.claim])
    counts = np.bincount(pairs.claim[candidates], minlength=n)
    single_mask = counts[pairs.claim[candidates]] == 1
    single = candidates[single_mask]
    winner[pairs.claim[single]] = single
    subset = candidates if ranked else candidates[~single_mask]
    if len(subset) == 0:
        return winner, runner, subset, keys_of(subset) if ranked else []
    keys = keys_of(subset)
    words = _packed([pairs.claim[subset], *keys])
    ranked_subset = np.argsort(words[0]) if len(words) == 1 else np.lexsort(words[::-1])
    order = subset[ranked_subset]
    claim = pairs.claim[order]
    first = np.r_[True, claim[1:] != claim[:-1]]
    starts = np.flatnonzero(first)
    winner[claim[starts]] = order[starts]
    seconds = starts + 1
    has_second = seconds < len(order)
    has_second[has_second] = claim[seconds[has_second]] == claim[starts[has_second]]
    runner[claim[starts[has_second]]] = order[seconds[has_second]]
    return winner, runner, order, keys if ranked else []


# --- result columns --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Labels:
    """The labels of one dictionary result column, indexed by the codes the kernel computes
    (the last code, ``len(labels) - 1``, is often the null label)."""

    indices: np.ndarray  # int32: code -> index in ``dictionary``
    is_null: np.ndarray  # bool per code
    dictionary: pa.Array  # the non-null labels, in order

    @classmethod
    def of(cls, labels: list[str | None]) -> _Labels:
        is_null = np.array([label is None for label in labels], dtype=bool)
        return cls(indices=(np.cumsum(~is_null) - 1).astype(np.int32), is_null=is_null,
                   dictionary=pa.array([label for label in labels if label is not None],
                                       type=pa.string()))

    def column(self, codes: np.ndarray) -> pa.DictionaryArray:
        indices = self.indices[codes]
        mask = self.is_null[codes] if self.is_null.any() else None
        if mask is not None and not mask.any():
            mask = None
        return pa.DictionaryArray.from_arrays(pa.array(indices, type=pa.int32(), mask=mask),
                                              self.dictionary)


def _take(labels: list[str | None], index: np.ndarray) -> pa.Array:
    return pa.array(labels, type=pa.string()).take(pa.array(index, type=pa.int64()))


def _severity_code(level: int, death: int, metastasis: int, tumour: int) -> int:
    """The SEVERITY_LABELS index of a claim (severity-list level 0 none, 1 moderate, 2-3
    severe)."""
    by_list = (3, 2, 1, 1)[level]  # disease: mild, moderate, severe
    if tumour:
        return 4 if death else 5 if metastasis else by_list + 5
    return 0 if death else by_list


# By (severity-list level | death << 2 | metastasis << 3 | tumour << 4).
_SEVERITY_CODE = np.array([_severity_code(code & 3, code >> 2 & 1, code >> 3 & 1, code >> 4 & 1)
                           for code in range(32)], dtype=np.int8)
_LIST_LEVEL = np.array([0, 1, 2, 2], dtype=np.int8)  # severity-list level -> sev 0/1/2


class _Tables:
    """Output labels and auxiliary-typing tables of one rule set, built once."""

    def __init__(self, rules: CompiledDip) -> None:
        self.status = _Labels.of(list(STATUSES))
        self.stage = _Labels.of([*STAGES, None])
        self.treatment = _Labels.of([*TREATMENTS, None])
        self.reason = _Labels.of([None, *REASONS])
        self.rule_set = _Labels.of([rules.rule_set_id])
        self.labels_cci = [f"CCI:{code}" for code in rules.cci_level_codes]
        self.labels_age = [f"AGE:{spec.code}" for spec in rules.options.age_bands]
        self.aux_type = _Labels.of([*rules.aux_types, None])
        self.cci_level = _Labels.of(list(self.labels_cci))
        self.severity = _Labels.of(list(SEVERITY_LABELS))
        self.age_band = _Labels.of([*self.labels_age, None])
        self.discharge = _Labels.of([*DISCHARGE_LABELS, None])
        blank = rules.options.blank_group
        # Group code and name: listed groups, then the blank group (or null).
        self.group_codes = pa.array([*rules.group_codes, blank], type=pa.string())
        self.group_names = pa.array([*rules.group_names, "空白病组" if blank else None],
                                    type=pa.string())
        self.generated_code_parts = pa.array([f"-{code}" for code in TREATMENT_CODES])
        self.generated_name_parts = pa.array([f" 综合病种（{zh}）" for zh in TREATMENT_ZH])
        # CCI score of a claim's component bits: three 9-bit lookups of summed weights.
        weights = np.zeros(27, dtype=np.int64)
        weights[:len(rules.cci_weights)] = rules.cci_weights
        low_bits = np.arange(512)
        self.cci_score = np.stack([
            ((low_bits[:, None] >> np.arange(9)) & 1) @ weights[9 * part:9 * part + 9]
            for part in range(3)]).astype(np.int16)
        self.cleared = np.flatnonzero(rules.cci_cleared_by)
        # Groups with some auxiliary coefficient, indexed by group (and -1: no group).
        self.has_aux = None
        if rules.aux_types and rules.aux_coefficient.size:
            self.has_aux = np.append(~np.isnan(rules.aux_coefficient).all(axis=1), False)
        # The auxiliary types the typing families map to (-1 none), the last entry for "none".
        type_index = {t: i for i, t in enumerate(rules.aux_types)}
        self.aux_families = [
            np.array([type_index.get(label, -1) for label in labels] + [-1], dtype=np.int64)
            for labels in (self.labels_cci, SEVERITY_LABELS, self.labels_age, DISCHARGE_LABELS)]


def _tables(chunk: _Chunk) -> _Tables:
    tables = chunk.known.kernel_tables
    if not isinstance(tables, _Tables):
        tables = chunk.known.kernel_tables = _Tables(chunk.rules)
    return tables


def _segment_or(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Bitwise OR of ``values`` per segment of ``offsets``; ``values`` carries one trailing 0
    (so that every segment start is a valid index), and empty segments give 0."""
    starts = offsets[:-1]
    out = np.bitwise_or.reduceat(values, starts)
    out[offsets[1:] == starts] = 0
    return out


def _auxiliary(chunk: _Chunk, winner_group: np.ndarray, evidence: bool
               ) -> dict[str, pa.Array]:
    """CCI, severity, age band and discharge typing, and the auxiliary type applied."""
    rules, dx, dxf, f, n = chunk.rules, chunk.dx, chunk.dxf, chunk.fields, chunk.n
    tables = _tables(chunk)
    # Only secondary diagnoses that carry a CCI component, a severity level or a malignancy
    # matter here; one gather of each code's packed bits and one OR per claim give all three.
    cells = dx.cell
    code_bits = np.zeros(len(cells) + 1, dtype=np.uint32)
    np.take(dxf.aux_bits, cells, out=code_bits[:-1])
    if len(cells) and int(cells.min()) < 0:
        code_bits[:-1][cells < 0] = 0
    starts = dx.offsets[:-1]
    code_bits[starts[dx.offsets[1:] > starts]] = 0  # the principal diagnosis is not typed
    claim_bits = _segment_or(code_bits, dx.offsets) if n else np.zeros(0, np.uint32)

    # CCI: one weight per component present among secondary diagnoses, hierarchy applied.
    bits = claim_bits & CCI_MASK
    with_cci = np.flatnonzero(bits)
    kept = bits[with_cci]
    present = kept.copy()
    for k in tables.cleared:  # the hierarchy: only the few components that clear others
        has = ((present >> np.uint32(k)) & np.uint32(1)) == 1
        kept[has] &= ~rules.cci_cleared_by[k]
    bits[with_cci] = kept
    score = np.zeros(n, dtype=np.int16)
    lookup = tables.cci_score
    score[with_cci] = (lookup[0][kept & 511] + lookup[1][(kept >> 9) & 511]
                       + lookup[2][(kept >> 18) & 511])
    level = np.zeros(n, dtype=np.int64)  # score 0 is the first level (min_score 0)
    level[with_cci] = np.searchsorted(rules.cci_level_min, score[with_cci], side="right") - 1

    # Severity: secondary-diagnosis lists count when LOS > the threshold; death first.
    long_stay = f.los > rules.options.severity_los_days
    list_level = ((claim_bits >> SEVERITY_SHIFT) & np.uint32(3)).astype(np.int8)
    list_level[~long_stay] = 0
    death = f.death
    pdx_safe = np.maximum(chunk.pdx, 0)
    has_pdx = chunk.pdx >= 0
    pdx_malignant = has_pdx & dxf.malignant[pdx_safe]
    secondary_malignant = (claim_bits & MALIGNANT_BIT) != 0
    tumour = pdx_malignant | (has_pdx & dxf.z51[pdx_safe] & secondary_malignant)
    # Metastasis / another site: a secondary malignant diagnosis of another category than the
    # tumour's own (the principal's, or for Z51 the first secondary malignant one).
    m_rows = np.flatnonzero(code_bits[:-1] & MALIGNANT_BIT)
    metastasis = np.zeros(n, dtype=bool)
    if len(m_rows):
        m_owner = _owners(dx.offsets, m_rows)
        m_category = dxf.category[cells[m_rows]]
        primary_category = np.full(n, -1, dtype=np.int64)
        primary_category[pdx_malignant] = dxf.category[pdx_safe[pdx_malignant]]
        first = np.r_[True, m_owner[1:] != m_owner[:-1]]
        from_z51 = primary_category[m_owner[first]] < 0
        primary_category[m_owner[first][from_z51]] = m_category[first][from_z51]
        metastasis[m_owner[m_category != primary_category[m_owner]]] = True
        metastasis &= tumour & long_stay
    # SEVERITY_LABELS: 0-3 disease (death, severe, moderate, mild), 4-8 tumour (death,
    # metastasis, severe, moderate, other).
    severity = _SEVERITY_CODE[list_level | (death.view(np.int8) << 2)
                              | (metastasis.view(np.int8) << 3) | (tumour.view(np.int8) << 4)]

    # Age band: the first band of the options that holds.
    band = np.full(n, len(tables.labels_age), dtype=np.int64)  # the last code: no band
    infant = f.age_years < 1
    days = np.where(infant, f.age_days, f.age_years * 365.25)
    for b, spec in reversed(list(enumerate(rules.options.age_bands))):
        if spec.min_days is not None or spec.max_days is not None:
            value = days
            low, high = spec.min_days, spec.max_days
        else:
            value = f.age_years
            low, high = spec.min_years, spec.max_years
        holds = ~np.isnan(value)
        if low is not None:
            holds &= value >= low
        if high is not None:
            holds &= value < high
        band[holds] = b
    discharge = np.where(f.discharge >= 0, f.discharge, len(DISCHARGE_LABELS))

    # The auxiliary type applied: the highest coefficient the group defines.
    aux_type = np.full(n, len(rules.aux_types), dtype=np.int64)  # the last code: none
    aux_value = np.full(n, np.nan)
    typed = np.flatnonzero(tables.has_aux[winner_group]) if tables.has_aux is not None else \
        np.zeros(0, dtype=np.int64)  # claims whose group defines some coefficient
    if len(typed):
        group = winner_group[typed]
        best_type = np.full(len(typed), -1, dtype=np.int64)
        best = np.full(len(typed), np.nan)
        for mapping, values in zip(tables.aux_families, (level, severity, band, discharge),
                                   strict=True):
            t = mapping[values[typed]]
            coefficient = np.where(t >= 0, rules.aux_coefficient[group, np.maximum(t, 0)],
                                   np.nan)
            better = ~np.isnan(coefficient) & (np.isnan(best) | (coefficient > best))
            best_type[better] = t[better]
            best[better] = coefficient[better]
        found = best_type >= 0
        aux_type[typed[found]] = best_type[found]
        aux_value[typed[found]] = best[found]
    columns = {
        "dip_aux_type": tables.aux_type.column(aux_type),
        "dip_aux_coefficient": pa.array(aux_value, mask=np.isnan(aux_value)),
        "dip_cci": pa.array(score, type=pa.int16()),
        "dip_cci_level": tables.cci_level.column(level),
        "dip_severity": tables.severity.column(severity),
        "dip_age_band": tables.age_band.column(band),
        "dip_discharge": tables.discharge.column(discharge),
    }
    if evidence:
        sev = _LIST_LEVEL[list_level]
        positions = np.flatnonzero(code_bits[:-1])
        owner = _owners(dx.offsets, positions)
        safe = cells[positions]
        component = dxf.cci[safe]
        counted = component >= 0
        sev_cell = dxf.severity[safe]
        kept_component = np.zeros(len(positions), dtype=bool)
        kept_component[counted] = ((bits[owner[counted]] >> component[counted].astype(
            np.uint32)) & np.uint32(1)) == 1
        # One entry per component counted (the first diagnosis that carries it).
        first_of = np.zeros(len(positions), dtype=bool)
        if kept_component.any():
            index = np.flatnonzero(kept_component)
            key = owner[index].astype(np.int64) * 64 + component[index]
            _, first = np.unique(key, return_index=True)
            first_of[index[np.sort(first)]] = True
        names = pa.array(rules.cci_names or [""], type=pa.string())
        columns["dip_cci_components"] = list_column(
            names.take(pa.array(component[first_of], type=pa.int64())), owner[first_of], n)
        shown = (sev_cell > 0) & (sev_cell == sev[owner]) & long_stay[owner]
        codes = dx.distinct.take(pa.array(safe[shown], type=pa.int64()))
        columns["dip_severity_codes"] = list_column(codes, owner[shown], n)
    return columns


def _group_labels(chunk: _Chunk, has_winner: np.ndarray, winner_group: np.ndarray,
                  generated: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """The group code and name columns: one take from the rule set's labels, followed by the
    generated comprehensive groups of this chunk (one label per distinct category and
    treatment, built with Arrow string kernels, not per row)."""
    rules, tables = chunk.rules, _tables(chunk)
    n_groups = rules.n_groups
    label_index = np.where(has_winner, winner_group, n_groups)
    codes, names = tables.group_codes, tables.group_names
    generated_rows = np.flatnonzero(generated)
    if len(generated_rows):
        category = chunk.dxf.category[chunk.pdx[generated_rows]].astype(np.int64)
        key = category * len(TREATMENTS) + chunk.treatment[generated_rows]
        # The distinct keys without a sort: their range (categories x 4) is small.
        seen = np.zeros(int(key.max()) + 1, dtype=bool)
        seen[key] = True
        unique = np.flatnonzero(seen)
        rank = np.cumsum(seen) - 1
        categories = chunk.dxf.categories.take(pa.array(unique // len(TREATMENTS)))
        treatments = pa.array(unique % len(TREATMENTS))
        codes = pa.concat_arrays([codes, pc.binary_join_element_wise(
            "ZH-", categories, tables.generated_code_parts.take(treatments), "")])
        names = pa.concat_arrays([names, pc.binary_join_element_wise(
            categories, tables.generated_name_parts.take(treatments), "")])
        label_index[generated_rows] = n_groups + 1 + rank[key]
    index = pa.array(label_index, type=pa.int64())
    return codes.take(index), names.take(index)


def _group_chunk(chunk: _Chunk, evidence: bool) -> dict[str, pa.Array]:
    rules, n = chunk.rules, chunk.n
    tables = _tables(chunk)
    pairs = chunk.candidates(every=evidence)
    facts = chunk.evaluate(pairs)
    valid = np.flatnonzero(facts["ok"])
    if len(valid) < len(facts["ok"]):
        pairs = pairs.take(valid)
        facts = {name: values[valid] for name, values in facts.items()}
    stage = rules.stage[pairs.group].astype(np.int64)
    head = stage * 64 - np.where(stage != 0, pairs.dx_len, 0)  # the first two ranking keys
    winner_pair, runner_pair, order, keys = _choose(
        pairs, head, lambda index: chunk.ranking_keys(pairs, facts, index), n, ranked=evidence)
    has_winner = winner_pair >= 0
    safe_pair = np.maximum(winner_pair, 0)
    winner_group = np.where(has_winner, pairs.group[safe_pair] if len(pairs.group) else 0, -1)

    mode = rules.options.comprehensive
    generated = chunk.eligible & ~has_winner & (mode == "generated")
    grouped = has_winner | generated
    reason = chunk.reason.copy()
    reason[chunk.eligible & ~grouped] = REASON_CODES.index("NO_GROUP")
    blank = rules.options.blank_group
    status = np.where(grouped, 0, 2 if blank else 1)

    def of_winner(values: np.ndarray, missing: int) -> np.ndarray:
        if len(values) == 0:  # a rule set without groups
            return np.full(n, missing, dtype=np.int64)
        return np.where(has_winner, values[np.maximum(winner_group, 0)], missing)

    group_column, name_column = _group_labels(chunk, has_winner, winner_group, generated)
    stage_index = of_winner(rules.stage, len(STAGES))
    stage_index[generated] = COMPREHENSIVE
    treatment_index = of_winner(rules.treatment, len(TREATMENTS))
    treatment_index[generated] = chunk.treatment[generated]

    columns: dict[str, pa.Array] = {
        "dip_status": tables.status.column(status),
        "dip_group": group_column,
        "dip_group_name": name_column,
        "dip_stage": tables.stage.column(stage_index),
        "dip_treatment": tables.treatment.column(treatment_index),
        "dip_basic_level": pa.array(of_winner(rules.basic_level, 0).astype(bool)),
    }
    columns.update(_auxiliary(chunk, winner_group, evidence))
    columns["dip_reason"] = tables.reason.column(reason)
    columns["dip_rule_set"] = tables.rule_set.column(np.zeros(n, dtype=np.int32))
    if evidence:
        columns.update(_evidence(chunk, pairs, keys, winner_pair, runner_pair, order,
                                 generated))
    return columns


def _evidence(chunk: _Chunk, pairs: _Pairs, keys: list[np.ndarray], winner_pair: np.ndarray,
              runner_pair: np.ndarray, order: np.ndarray, generated: np.ndarray
              ) -> dict[str, pa.Array]:
    rules, n, px = chunk.rules, chunk.n, chunk.px
    has_winner = winner_pair >= 0
    safe_pair = np.maximum(winner_pair, 0)
    prefix = np.where(has_winner, pairs.prefix[safe_pair] if len(pairs.prefix) else -1, -1)
    prefixes = [*rules.dx_index.prefixes, "*", None]
    prefix_index = np.where(has_winner, np.where(prefix >= 0, prefix, len(prefixes) - 2),
                            len(prefixes) - 1)
    matched_dx = _take(prefixes, prefix_index)
    generated_rows = np.flatnonzero(generated)
    if len(generated_rows):
        category = chunk.dxf.categories.take(
            pa.array(chunk.dxf.category[chunk.pdx[generated_rows]], type=pa.int64()))
        matched_dx = pc.replace_with_mask(matched_dx, pa.array(generated), category)

    principal = chunk.principal_pos
    has_principal = principal >= 0
    principal_cell = np.zeros(n, dtype=np.int64)
    principal_cell[has_principal] = px.cell[principal[has_principal]]
    principal_px = pc.if_else(pa.array(has_principal),
                              px.distinct.take(pa.array(principal_cell, type=pa.int64())),
                              pa.scalar(None, pa.string()))

    winners = np.flatnonzero(has_winner)
    group = pairs.group[winner_pair[winners]] if len(winners) else np.zeros(0, np.int64)
    rows, positions = chunk.kept_cells(winners)
    exact = chunk.pxf.exact[px.cell[positions]].astype(np.int64)
    key = group[rows] * rules.px_size + exact
    in_group = member_any(key, rules.alt_keys) | member_any(key, rules.related_keys)
    matched = positions[in_group]
    matched_px = list_column(px.distinct.take(pa.array(px.cell[matched], type=pa.int64())),
                             _owners(px.offsets, matched), n)
    dropped = chunk.px_dropped
    excluded_px = list_column(px.distinct.take(pa.array(px.cell[dropped], type=pa.int64())),
                              _owners(px.offsets, dropped), n)

    codes = pa.array(rules.group_codes or [""], type=pa.string())
    candidates = list_column(codes.take(pa.array(pairs.group[order], type=pa.int64())),
                             pairs.claim[order], n)

    names = decision_keys(rules)
    decided = np.full(n, len(names) + 1, dtype=np.int64)  # no candidate
    decided[has_winner] = len(names)  # the only candidate
    contested = np.flatnonzero(runner_pair >= 0)
    if len(contested):
        w, r = winner_pair[contested], runner_pair[contested]
        differs = np.stack([k[w] != k[r] for k in keys], axis=1)
        decided[contested] = np.argmax(differs, axis=1)
    decided_labels = [*names, "only_candidate", None]
    decided_by = _take(decided_labels, decided)
    if len(generated_rows):
        decided_by = pc.replace_with_mask(
            decided_by, pa.array(generated),
            pa.array(["comprehensive_fallback"] * len(generated_rows), type=pa.string()))
    return {
        "dip_matched_dx": matched_dx,
        "dip_principal_px": principal_px,
        "dip_matched_px": matched_px,
        "dip_excluded_px": excluded_px,
        "dip_candidates": candidates,
        "dip_decided_by": decided_by,
    }


def _claim_ids(table: pa.Table) -> pa.ChunkedArray:
    column = table.column("claim_id")
    if pa.types.is_dictionary(column.type):
        column = pa.chunked_array([chunk.dictionary_decode() for chunk in column.chunks],
                                  type=column.type.value_type)
    return column if column.type == pa.string() else column.cast(pa.string())


def dip_batch(
    clean: pa.Table | pa.RecordBatch,
    rules: CompiledDip,
    *,
    evidence: bool = False,
    progress: Callable[[int], None] | None = None,
) -> pa.Table:
    """Assign every claim of a clean batch (``drg_engine.validate``) to its DIP group.

    One result row per claim, in order (:data:`RESULT_SCHEMA`, or :data:`EVIDENCE_SCHEMA` with
    ``evidence``). ``progress`` is called with the number of claims finished after each chunk.
    The code lists may be ``list<string>`` or ``list<dictionary<string>>``; the result is the
    same.
    """
    table = pa.Table.from_batches([clean]) if isinstance(clean, pa.RecordBatch) else clean
    schema = dip_result_schema(evidence=evidence)
    if table.num_rows == 0:
        return schema.empty_table()
    # Code ids of the rule set's known codes (new codes are learnt on the way).
    known = known_codes(rules)
    dx_universe, px_universe = known.universes(rules)
    dx = dx_universe.code_list(table.column("diagnoses"))
    px = px_universe.code_list(table.column("procedures"))
    known.keep(dx_universe, px_universe)
    dxf, pxf = dx_universe.facts, px_universe.facts
    fields = _claims(table, rules)
    parts: dict[str, list[pa.Array]] = {name: [] for name in schema.names[1:]}
    for start in range(0, table.num_rows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, table.num_rows)
        chunk = _Chunk(rules, known, fields.slice(start, stop), dx.slice(start, stop),
                       px.slice(start, stop), dxf, pxf)  # type: ignore[arg-type]
        for name, array in _group_chunk(chunk, evidence).items():
            parts[name].append(array)
        if progress is not None:
            progress(stop - start)
    arrays = [_claim_ids(table)] + [
        pa.chunked_array(parts[name], type=schema.field(name).type) for name in schema.names[1:]
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
