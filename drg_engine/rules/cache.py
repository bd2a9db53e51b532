"""Load a rule set by id or folder, compiled once and cached on disk by content hash.

The key hashes the compiler version, every manifest in the ``extends`` chain and every table
file, so editing any of them recompiles, and a warm start only reads one pickle (DESIGN §4).
The cache lives in ``$DRG_ENGINE_CACHE`` or ``~/.cache/drg-engine``; an unreadable or stale entry
is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from drg_engine.rules.compiled import COMPILER_VERSION, CompiledRules, compile_rules
from drg_engine.rules.manifest import ResolvedRuleSet, resolve_rule_set


def cache_dir() -> Path:
    env = os.environ.get("DRG_ENGINE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "drg-engine"


def content_hash(rule_set: ResolvedRuleSet) -> str:
    return hash_files(f"compiler {COMPILER_VERSION}", list(rule_set.manifest_paths),
                      rule_set.table_paths)


T = TypeVar("T")


def hash_files(header: str, files: list[Path], tables: dict[str, Path]) -> str:
    """SHA-256 over a compiler header, the given files and the named table files (sorted)."""
    digest = hashlib.sha256(f"{header}\n".encode())
    for path in files:
        digest.update(path.read_bytes())
    for name in sorted(tables):
        digest.update(name.encode())
        digest.update(tables[name].read_bytes())
    return digest.hexdigest()


def read_cached(path: Path, expected_hash: str, kind: type[T]) -> T | None:
    """The pickled ``kind`` at ``path`` if it is readable and has ``expected_hash``; else None."""
    try:
        with path.open("rb") as handle:
            compiled = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if not isinstance(compiled, kind) or getattr(compiled, "content_hash", None) != expected_hash:
        return None
    return compiled


def write_cached(path: Path, compiled: object) -> None:
    """Pickle ``compiled`` to ``path`` atomically; a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(compiled, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        # A read-only home must not stop grouping; the next start compiles again.
        return


def compile_rule_set(rule_set: ResolvedRuleSet, digest: str | None = None) -> CompiledRules:
    """Validate and compile without touching the cache."""
    from drg_engine.rules.tables import load_tables  # pydantic row models: only on a miss

    return compile_rules(load_tables(rule_set), digest or content_hash(rule_set))


@lru_cache(maxsize=8)
def _load_cached(directory: str, digest: str) -> CompiledRules:
    rule_set = resolve_rule_set(directory)
    path = cache_dir() / f"{rule_set.manifest.id}-{digest[:20]}.pickle"
    rules = read_cached(path, digest, CompiledRules)
    if rules is None:
        rules = compile_rule_set(rule_set, digest)
        write_cached(path, rules)
    return rules


def load_rules(id_or_path: str | Path = "chs_drg_1_1") -> CompiledRules:
    """The compiled rule set for an id (under grouper_rules/) or a rule-set folder."""
    rule_set = resolve_rule_set(id_or_path)
    return _load_cached(str(rule_set.directory), content_hash(rule_set))
