"""Suggested replies from the reviewed counter-narrative library (content/counter_narratives)."""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)


class SuggestionLibrary:
    """Loads approved entries lazily and reloads a file when it changes on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[Path, tuple[float, list[dict]]] = {}

    def _load(self, path: Path) -> list[dict]:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return []
        cached = self._cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            logger.warning("cannot read counter-narrative file %s", path.name)
            doc = {}
        entries = []
        for entry in doc.get("entries") or []:
            if not isinstance(entry, dict):
                continue
            if (entry.get("review") or {}).get("status") != "approved":
                continue  # drafts and retired entries are never offered
            entries.append({
                "id": str(entry.get("id", "")), "language": entry.get("language"),
                "kind": entry.get("kind"), "theme": doc.get("theme") or path.stem,
                "text": " ".join(str(entry.get("text") or "").split()),
                "question": " ".join(str(entry.get("question") or "").split()),
            })
        self._cache[path] = (mtime, entries)
        return entries

    def for_conversation(self, theme: str | None, language: str | None,
                         used: list[str] | None = None, limit: int = 5) -> list[dict]:
        if not theme or "/" in theme or theme.startswith("."):
            return []
        entries = self._load(self.directory / f"{theme}.yml")
        lang = language if language in ("en", "fr") else "en"
        used = set(used or [])
        chosen = [e for e in entries if e["language"] == lang and e["id"] not in used]
        chosen += [e for e in entries if e["language"] == lang and e["id"] in used]
        return chosen[:limit]
