"""The code-spec grammar of DIP catalogues and single-disease lists, parsed once at load time.

Diagnosis specs (reference §2.3, §9.2):

* ``K35.8`` / ``K35`` / ``A`` - a prefix: matches every code that starts with it after
  normalisation, so a 3-character category covers all its sub-codes;
* ``C00-C75`` - a range of 3-character categories (letter and number compared), or
  ``T31.3-T31.9`` a range of sub-categories of one category;
* ``*`` or ``所有诊断`` - any diagnosis (a wildcard);
* ``A|B|C`` - any of the alternatives.

Procedure expressions: ``a|b`` any of, ``a+b`` all of, ``a+b|c`` = (a and b) or c. Procedure
codes are matched exactly (the full 医保版 code, ``x`` extensions included) unless a list says
it matches by prefix.

Codes are normalised before any comparison, never matched on raw strings: diagnoses are
upper-cased without spaces, and a dagger/asterisk pair keeps its first code (``M51.1+`` ->
``M51.1``, ``A01.000x005+J17.0*`` -> ``A01.000X005``);
procedures are lower-cased (``x`` extensions) with spaces removed.
"""

from __future__ import annotations

import re

WILDCARDS = frozenset({"*", "所有诊断"})
DX_TOKEN = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{0,10})?$|^[A-Z]$|^[A-Z][0-9]$")
DX_RANGE = re.compile(r"^([A-Z])([0-9]{2})-([A-Z])([0-9]{2})$")
DX_SUB_RANGE = re.compile(r"^([A-Z][0-9]{2})\.([0-9])-([A-Z][0-9]{2})\.([0-9])$")
PX_TOKEN = re.compile(r"^[0-9]{2}(\.[0-9a-z]{1,10})?$")
_DX_MARK = re.compile(r"[+*†].*$")


class SpecError(ValueError):
    """A spec that does not follow the grammar; the message says what is wrong."""


def normalise_dx(code: str) -> str:
    """Upper case, no spaces, the code before any dagger/asterisk mark (``m51.1+`` -> ``M51.1``,
    ``A01.000x005+J17.0*`` -> ``A01.000X005``)."""
    return _DX_MARK.sub("", "".join(code.split()).upper())


def normalise_px(code: str) -> str:
    """Lower case (``x`` extensions), no spaces."""
    return code.strip().lower().replace(" ", "")


def is_wildcard(spec: str | None) -> bool:
    return spec is not None and spec.strip() in WILDCARDS


def _expand_range(token: str) -> list[str]:
    match = DX_RANGE.match(token)
    if match:
        first_letter, first_number, last_letter, last_number = match.groups()
        start = (ord(first_letter), int(first_number))
        stop = (ord(last_letter), int(last_number))
        if stop < start:
            raise SpecError(f"range {token!r} runs backwards")
        codes = []
        letter, number = start
        while (letter, number) <= stop:
            codes.append(f"{chr(letter)}{number:02d}")
            number += 1
            if number == 100:
                letter, number = letter + 1, 0
        return codes
    match = DX_SUB_RANGE.match(token)
    if match:
        first_category, first_digit, last_category, last_digit = match.groups()
        if first_category != last_category:
            raise SpecError(f"sub-category range {token!r} must stay within one category")
        if int(last_digit) < int(first_digit):
            raise SpecError(f"range {token!r} runs backwards")
        return [f"{first_category}.{d}" for d in range(int(first_digit), int(last_digit) + 1)]
    raise SpecError(f"{token!r} is not a range like C00-C75 or T31.3-T31.9")


def parse_dx_spec(spec: str | None, *, allow_wildcard: bool = True) -> tuple[str, ...] | None:
    """The prefixes a diagnosis spec matches; ``None`` for a wildcard, ``()`` for empty."""
    if spec is None or not spec.strip():
        return ()
    if is_wildcard(spec):
        if not allow_wildcard:
            raise SpecError("a wildcard is not allowed here")
        return None
    prefixes: list[str] = []
    for raw in spec.split("|"):
        token = normalise_dx(raw)
        if not token:
            raise SpecError(f"empty alternative in {spec!r}")
        if "-" in token:
            prefixes.extend(_expand_range(token))
        elif DX_TOKEN.match(token):
            prefixes.append(token)
        else:
            raise SpecError(
                f"{raw!r} is not an ICD-10 code, category, chapter letter or range"
            )
    return tuple(dict.fromkeys(prefixes))


def parse_px_expression(expression: str | None) -> tuple[tuple[str, ...], ...]:
    """Alternatives of a procedure expression, each the codes that must all be present."""
    if expression is None or not expression.strip():
        return ()
    alternatives: list[tuple[str, ...]] = []
    for alternative in expression.split("|"):
        codes = tuple(dict.fromkeys(normalise_px(code) for code in alternative.split("+")))
        for code in codes:
            if not PX_TOKEN.match(code):
                raise SpecError(f"{code!r} is not an ICD-9-CM-3 procedure code")
        alternatives.append(codes)
    return tuple(dict.fromkeys(alternatives))


def parse_px_set(text: str | None) -> tuple[str, ...]:
    """A set of procedure codes joined by ``+`` (or ``|``): related procedures, exclusions."""
    if text is None or not text.strip():
        return ()
    codes = tuple(dict.fromkeys(normalise_px(c) for c in re.split(r"[+|]", text)))
    for code in codes:
        if not PX_TOKEN.match(code):
            raise SpecError(f"{code!r} is not an ICD-9-CM-3 procedure code")
    return codes
