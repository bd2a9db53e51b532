"""Build ``anon_region_2025/drg_weights.csv`` from the regional weight catalogue.

The catalogue (``shared/reference/dip_and_payment/data/drg_weights_anon_region_2025.csv``, 839
groups) is a local scheme based on CHS-DRG 2.0; the grouper assigns CHS-DRG 1.1 codes (628 DRGs
in ``grouper_rules/chs_drg_1_1/drg.csv``). Codes were reused with other meanings between the
versions (1.1 AA19 is a heart transplant, the catalogue's AA19 a heart-lung transplant), so
groups are matched by name, never by code:

1. Each name is split into its base (the ADRG part) and its severity phrase (伴严重 = MCC,
   伴一般 / 伴 = CC, 不伴 = none, and the catalogue's combined 伴严重或伴一般 / 伴一般或不伴).
2. Bases are compared after spelling normalisation (full-width brackets and signs, 疾患/疾病,
   梗塞/梗死, 成型/成形) or through the explicit rename list ``RENAMED`` below.
3. Tiers, recorded in ``weight_source``:
   ``catalogue``: same base, a catalogue row covering the DRG's severity (or both unsplit);
   ``catalogue_renamed``: the same through a rename;
   ``catalogue_unsplit``: 1.1 splits by severity, the catalogue has one weight for the group;
   ``catalogue_split_mean``: 1.1 does not split, the catalogue does: the plain mean of the
   split weights (the catalogue has no case counts to weight it);
   ``imputed_mdc_median``: no matching group: the median catalogue weight of the same MDC,
   ADRG type (surgical / non-OR procedure / medical) and severity, widened to MDC and type,
   then MDC, when fewer than 3 rows qualify.
4. Level-2/3 weights go to a ``2|3`` row, level-1 weights to a ``1`` row; an empty level-1
   weight means the catalogue does not pay the group at level 1, so the level-1 row is
   ``per_item``. Catalogue groups without weight (无权重组) are ``per_item`` at every level.
   Imputed weights are one row for all levels.

Run from the repository root with the shared reference beside it:
``python payment_params/build_anon_region_2025.py [path/to/catalogue.csv]``. Deterministic.
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CATALOGUE = (
    REPO.parent / "shared" / "reference" / "dip_and_payment" / "data"
    / "drg_weights_anon_region_2025.csv"
)
DRG_TABLE = REPO / "grouper_rules" / "chs_drg_1_1" / "drg.csv"
OUTPUT = HERE / "anon_region_2025" / "drg_weights.csv"

# Severity phrases (longest first) -> severities covered: M = MCC, C = CC, N = none.
SEVERITY_PHRASES = (
    ("伴严重或伴一般合并症或并发症", "MC"),
    ("伴严重或伴一般并发症或合并症", "MC"),
    ("伴一般或不伴并发症或合并症", "CN"),
    ("伴一般或不伴合并症或并发症", "CN"),
    ("伴严重并发症或合并症", "M"),
    ("伴严重合并症或并发症", "M"),
    ("伴一般合并症或并发症", "C"),
    ("伴一般并发症或合并症", "C"),
    ("伴并发症或合并症", "C"),
    ("伴合并症或并发症", "C"),
    ("不伴并发症或合并症", "N"),
    ("不伴合并症或并发症", "N"),
)
SUFFIX_SEVERITY = {"1": "M", "3": "C", "5": "N"}
SPELLING = (
    ("／", "/"), ("（", "("), ("）", ")"), ("＜", "<"), ("＞", ">"), ("疾患", "疾病"),
    ("梗塞", "梗死"), ("成型", "成形"), (" ", ""),
)
# CHS-DRG 1.1 base name -> catalogue base name, for groups renamed without a change of content
# (after spelling normalisation). Groups that were split or merged are not listed.
RENAMED = {
    "新生儿(出生年龄<29天)的其他手术": "新生儿(出生年龄<29天)其他手术",
    "足月儿": "足月儿相关疾病",
    "HIV相关疾病的手术室手术": "HIV相关疾病的手术",
    "与多发重要创伤诊断有关的其他手术室操作": "与多发伤有关的其他手术操作",
    "女性生殖系感染": "女性生殖系统感染",
    "脊髓手术": "脊柱脊髓手术",
    "脑血管介入治疗": "神经介入治疗",
    "脑血管病溶栓治疗": "神经系统血管病溶栓治疗",
    "脑血管介入检查术": "神经介入检查术",
    "脑缺血性疾病": "其他脑缺血性疾病",
    "晶体手术": "晶状体手术",
    "肺水肿及呼吸衰竭": "肺水肿或呼吸衰竭",
    "其他消化溃疡": "其他消化道溃疡",
    "其他消化系统诊断": "其他消化系统疾病",
    "甲状腺大手术": "甲状腺、甲状旁腺大手术",
    "与妊娠、分娩有关的其他手术操作": "与妊娠、分娩相关的其他手术操作",
    "淋巴瘤等伴重大手术": "淋巴瘤、白血病等伴重大手术",
    "淋巴瘤等伴其他手术": "淋巴瘤、白血病等伴其他手术",
    "骨髓增生性疾病或低分化肿瘤等伴重大手术": "骨髓增生性疾病或恶性增生性疾病等伴重大手术",
    "骨髓增生性疾病或低分化肿瘤等伴其他手术": "骨髓增生性疾病或恶性增生性疾病等伴其他手术",
    "恶性增生性疾病的介入和/或射频治疗": "恶性及增生性疾病的介入、消融治疗",
    "恶性增生性疾病的化学治疗和/或其他治疗": "恶性及增生性疾病的化学治疗和/或其他治疗",
    "恶行增生性疾病的靶向、免疫治疗": "恶性及增生性疾病的靶向、免疫治疗",
    "恶性增生性疾病的其他治疗": "恶性及增生性疾病的其他治疗",
    "恶性增生性疾病治疗后的随诊检查": "恶性及增生性疾病治疗后的随诊检查",
    "恶性增生性疾病维持性治疗": "恶性及增生性疾病维持性治疗",
    "骨髓瘤": "浆细胞病",
    "全身性感染的手术": "全身性感染疾病的手术",
    "焦虑性障碍": "焦虑障碍",
    "其他接触健康服务的诊断伴手术室操作": "其他接触健康服务的诊断伴手术操作",
}
COLUMNS = (
    "drg", "hospital_levels", "weight", "payment", "apply_hospital_coefficient", "group_attr",
    "weight_source", "catalogue_code", "name_zh", "note",
)
FOUR_PLACES = Decimal("0.0001")


def split_name(name: str) -> tuple[str, str | None]:
    """(base, severities covered) of a group name; severities None for an unsplit group."""
    for phrase, severities in SEVERITY_PHRASES:
        for comma in ("，", ","):
            if name.endswith(comma + phrase):
                return name[: -len(comma + phrase)], severities
    return name, None


def normalise(base: str) -> str:
    for old, new in SPELLING:
        base = base.replace(old, new)
    return base


def adrg_type(drg: str) -> str:
    letter = drg[1]
    if "A" <= letter <= "J":
        return "surgical"
    if "K" <= letter <= "Q":
        return "non_or_procedure"
    return "medical"


def mean4(values: list[Decimal]) -> Decimal:
    return (sum(values, Decimal(0)) / len(values)).quantize(FOUR_PLACES, ROUND_HALF_UP)


class Catalogue:
    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.by_base: dict[str, list[tuple[str | None, dict[str, str]]]] = defaultdict(list)
        for row in rows:
            base, severities = split_name(row["drg_name_zh"])
            self.by_base[normalise(base)].append((severities, row))
        self.rows = rows

    def median(self, drg: str, severity: str | None) -> tuple[Decimal, str]:
        mdc, kind = drg[0], adrg_type(drg)
        weighted = [(split_name(r["drg_name_zh"])[1], r) for r in self.rows
                    if r["weight_level2_3_hospital"]]
        tiers = (
            ("MDC, type and severity", lambda s, r: r["mdc"] == mdc and r["group_type"] == kind
             and (s == severity if severity is None else bool(s and severity in s))),
            ("MDC and type", lambda s, r: r["mdc"] == mdc and r["group_type"] == kind),
            ("MDC", lambda s, r: r["mdc"] == mdc),
        )
        for label, keep in tiers:
            values = [Decimal(r["weight_level2_3_hospital"]) for s, r in weighted if keep(s, r)]
            if len(values) >= 3:
                middle = Decimal(str(statistics.median(values))).quantize(FOUR_PLACES,
                                                                        ROUND_HALF_UP)
                return middle, f"median of {len(values)} catalogue weights with the same {label}"
        values = [Decimal(r["weight_level2_3_hospital"]) for _, r in weighted]
        return Decimal(str(statistics.median(values))), "median of all catalogue weights"


def level_rows(drg: str, name: str, source: str, code: str, attr: str, level23: str,
               level1: str, note: str) -> list[dict[str, str]]:
    common = {"drg": drg, "apply_hospital_coefficient": "true", "group_attr": attr,
              "weight_source": source, "catalogue_code": code, "name_zh": name}
    if not level23:
        return [{**common, "hospital_levels": "", "weight": "", "payment": "per_item",
                 "note": (note + "; " if note else "") + "catalogue gives no weight (无权重组)"}]
    rows = [{**common, "hospital_levels": "2|3", "weight": level23, "payment": "group",
             "note": note}]
    if level1:
        rows.append({**common, "hospital_levels": "1", "weight": level1, "payment": "group",
                     "note": note})
    else:
        rows.append({**common, "hospital_levels": "1", "weight": "", "payment": "per_item",
                     "note": "no level-1 weight in the catalogue: not paid by DRG at level 1"})
    return rows


def build(catalogue_path: Path) -> tuple[list[dict[str, str]], Counter[str]]:
    with catalogue_path.open(encoding="utf-8") as handle:
        catalogue = Catalogue(list(csv.DictReader(handle)))
    with DRG_TABLE.open(encoding="utf-8") as handle:
        drgs = list(csv.DictReader(handle))
    out: list[dict[str, str]] = []
    tiers: Counter[str] = Counter()
    for drg in drgs:
        code, name = drg["drg"], drg["name_zh"]
        base, _ = split_name(name)
        key = normalise(base)
        source = "catalogue"
        if key not in catalogue.by_base and key in RENAMED:
            key, source = RENAMED[key], "catalogue_renamed"
        want = SUFFIX_SEVERITY.get(code[3])
        candidates = catalogue.by_base.get(key, [])
        unsplit = [row for severities, row in candidates if severities is None]
        covering = [row for severities, row in candidates
                    if want is not None and severities is not None and want in severities]
        split = [row for severities, row in candidates if severities is not None]
        if (want is None and unsplit) or (want is not None and covering):
            row = (unsplit if want is None else covering)[0]
            rows = level_rows(code, name, source, row["drg_code"], row["group_attr"],
                              row["weight_level2_3_hospital"], row["weight_level1_hospital"], "")
        elif want is not None and unsplit and not split:
            row = unsplit[0]
            source = "catalogue_unsplit"
            rows = level_rows(code, name, source, row["drg_code"], row["group_attr"],
                              row["weight_level2_3_hospital"], row["weight_level1_hospital"],
                              "catalogue does not split this group by severity")
        elif want is None and split and all(r["weight_level2_3_hospital"] for r in split):
            source = "catalogue_split_mean"
            level23 = mean4([Decimal(r["weight_level2_3_hospital"]) for r in split])
            level1 = (str(mean4([Decimal(r["weight_level1_hospital"]) for r in split]))
                      if all(r["weight_level1_hospital"] for r in split) else "")
            codes = "|".join(r["drg_code"] for r in split)
            rows = level_rows(code, name, source, codes, split[0]["group_attr"], str(level23),
                              level1, f"plain mean of the catalogue's severity splits {codes}")
        else:
            source = "imputed_mdc_median"
            weight, how = catalogue.median(code, want)
            rows = [{"drg": code, "hospital_levels": "", "weight": str(weight),
                     "payment": "group", "apply_hospital_coefficient": "true",
                     "group_attr": "", "weight_source": source, "catalogue_code": "",
                     "name_zh": name, "note": f"imputed: {how}"}]
        tiers[source] += 1
        out.extend(rows)
    return out, tiers


def main() -> None:
    catalogue_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CATALOGUE
    rows, tiers = build(catalogue_path)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    with OUTPUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    total = sum(tiers.values())
    for source, count in sorted(tiers.items(), key=lambda item: -item[1]):
        print(f"{source:24} {count:4} DRGs ({count / total:.1%})")
    print(f"{'total':24} {total:4} DRGs, {len(rows)} rows -> {OUTPUT}")


if __name__ == "__main__":
    main()
