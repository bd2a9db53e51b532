"""A small synthetic charge-item catalogue for the audit sample (not a real price list).

Service-item codes follow the chapter layout of the national service price catalogue
(全国医疗服务价格项目规范: 11 general services, 12 nursing and treatment, 21/22 imaging and
ultrasound, 25 lab, 31 clinical, 33 surgery, 34 rehabilitation); drug codes start with X and
the ATC class (the national drug code's shape), so the support table (``data/dx_support.csv``)
can match them by prefix. Prices are plausible round figures, not any region's tariff.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    category: str  # the hospital's local fee category as it appears in the extract
    price: float
    pool: str


ITEMS: tuple[Item, ...] = (
    # hotel: bed, nursing, consultation
    Item("110300001", "普通病房床位费", "01", 45.0, "bed"),
    Item("120100004", "Ⅱ级护理", "07", 22.0, "nursing"),
    Item("120100003", "Ⅰ级护理", "07", 30.0, "nursing_l1"),
    Item("110200002", "住院诊查费", "02", 15.0, "consult"),
    Item("120900001", "尸体料理", "14", 200.0, "postmortem"),
    # labs
    Item("250101015", "血细胞分析", "04", 25.0, "lab"),
    Item("250102035", "尿液分析", "04", 15.0, "lab"),
    Item("250301002", "肝功能检测", "04", 60.0, "lab"),
    Item("250302001", "肾功能检测", "04", 45.0, "lab"),
    Item("250305007", "电解质测定", "04", 30.0, "lab"),
    Item("250402001", "血糖测定", "04", 8.0, "lab"),
    Item("250501004", "C反应蛋白测定", "04", 35.0, "lab"),
    Item("250104001", "血气分析", "04", 80.0, "lab"),
    # examinations and imaging
    Item("210102015", "数字化摄影DR胸部", "03", 90.0, "exam"),
    Item("210300001", "X线计算机体层CT平扫", "1409", 260.0, "exam"),
    Item("220201001", "彩色多普勒超声常规检查", "1410", 150.0, "exam"),
    Item("310701001", "常规心电图检查", "03", 25.0, "exam"),
    Item("210400001", "磁共振平扫", "1408", 600.0, "exam"),
    # treatment
    Item("120400001", "静脉输液", "05", 12.0, "treat"),
    Item("120400006", "静脉注射", "05", 8.0, "treat"),
    Item("121000001", "雾化吸入", "05", 10.0, "treat"),
    Item("310603001", "呼吸机辅助呼吸", "05", 20.0, "ventilator"),
    Item("120800001", "氧气吸入", "1411", 5.0, "oxygen"),
    Item("311201001", "血液透析", "05", 450.0, "dialysis"),
    Item("260000002", "输血", "1412", 220.0, "transfusion"),
    # rehabilitation: one item under a local "14" code the default map does not know as therapy
    Item("340200001", "运动疗法", "1499", 55.0, "rehab_local"),
    Item("340200012", "作业疗法", "05", 45.0, "rehab"),
    # surgery, anaesthesia, materials
    Item("331303011", "腹腔镜下胆囊切除术", "06", 2400.0, "surgery"),
    Item("331506009", "人工髋关节置换术", "06", 5200.0, "surgery"),
    Item("330702009", "开胸探查术", "06", 3100.0, "surgery"),
    Item("331008011", "子宫切除术", "06", 2800.0, "surgery"),
    Item("330100005", "全身麻醉", "1413", 900.0, "anaesthesia"),
    Item("C0310010000000000001", "一次性使用吻合器", "0801", 1800.0, "material"),
    Item("C0201020000000000002", "一次性使用输液器", "08", 6.0, "material_small"),
    # drugs: generic pool (ATC classes that support no diagnosis in the support table)
    Item("XA11GAA001A001010100001", "维生素C注射液", "09", 6.0, "generic_drug"),
    Item("XN02BEA001A001010100001", "对乙酰氨基酚片", "09", 4.0, "generic_drug"),
    Item("XA03FAA001A001010100001", "甲氧氯普胺注射液", "09", 5.0, "generic_drug"),
    Item("XR05CBA001A001010100001", "氨溴索注射液", "09", 18.0, "generic_drug"),
    Item("XM01ABA001A001010100001", "双氯芬酸钠缓释片", "09", 12.0, "generic_drug"),
    Item("ZA09AAB001B001010100001", "复方丹参滴丸", "11", 22.0, "generic_drug"),
    # drugs: classes named by the support table
    Item("XA10ABA001B002010100001", "胰岛素注射液", "09", 68.0, "XA10"),
    Item("XC08CAA001A001010100001", "苯磺酸氨氯地平片", "09", 15.0, "XC08"),
    Item("XC09CAV001A001010100001", "缬沙坦胶囊", "09", 25.0, "XC09"),
    Item("XC02ACA001A001010100001", "可乐定片", "09", 9.0, "XC02"),
    Item("XC03CAF001B002010100001", "呋塞米注射液", "09", 3.0, "XC03"),
    Item("XC01AAD001A001010100001", "地高辛片", "09", 6.0, "XC01"),
    Item("XC07ABM001A001010100001", "酒石酸美托洛尔片", "09", 8.0, "XC07"),
    Item("XB01ABE001B002010100001", "依诺肝素钠注射液", "09", 42.0, "XB01"),
    Item("XJ01DDA001B001010100001", "注射用头孢曲松钠", "09", 36.0, "XJ01"),
    Item("XJ05AHO001A001010100001", "磷酸奥司他韦胶囊", "09", 40.0, "XJ05"),
    Item("XR03ACS001L001010100001", "沙丁胺醇吸入气雾剂", "09", 28.0, "XR03"),
    Item("XB03ACS001B002010100001", "蔗糖铁注射液", "09", 95.0, "XB03"),
    Item("XB05XAP001B002010100001", "氯化钾注射液", "09", 4.0, "XB05"),
    Item("XB05AAA001B002010100001", "人血白蛋白", "09", 380.0, "XB05A"),
    Item("XA12AAC001B002010100001", "葡萄糖酸钙注射液", "09", 6.0, "XA12"),
    Item("XA05BAG001B002010100001", "异甘草酸镁注射液", "09", 55.0, "XA05"),
    Item("XH03AAL001A001010100001", "左甲状腺素钠片", "09", 18.0, "XH03"),
    Item("XC10AAA001A001010100001", "阿托伐他汀钙片", "09", 20.0, "XC10"),
    Item("XA02BCO001B002010100001", "注射用奥美拉唑钠", "09", 30.0, "XA02"),
    Item("XN03AGV001A001010100001", "丙戊酸钠缓释片", "09", 26.0, "XN03"),
    Item("XN05AXR001A001010100001", "利培酮片", "09", 32.0, "XN05"),
    Item("XL01XAO001B002010100001", "注射用奥沙利铂", "09", 420.0, "XL01"),
    Item("XH02ABD001B002010100001", "地塞米松磷酸钠注射液", "09", 3.0, "XH02"),
)

ITEM_CODE = np.array([item.code for item in ITEMS])
ITEM_NAME = np.array([item.name for item in ITEMS])
ITEM_CATEGORY = np.array([item.category for item in ITEMS])
ITEM_PRICE = np.array([item.price for item in ITEMS])
ITEM_POOL = np.array([item.pool for item in ITEMS])


def pool(name: str) -> np.ndarray:
    """Indexes of the catalogue items in a pool."""
    return np.flatnonzero(name == ITEM_POOL)


def first_item_with_prefix(prefix: str) -> int:
    """The first catalogue item whose code starts with ``prefix`` (-1 when none)."""
    for index, code in enumerate(ITEM_CODE):
        if code.startswith(prefix):
            return index
    return -1


@cache
def _support_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    path = Path(__file__).with_name("data") / "dx_support.csv"
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["dx_prefix"], []).append(row["item_prefix"])
    return {prefix: tuple(items) for prefix, items in table.items()}


def support_of(code: str) -> list[str]:
    """Item prefixes that treat diagnosis ``code`` according to the shipped support table."""
    return sorted({item for prefix, items in _support_table().items()
                   if code.startswith(prefix) for item in items})
