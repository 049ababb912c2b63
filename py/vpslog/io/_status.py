"""What a run that did not close cleanly may be missing, from what its manifest records."""

from __future__ import annotations

_WHY = {
    "open": "it was still being written when its manifest was saved: records logged later are not in it",
    "recovered": "its tab or browser stopped before the run closed; recovery kept the records stored until then",
    "snapshot": "it is a copy taken while the run was still being written: records logged later are not in it",
    "error": "a storage, a model or a producer failed: what was stored is valid, the run is not whole",
}


def missing(m: dict) -> str | None:
    """None for a closed run; else what may be missing, in one line."""
    status = m.get("status")
    if status == "closed":
        return None
    facts = [_WHY.get(status, "its status is not closed")]
    if rec := m.get("recovery"):
        facts.append(f"recovered after {rec.get('cause')}, last checkpoint {rec.get('last_checkpoint_at')}")
    if snap := m.get("snapshot"):
        facts.append(f"snapshot: {snap.get('note')}")
    # version 2 counts per stream; version 1 (events only) in errors
    streams = m.get("streams") or [{"name": "events", **(m.get("errors") or {}), **(m.get("recovery") or {})}]
    for key, what in (("dropped_records", "records dropped (never stored)"),
                      ("unattributed_records", "records after the last checkpoint, not attributed to a producer"),
                      ("trailing_bytes_cut", "trailing bytes of a partial record cut")):
        if counts := [f"{s['name']} {s[key]}" for s in streams if s.get(key)]:
            facts.append(f"{what}: {', '.join(counts)}")
    errors = m.get("errors") or {}
    if errors.get("storage"):
        facts.append(f"storage: {errors['storage']}")
    facts += [f"producer {p.get('id')}: {_last_line(p.get('error') or p.get('refused'))}"
              for p in m.get("producers") or [] if p.get("error") or p.get("refused")]
    facts += [str(x) for x in (errors.get("messages") or [])[:3]]
    return f"run {m.get('run_id')} is {status}: " + "; ".join(facts)


def _last_line(text: str) -> str:
    """A traceback's last line says what failed."""
    return str(text).strip().splitlines()[-1] if str(text).strip() else str(text)
