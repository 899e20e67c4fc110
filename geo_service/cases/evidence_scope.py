"""The province rule of a case's evidence, once: which links a reader sees, and how many are hidden.

A case of Phrae may hold evidence of another province that a national colleague linked. A provincial reader sees
only the evidence within its provinces, wherever the case is read (its JSON page and list, ``evidence.geojson``,
the evidence pack, the case map, the suggestions, its audit trail), and is told how many items are not shown; an
item of another province asked for directly (linked, unlinked) answers exactly like an unknown one. National
readers (administrators, national viewers: ``Principal.provinces`` None) see everything.

Where a piece of evidence lies is its own domain's rule, spelled once there; ``IN_SCOPE`` names, per kind of link,
the function of that domain answering "which of these ids exist within the viewer's provinces":

- incidents: ``incidents.store.scope_sql`` (the incident's province; one the viewer logged outside every loaded
  province is the viewer's too);
- clearing patches: ``forest_loss.queries.PATCH_SCOPE`` (a part in the province: a border patch is in both);
- red flags, contracts, parcels: ``redflags.store.scope_sql`` (a flag also where one of its contracts lies);
- hotspots (the detection's attributed province) and fire events (their district's province): ``hotspots.store``;
- districts (their province) and protected areas (every province their outline has a part in): ``layers.queries``;
- raster statistics: where their zone lies (``hotspots.rasters.existing_zone_stat_ids``, through the layers' rule).

Every feature reader of the outputs takes the same viewer and keeps to its provinces by the same rule in its own SQL
(``cases.evidence_geojson``), so a reader that is given an id outside the viewer's provinces returns nothing for it.
The features path therefore runs the rule once, in the readers (``read_links``): what a reader returns for all of a
case's ids of its kind IS the kind's ids within the viewer's provinces, and only the existence of the rest (without
the rule: a primary-key lookup) is asked, to tell a hidden item from one that is gone.

Every entry of ``IN_SCOPE`` is called with the viewer; a domain whose functions take the provinces instead (red
flags, clearing patches) is adapted by ``with_viewer``, the one adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.db.models import LinkTarget
from geo_service.forest_loss import queries as forest_loss_queries
from geo_service.hotspots import rasters
from geo_service.hotspots import store as hotspots_store
from geo_service.incidents import store as incidents_store
from geo_service.layers import queries as layers
from geo_service.redflags import store as redflags_store

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
V = TypeVar("V")

# (session, ids as text, viewer) -> the ids that exist within the viewer's provinces (viewer None: every one)
Existence = Callable[[Session, list[str], Principal | None], set[str]]
# (session, ids as text, viewer) -> {id: what was read} for the ids within the viewer's provinces: a feature reader
Reader = Callable[[Session, list[str], Principal | None], Mapping[str, V]]


def with_viewer(
    by_provinces: Callable[[Session, list[str], frozenset[str] | None], R],
) -> Callable[[Session, list[str], Principal | None], R]:
    """A domain's function of (session, ids, provinces) called as the outputs call every one: with the viewer
    (``Principal.provinces``; viewer None or national: None, every province)."""

    def call(session: Session, ids: list[str], viewer: Principal | None) -> R:
        return by_provinces(session, ids, None if viewer is None else viewer.provinces)

    return call


IN_SCOPE: dict[LinkTarget, Existence] = {
    LinkTarget.incident: incidents_store.existing_ids,
    LinkTarget.hotspot: hotspots_store.existing_hotspot_ids,
    LinkTarget.fire_event: hotspots_store.existing_fire_event_ids,
    LinkTarget.raster_stat: rasters.existing_zone_stat_ids,
    LinkTarget.protected_area: layers.existing_protected_area_codes,
    LinkTarget.district: layers.existing_district_codes,
    LinkTarget.clearing_patch: with_viewer(forest_loss_queries.existing_patch_ids),
    LinkTarget.red_flag: with_viewer(redflags_store.existing_flag_ids),
    LinkTarget.contract: with_viewer(redflags_store.existing_contract_ids),
    LinkTarget.parcel: with_viewer(redflags_store.existing_parcel_ids),
}


def in_scope(session: Session, target_type: LinkTarget | str, ids: Iterable[str], viewer: Principal | None) -> set[str]:
    """Which of these ids of evidence of ``target_type`` exist within ``viewer``'s provinces (None: every one)."""
    wanted = sorted(set(ids))
    return IN_SCOPE[LinkTarget(target_type)](session, wanted, viewer) if wanted else set()


def hidden_note(n: int) -> dict[str, str] | None:
    """What every output says when ``n`` items of evidence are not shown (Thai and English); None when none is."""
    if n <= 0:
        return None
    en = (
        f"{n} item of evidence outside your province is not shown"
        if n == 1
        else (f"{n} items of evidence outside your province are not shown")
    )
    return {"en": en, "th": f"หลักฐาน {n} รายการอยู่นอกจังหวัดที่ท่านรับผิดชอบ จึงไม่แสดง"}


@dataclass(frozen=True)
class ScopedLinks:
    """A case's links as one reader sees them: those within its provinces (in their order) and how many are not."""

    links: list[dict]
    hidden: int

    @property
    def note(self) -> dict[str, str] | None:
        """``hidden_note`` of the hidden count."""
        return hidden_note(self.hidden)


def _shown(
    session: Session,
    links_by_key: Mapping[K, list[dict]],
    viewer: Principal | None,
    readers: Mapping[str, Reader[V]],
) -> tuple[dict[K, ScopedLinks], dict[str, Mapping[str, V]]]:
    """``scope_links`` and ``read_links``: per kind of evidence, the ids within the viewer's provinces are what the
    kind's reader returns (the rule in its SQL) or, for a kind without a reader, ``in_scope``; the others are hidden
    when they exist elsewhere (asked without the rule), kept when they exist nowhere."""
    wanted: dict[str, set[str]] = {}
    for links in links_by_key.values():
        for link in links:
            wanted.setdefault(link["target_type"], set()).add(link["target_id"])
    national = viewer is None or viewer.provinces is None
    read: dict[str, Mapping[str, V]] = {}
    shown: dict[str, set[str]] = {}
    for kind, ids in wanted.items():
        if kind in readers:
            read[kind] = readers[kind](session, sorted(ids), viewer)
            mine = ids & set(read[kind])
        elif national:
            mine = ids  # the rule answers without a statement
        else:
            mine = in_scope(session, kind, ids, viewer)
        rest = ids - mine
        gone = rest - in_scope(session, kind, rest, None) if rest and not national else rest
        shown[kind] = mine | gone
    out: dict[K, ScopedLinks] = {}
    for key, links in links_by_key.items():
        visible = [link for link in links if link["target_id"] in shown[link["target_type"]]]
        out[key] = ScopedLinks(visible, len(links) - len(visible))
    return out, read


def scope_links(
    session: Session, links_by_key: Mapping[K, list[dict]], viewer: Principal | None
) -> dict[K, ScopedLinks]:
    """The links (dicts with ``target_type`` and ``target_id``) of several cases (or snapshots) as ``viewer`` sees
    them: one statement per kind of evidence for all of them. A link whose evidence no longer exists anywhere is
    kept (it shows nothing but its own row); one whose evidence lies outside the viewer's provinces is hidden."""
    if viewer is None or viewer.provinces is None:
        return {key: ScopedLinks(list(links), 0) for key, links in links_by_key.items()}
    return _shown(session, links_by_key, viewer, {})[0]


def read_links(
    session: Session, links: list[dict], viewer: Principal | None, readers: Mapping[str, Reader[V]]
) -> tuple[ScopedLinks, dict[str, Mapping[str, V]]]:
    """One case's links as ``viewer`` sees them (as ``case_links``) and, per kind that has one of ``readers``, what
    the reader read of them, the rule run once: each reader is given every id of its kind in the links (another
    province's too) with the viewer and keeps to the viewer's provinces by its kind's rule in its own SQL, so the
    ids it returns are those within them (no separate ``in_scope`` pass for its kind). Of the ids it does not return,
    those that exist elsewhere (asked without the rule) are hidden and counted; those that exist nowhere stay links
    without a feature. A kind without a reader is filtered by ``IN_SCOPE``."""
    scoped, read = _shown(session, {0: links}, viewer, readers)
    return scoped[0], read


def case_links(session: Session, links: list[dict], viewer: Principal | None) -> ScopedLinks:
    """One case's links as ``viewer`` sees them (``scope_links``)."""
    return scope_links(session, {0: links}, viewer)[0]


def scope_snapshots(session: Session, snapshots: list[Any], viewer: Principal | None) -> list[Any]:
    """Case pages kept in the audit trail (an entry's ``before`` / ``after``, written as their actor saw the case),
    as ``viewer`` may read them now: links outside its provinces removed, ``evidence_counts`` counting the rest,
    ``evidence_hidden`` and its note said, the districts and protected areas outside its provinces left out. Other
    values come back as they are."""
    pages = {i: s for i, s in enumerate(snapshots) if isinstance(s, dict) and isinstance(s.get("links"), list)}
    if not pages or viewer is None or viewer.provinces is None:
        return list(snapshots)
    scoped = scope_links(session, {i: s["links"] for i, s in pages.items()}, viewer)
    districts = in_scope(
        session, LinkTarget.district, (d for s in pages.values() for d in s.get("districts", [])), viewer
    )
    reserves = in_scope(
        session, LinkTarget.protected_area, (p for s in pages.values() for p in s.get("protected_areas", [])), viewer
    )
    out = list(snapshots)
    for i, page in pages.items():
        seen = scoped[i]
        page = {**page, "links": seen.links, "evidence_hidden": seen.hidden + int(page.get("evidence_hidden") or 0)}
        for key, keep in (("districts", districts), ("protected_areas", reserves)):
            if isinstance(page.get(key), list):
                page[key] = [code for code in page[key] if code in keep]
        page["evidence_counts"] = {t.value: sum(lk["target_type"] == t.value for lk in seen.links) for t in LinkTarget}
        page.pop("evidence_hidden_note", None)
        if (note := hidden_note(page["evidence_hidden"])) is not None:
            page["evidence_hidden_note"] = note
        out[i] = page
    return out
