"""DIP (按病种分值付费) group assignment of a clean claim batch: gathers over candidate pairs.

The national matching order (reference §2.2-§2.7), for all claims at once:

1. **Pre-processing** - codes are normalised; a claim without a diagnosis, with a principal
   diagnosis that is not an ICD-10 code, or with one on the excluded-principal list (sheet 五)
   is not grouped (with its reason); procedures on the excluded-procedure list are dropped, and
   the principal procedure is the first one left.
2. **Candidates** - each group is anchored on a diagnosis prefix (principal position, or any
   position for the low-birth-weight pre-groups) or, for the pre-groups that take any
   diagnosis, on a procedure code. One gather per prefix length turns every claim into its
   candidate (claim, group) pairs; there is no Python loop over claims.
3. **Conditions** - evaluated on the pairs: newborn age and birth-weight band, secondary
   diagnosis spec (burns, tumours), the procedure expression (``|`` any of, ``+`` all of; the
   principal procedure must be in the alternative unless the group takes procedures anywhere),
   related procedures (counted: the partial-match rule), the conservative condition of medical
   groups, and the treatment type of listed comprehensive groups.
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

from drg_engine.dip.codes import (
    CodeList,
    code_list,
    expand,
    list_column,
    longest,
    member_any,
    normalised_dx,
    normalised_px,
)
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
# Packed per-code bits of the auxiliary typing: CCI components in the low bits (at most
# MAX_CCI_COMPONENTS), then the severity lists and malignancy.
_CCI_MASK = np.uint32((1 << 26) - 1)
_MODERATE_BIT = np.uint32(1 << 26)
_SEVERE_BIT = np.uint32(1 << 27)
_MALIGNANT_BIT = np.uint32(1 << 28)
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


@dataclass(frozen=True)
class _DxFacts:
    """Facts per distinct diagnosis code of the batch."""

    ids: np.ndarray  # int32[D, L] prefix ids
    valid: np.ndarray  # bool[D]
    excluded: np.ndarray  # bool[D]
    cci: np.ndarray  # int8[D], -1 none
    severity: np.ndarray  # int8[D]
    malignant: np.ndarray  # bool[D]
    z51: np.ndarray  # bool[D]: Z51.x (chemotherapy / other care for a tumour)
    category: np.ndarray  # int32[D]: id of the 3-character category
    categories: pa.Array  # string per category id
    anydx: np.ndarray  # bool[D]: some prefix anchors an any-position group
    aux_bits: np.ndarray  # uint32[D]: CCI component bit, severity and malignancy bits


@dataclass(frozen=True)
class _PxFacts:
    exact: np.ndarray  # int32[Q]: exact id (0 = not in any expression)
    excluded: np.ndarray  # bool[Q]
    rank: np.ndarray  # int8[Q]: treatment type of the procedure
    anchor: np.ndarray  # bool[Q]: anchors a group that takes any diagnosis


def _dx_facts(rules: CompiledDip, distinct: pa.Array) -> _DxFacts:
    norm = normalised_dx(distinct)
    ids = rules.dx_index.lookup(norm)
    valid = np.asarray(pc.match_substring_regex(norm, r"^[A-Z][0-9]{2}").fill_null(False))
    excluded = (longest(ids, rules.excluded_dx.astype(np.int8), 0) == 1) & valid
    category = pc.utf8_slice_codeunits(norm, 0, 3)
    encoded = pc.dictionary_encode(category)
    has_anydx = np.zeros(len(distinct), dtype=bool)
    if not rules.anchor_anydx.empty:
        counts = np.where(ids >= 0, rules.anchor_anydx.counts(np.maximum(ids, 0)), 0)
        has_anydx = counts.sum(axis=1) > 0
    cci = longest(ids, rules.cci_component, -1)
    severity = longest(ids, rules.severity_level, 0)
    malignant = np.asarray(pc.starts_with(norm, "C").fill_null(False)) & valid
    return _DxFacts(
        ids=ids,
        valid=valid,
        excluded=excluded,
        cci=cci,
        severity=severity,
        malignant=malignant,
        z51=np.asarray(pc.starts_with(norm, "Z51").fill_null(False)),
        category=np.asarray(encoded.indices.fill_null(0), dtype=np.int32),
        categories=encoded.dictionary,
        anydx=has_anydx,
        aux_bits=(np.where(cci >= 0, np.left_shift(np.uint32(1), np.maximum(cci, 0).astype(
            np.uint32)), 0).astype(np.uint32)
            | np.where(severity == 2, _SEVERE_BIT, 0).astype(np.uint32)
            | np.where(severity == 1, _MODERATE_BIT, 0).astype(np.uint32)
            | np.where(malignant, _MALIGNANT_BIT, 0).astype(np.uint32)),
    )


def diagnosis_status(rules: CompiledDip, codes: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(valid ICD-10 code, on the excluded-principal list) of diagnosis codes under a rule set."""
    facts = _dx_facts(rules, codes)
    return facts.valid, facts.excluded


def procedure_treatment(rules: CompiledDip, codes: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(excluded, treatment type) of procedure codes under a rule set (as assignment sees them)."""
    norm = normalised_px(codes)
    universe = pa.array(rules.px_universe, type=pa.string())
    exact = np.asarray(pc.index_in(norm, value_set=universe).fill_null(-1), dtype=np.int32) + 1
    rank = longest(rules.attr_index.lookup(norm), rules.attr_rank, -1)
    rank = np.where(rank < 0, rules.unknown_px_rank, rank).astype(np.int8)
    return rules.px_excluded[exact], rank


def _px_facts(rules: CompiledDip, distinct: pa.Array) -> _PxFacts:
    norm = normalised_px(distinct)
    universe = pa.array(rules.px_universe, type=pa.string())
    exact = np.asarray(pc.index_in(norm, value_set=universe).fill_null(-1), dtype=np.int32) + 1
    excluded, rank = procedure_treatment(rules, distinct)
    anchor = rules.anchor_px.counts(exact) > 0 if not rules.anchor_px.empty else np.zeros(
        len(exact), dtype=bool)
    return _PxFacts(exact=exact, excluded=excluded, rank=rank, anchor=anchor)


# --- claim fields -----------------------------------------------------------------------------


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    column = table.column(name)
    if not pa.types.is_floating(column.type):
        column = pc.cast(column, pa.float64())
    return np.asarray(column.fill_null(np.nan).to_numpy(), dtype=np.float64)


def _in_set(table: pa.Table, name: str, values: list[str]) -> np.ndarray:
    if name not in table.column_names or not values:
        return np.zeros(table.num_rows, dtype=bool)
    column = table.column(name)
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return np.asarray(pc.is_in(column, value_set=pa.array(values)).fill_null(False))


@dataclass
class _Claims:
    """The claim fields the assignment reads, for one chunk."""

    age_years: np.ndarray
    age_days: np.ndarray  # nan when missing
    weight: np.ndarray
    los: np.ndarray
    cost: np.ndarray
    death: np.ndarray
    transfer: np.ndarray


def _claims(table: pa.Table, rules: CompiledDip) -> _Claims:
    options = rules.options
    return _Claims(
        age_years=_floats(table, "age_years"),
        age_days=_floats(table, "age_days"),
        weight=_floats(table, "birth_weight_g"),
        los=_floats(table, "los_days"),
        cost=_floats(table, "total_cost"),
        death=_in_set(table, "discharge_way", options.death_discharge_ways),
        transfer=_in_set(table, "discharge_way", options.transfer_discharge_ways),
    )


# --- the kernel ------------------------------------------------------------------------------


@dataclass
class _Pairs:
    claim: np.ndarray  # int64
    group: np.ndarray  # int64
    dx_len: np.ndarray  # int16
    prefix: np.ndarray  # int32, -1 = anchored on a procedure

    def take(self, index: np.ndarray) -> _Pairs:
        return _Pairs(self.claim[index], self.group[index], self.dx_len[index],
                      self.prefix[index])

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


class _Chunk:
    """One chunk of claims with the code facts gathered per cell and per claim."""

    def __init__(self, rules: CompiledDip, table: pa.Table, dx: CodeList, px: CodeList,
                 dxf: _DxFacts, pxf: _PxFacts) -> None:
        self.rules, self.table, self.dx, self.px, self.dxf, self.pxf = rules, table, dx, px, \
            dxf, pxf
        n = self.n = table.num_rows
        self.fields = _claims(table, rules)
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

        # Procedures: drop the excluded ones; the principal is the first one left.
        cell = px.cell
        safe_cell = np.maximum(cell, 0)
        self.px_owner = px.owner()
        keep = (cell >= 0) & ~pxf.excluded[safe_cell]
        self.px_dropped = np.flatnonzero((cell >= 0) & ~keep)
        self.kept = np.flatnonzero(keep)
        kept_owner = self.px_owner[self.kept]
        self.kept_count = np.bincount(kept_owner, minlength=n)
        self.kept_start = np.concatenate([[0], np.cumsum(self.kept_count)[:-1]]).astype(np.int64)
        self.principal_pos = np.full(n, -1, dtype=np.int64)
        has_px = self.kept_count > 0
        self.principal_pos[has_px] = self.kept[self.kept_start[has_px]]
        kept_rank = pxf.rank[safe_cell[self.kept]]
        max_rank = np.zeros(n, dtype=np.int8)
        if len(self.kept):
            max_rank[has_px] = np.maximum.reduceat(kept_rank, self.kept_start[has_px])
        principal_cell = np.zeros(n, dtype=np.int64)
        principal_cell[has_px] = safe_cell[self.principal_pos[has_px]]
        self.treatment = np.where(has_px, pxf.rank[principal_cell], 0).astype(np.int8)
        self.conservative = max_rank == 0
        self.principal_exact = np.where(has_px, pxf.exact[principal_cell], 0)

    def kept_cells(self, claims: np.ndarray, skip_principal: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(row into ``claims``, px cell position) for every kept procedure of those claims."""
        rows, rank = expand(self.kept_count[claims])
        positions = self.kept[self.kept_start[claims[rows]] + rank]
        if skip_principal:
            other = positions != self.principal_pos[claims[rows]]
            rows, positions = rows[other], positions[other]
        return rows, positions

    def secondary_cells(self, claims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row into ``claims``, dx cell position) for every secondary diagnosis."""
        offsets = self.dx.offsets
        counts = np.maximum(offsets[claims + 1] - offsets[claims] - 1, 0)
        rows, rank = expand(counts)
        return rows, offsets[claims[rows]] + 1 + rank

    # candidates -------------------------------------------------------------------------------

    def candidates(self) -> _Pairs:
        rules, dxf = self.rules, self.dxf
        lengths = rules.dx_index.lengths
        parts: list[_Pairs] = []
        claims = np.flatnonzero(self.eligible)
        ids = dxf.ids[self.pdx[claims]]
        start, groups = rules.anchor_pdx.start, rules.anchor_pdx.groups
        for column, length in enumerate(lengths):
            prefix = ids[:, column]
            has = np.flatnonzero(prefix >= 0)
            if len(has):
                parts.append(_anchor_pairs(start, groups, claims[has], prefix[has], length,
                                           prefix[has]))
        primary = _Pairs.concat(parts)
        if rules.nested_pdx:  # one group reached through two of its prefixes
            primary = _dedupe(primary, rules.n_groups)
        extra: list[_Pairs] = [primary]
        if not rules.anchor_anydx.empty:
            cell = self.dx.cell
            positions = np.flatnonzero((cell >= 0) & dxf.anydx[np.maximum(cell, 0)])
            owner = np.searchsorted(self.dx.offsets, positions, side="right") - 1
            keep = self.eligible[owner]
            positions, owner = positions[keep], owner[keep]
            cell_ids = dxf.ids[cell[positions]]
            start, groups = rules.anchor_anydx.start, rules.anchor_anydx.groups
            anydx: list[_Pairs] = []
            for column, length in enumerate(lengths):
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
            owner = self.px_owner[positions]
            keep = self.eligible[owner]
            positions, owner = positions[keep], owner[keep]
            exact = self.pxf.exact[self.px.cell[positions]]
            extra.append(_dedupe(_anchor_pairs(
                rules.anchor_px.start, rules.anchor_px.groups, owner, exact, 0,
                np.full(len(owner), -1)), rules.n_groups))
        # The sources anchor disjoint groups (by their dx_position), so they cannot repeat
        # each other's pairs.
        return _Pairs.concat(extra) if len(extra) > 1 else primary

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

        comprehensive = np.flatnonzero(rules.stage[g] == COMPREHENSIVE)
        if len(comprehensive):
            ok[comprehensive] = rules.treatment[g[comprehensive]] == self.treatment[
                c[comprehensive]]

        medical = np.flatnonzero(rules.needs_conservative[g] & ~self.conservative[c])
        if rules.options.conservative_fallback:
            fallback[medical] = True
        else:
            ok[medical] = False

        sdx = np.flatnonzero(ok & rules.has_sdx[g])
        if len(sdx):
            rows, positions = self.secondary_cells(c[sdx])
            cell = self.dx.cell[positions]
            ids = self.dxf.ids[np.maximum(cell, 0)]
            keys = g[sdx][rows][:, None] * len(rules.dx_index.prefixes) + ids
            hit = ((ids >= 0) & (cell >= 0)[:, None] & member_any(
                keys.ravel(), rules.sdx_keys).reshape(keys.shape)).any(axis=1)
            found = np.zeros(len(sdx), dtype=bool)
            found[rows[hit]] = True
            ok[sdx] = found

        size = rules.px_size
        px_rows = np.flatnonzero(ok & rules.has_px[g])
        if len(px_rows):
            rows, positions = self.kept_cells(c[px_rows])
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
            rows, positions = self.kept_cells(c[related], skip_principal=True)
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

    def ranking_keys(self, pairs: _Pairs, facts: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The ranking keys of valid pairs, most significant first (smaller is better)."""
        rules = self.rules
        g, c = pairs.group, pairs.claim
        core = rules.stage[g] != 0  # pre-groups are taken in workbook order

        def core_only(values: np.ndarray) -> np.ndarray:
            return np.where(core, values, 0)

        related = facts["related"].astype(np.int64)
        required = facts["required"].astype(np.int64)
        keys: list[np.ndarray] = [
            rules.stage[g].astype(np.int64),
            core_only(-pairs.dx_len.astype(np.int64)),
            core_only(facts["fallback"].astype(np.int64)),
            core_only(-related),
        ]
        for strategy in rules.options.tie_break:
            if strategy == "treatment_rank":
                value = -rules.treatment[g].astype(np.int64)
            elif strategy == "principal_px":
                value = (~facts["has_principal"]).astype(np.int64)
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


def _choose(pairs: _Pairs, keys: list[np.ndarray], n: int, ranked: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(winner pair per claim or -1, runner-up pair or -1, pair order by claim then rank).

    Claims with a single candidate need no sort; the order covers every pair only when
    ``ranked`` (evidence), else only the pairs of claims with several candidates.
    """
    winner = np.full(n, -1, dtype=np.int64)
    runner = np.full(n, -1, dtype=np.int64)
    candidates = np.arange(len(pairs.claim))
    if not ranked and len(candidates):
        # Stage and code length decide most claims: keep only the pairs at their claim's
        # best (stage, length) before sorting what is still tied.
        head = keys[0] * 64 + keys[1]
        best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, pairs.claim, head)
        candidates = np.flatnonzero(head == best[pairs.claim])
    counts = np.bincount(pairs.claim[candidates], minlength=n)
    single_mask = counts[pairs.claim[candidates]] == 1
    single = candidates[single_mask]
    winner[pairs.claim[single]] = single
    subset = np.arange(len(pairs.claim)) if ranked else candidates[~single_mask]
    if len(subset) == 0:
        return winner, runner, subset
    words = _packed([pairs.claim[subset], *(k[subset] for k in keys)])
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
    return winner, runner, order


# --- result columns --------------------------------------------------------------------------


def _label(labels: list[str | None], index: np.ndarray) -> pa.DictionaryArray:
    """``labels[index]`` as a dictionary column (a ``None`` label gives a null)."""
    present = [label for label in labels if label is not None]
    compact = np.cumsum([label is not None for label in labels], dtype=np.int32) - 1
    is_null = np.array([label is None for label in labels], dtype=bool)
    indices = compact[index]
    mask = is_null[index] if is_null.any() else None
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, type=pa.int32(), mask=mask if mask is not None and mask.any()
                 else None),
        pa.array(present, type=pa.string()))


def _take(labels: list[str | None], index: np.ndarray) -> pa.Array:
    return pa.array(labels, type=pa.string()).take(pa.array(index, type=pa.int64()))


def _auxiliary(chunk: _Chunk, winner_group: np.ndarray, evidence: bool
               ) -> dict[str, pa.Array]:
    """CCI, severity, age band and discharge typing, and the auxiliary type applied."""
    rules, dx, dxf, f, n = chunk.rules, chunk.dx, chunk.dxf, chunk.fields, chunk.n
    # Only secondary diagnoses that carry a CCI component, a severity level or a malignancy
    # matter here; one gather of each code's packed bits and one OR per claim give all three.
    all_cells = dx.cell
    code_bits = np.where(all_cells >= 0, dxf.aux_bits[np.maximum(all_cells, 0)], 0).astype(
        np.uint32)
    firsts = dx.offsets[:-1][dx.offsets[1:] > dx.offsets[:-1]]
    code_bits[firsts] = 0  # the principal diagnosis is not typed
    positions = np.flatnonzero(code_bits)
    owner = dx.owner()[positions].astype(np.int64)
    values = code_bits[positions]
    cell = all_cells[positions]
    safe = cell
    claim_bits = np.zeros(n, dtype=np.uint32)
    _reduce_into(claim_bits, np.bitwise_or, owner, values)

    # CCI: one weight per component present among secondary diagnoses, hierarchy applied.
    bits = claim_bits & _CCI_MASK
    with_cci = np.flatnonzero(bits)
    present = bits[with_cci]
    kept = present.copy()
    for k in np.flatnonzero(rules.cci_cleared_by):  # the hierarchy: only the few that clear
        has = ((present >> np.uint32(k)) & np.uint32(1)) == 1
        kept[has] &= ~rules.cci_cleared_by[k]
    bits[with_cci] = kept
    scores = np.zeros(len(with_cci), dtype=np.int16)
    for k, weight in enumerate(rules.cci_weights):
        scores += (((kept >> np.uint32(k)) & np.uint32(1)) * weight).astype(np.int16)
    score = np.zeros(n, dtype=np.int16)
    score[with_cci] = scores
    level = np.searchsorted(rules.cci_level_min, score, side="right") - 1

    # Severity: secondary-diagnosis lists count when LOS > the threshold; death first.
    long_stay = f.los > rules.options.severity_los_days
    sev = np.where(claim_bits & _SEVERE_BIT, 2, np.where(claim_bits & _MODERATE_BIT, 1, 0))
    sev = np.where(long_stay, sev, 0).astype(np.int8)
    pdx_safe = np.maximum(chunk.pdx, 0)
    pdx_malignant = (chunk.pdx >= 0) & dxf.malignant[pdx_safe]
    malignant_cell = (values & _MALIGNANT_BIT) != 0
    secondary_malignant = (claim_bits & _MALIGNANT_BIT) != 0
    pdx_z51 = (chunk.pdx >= 0) & dxf.z51[pdx_safe]
    tumour = pdx_malignant | (pdx_z51 & secondary_malignant)
    # Metastasis / another site: a secondary malignant diagnosis of another category than the
    # tumour's own (the principal's, or for Z51 the first secondary malignant one).
    primary_category = np.where(pdx_malignant, dxf.category[pdx_safe], -1)
    m_rows = np.flatnonzero(malignant_cell)
    m_owner = owner[m_rows]
    m_category = dxf.category[safe[m_rows]]
    if len(m_rows):
        first = np.r_[True, m_owner[1:] != m_owner[:-1]]
        from_z51 = primary_category[m_owner[first]] < 0
        primary_category[m_owner[first][from_z51]] = m_category[first][from_z51]
    other_site = np.zeros(n, dtype=bool)
    other_site[m_owner[m_category != primary_category[m_owner]]] = True
    metastasis = tumour & other_site & long_stay
    # SEVERITY_LABELS: 0-3 disease (death, severe, moderate, mild), 4-8 tumour (death,
    # metastasis, severe, moderate, other).
    by_list = np.where(sev == 2, 1, np.where(sev == 1, 2, 3))
    disease = np.where(f.death, 0, by_list)
    tumour_level = np.where(f.death, 4, np.where(metastasis, 5, by_list + 5))
    severity = np.where(tumour, tumour_level, disease)

    # Age band: the first band of the options that holds.
    band = np.full(n, -1, dtype=np.int64)
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
    discharge = np.where(f.death, 0, np.where(f.transfer, 1, -1))

    # The auxiliary type applied: the highest coefficient the group defines.
    labels_cci = [f"CCI:{code}" for code in rules.cci_level_codes]
    labels_age = [f"AGE:{spec.code}" for spec in rules.options.age_bands]
    aux_type = np.full(n, -1, dtype=np.int64)
    aux_value = np.full(n, np.nan)
    if rules.aux_types:
        type_index = {t: i for i, t in enumerate(rules.aux_types)}
        grouped = winner_group >= 0
        safe_group = np.maximum(winner_group, 0)
        for labels, values in ((labels_cci, level), (list(SEVERITY_LABELS), severity),
                               (labels_age, band), (list(DISCHARGE_LABELS), discharge)):
            mapping = np.array([type_index.get(label, -1) for label in labels] + [-1])
            t = mapping[np.where(values >= 0, values, len(labels))]
            coefficient = np.where(
                grouped & (t >= 0), rules.aux_coefficient[safe_group, np.maximum(t, 0)]
                if rules.aux_coefficient.size else np.nan, np.nan)
            better = ~np.isnan(coefficient) & (np.isnan(aux_value) | (coefficient > aux_value))
            aux_type[better] = t[better]
            aux_value[better] = coefficient[better]
    columns = {
        "dip_aux_type": _label([*rules.aux_types, None], np.where(aux_type >= 0, aux_type,
                                                                  len(rules.aux_types))),
        "dip_aux_coefficient": pa.array(aux_value, mask=np.isnan(aux_value)),
        "dip_cci": pa.array(score, type=pa.int16()),
        "dip_cci_level": _label(labels_cci, level),
        "dip_severity": _label(list(SEVERITY_LABELS), severity),
        "dip_age_band": _label([*labels_age, None], np.where(band >= 0, band, len(labels_age))),
        "dip_discharge": _label([*DISCHARGE_LABELS, None], np.where(discharge >= 0, discharge,
                                                                    2)),
    }
    if evidence:
        component = dxf.cci[safe]
        counted = component >= 0
        sev_cell = dxf.severity[safe]
        kept_component = np.zeros(len(cell), dtype=bool)
        kept_component[counted] = ((bits[owner[counted]] >> component[counted].astype(
            np.uint32)) & np.uint32(1)) == 1
        # One entry per component counted (the first diagnosis that carries it).
        first_of = np.zeros(len(cell), dtype=bool)
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


def _group_chunk(chunk: _Chunk, evidence: bool) -> dict[str, pa.Array]:
    rules, n = chunk.rules, chunk.n
    pairs = chunk.candidates()
    facts = chunk.evaluate(pairs)
    valid = np.flatnonzero(facts["ok"])
    pairs = pairs.take(valid)
    facts = {name: values[valid] for name, values in facts.items()}
    keys = chunk.ranking_keys(pairs, facts)
    winner_pair, runner_pair, order = _choose(pairs, keys, n, ranked=evidence)
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

    n_groups = rules.n_groups

    def of_winner(values: np.ndarray) -> np.ndarray:
        if len(values) == 0:  # a rule set without groups
            return np.zeros(n, dtype=values.dtype)
        return values[np.maximum(winner_group, 0)]

    # Group code and name: listed groups, the blank group, then the generated comprehensive
    # groups of this chunk, one label per distinct (category, treatment), all in one gather.
    label_index = np.where(has_winner, winner_group, n_groups)
    codes: list[str | None] = [*rules.group_codes, blank]
    names: list[str | None] = [*rules.group_names, "空白病组" if blank else None]
    generated_rows = np.flatnonzero(generated)
    if len(generated_rows):
        category = chunk.dxf.category[chunk.pdx[generated_rows]].astype(np.int64)
        key = category * len(TREATMENTS) + chunk.treatment[generated_rows]
        # The distinct keys without a sort: their range (categories x 4) is small.
        seen = np.zeros(int(key.max()) + 1, dtype=bool)
        seen[key] = True
        unique = np.flatnonzero(seen)
        rank = np.cumsum(seen) - 1
        inverse = rank[key]
        categories = chunk.dxf.categories.take(
            pa.array(unique // len(TREATMENTS), type=pa.int64())).to_pylist()
        treatments = (unique % len(TREATMENTS)).tolist()
        codes += [f"ZH-{c}-{TREATMENT_CODES[t]}" for c, t in zip(categories, treatments,
                                                                 strict=True)]
        names += [f"{c} 综合病种（{TREATMENT_ZH[t]}）" for c, t in zip(categories, treatments,
                                                                   strict=True)]
        label_index[generated_rows] = n_groups + 1 + inverse
    group_column = _take(codes, label_index)
    name_column = _take(names, label_index)
    stage_index = np.where(has_winner, of_winner(rules.stage),
                           np.where(generated, COMPREHENSIVE, len(STAGES)))
    treatment_index = np.where(
        has_winner, of_winner(rules.treatment),
        np.where(generated, chunk.treatment, len(TREATMENTS)))

    columns: dict[str, pa.Array] = {
        "dip_status": _label(list(STATUSES), status),
        "dip_group": group_column,
        "dip_group_name": name_column,
        "dip_stage": _label([*STAGES, None], stage_index),
        "dip_treatment": _label([*TREATMENTS, None], treatment_index),
        "dip_basic_level": pa.array(has_winner & of_winner(rules.basic_level)),
    }
    columns.update(_auxiliary(chunk, np.where(has_winner, winner_group, -1), evidence))
    columns["dip_reason"] = _label([None, *REASONS], reason)
    columns["dip_rule_set"] = _label([rules.rule_set_id], np.zeros(n, dtype=np.int32))
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
                             chunk.px_owner[matched], n)
    dropped = chunk.px_dropped
    excluded_px = list_column(px.distinct.take(pa.array(px.cell[dropped], type=pa.int64())),
                              chunk.px_owner[dropped], n)

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
    """
    table = pa.Table.from_batches([clean]) if isinstance(clean, pa.RecordBatch) else clean
    schema = dip_result_schema(evidence=evidence)
    if table.num_rows == 0:
        return schema.empty_table()
    dx = code_list(table.column("diagnoses"))
    px = code_list(table.column("procedures"))
    dxf = _dx_facts(rules, dx.distinct)
    pxf = _px_facts(rules, px.distinct)
    parts: dict[str, list[pa.Array]] = {name: [] for name in schema.names[1:]}
    for start in range(0, table.num_rows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, table.num_rows)
        chunk = _Chunk(rules, table.slice(start, stop - start), dx.slice(start, stop),
                       px.slice(start, stop), dxf, pxf)
        for name, array in _group_chunk(chunk, evidence).items():
            parts[name].append(array)
        if progress is not None:
            progress(stop - start)
    arrays = [_claim_ids(table)] + [
        pa.chunked_array(parts[name], type=schema.field(name).type) for name in schema.names[1:]
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
