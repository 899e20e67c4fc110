"""Red flags: load and edit contracts and parcels, run the rules, dismiss, open or link a case; every change audited.

Every function runs in the caller's transaction (the router or CLI command commits). A load or edit of contracts or
parcels re-runs, in the same transaction, the rules whose answer it can change; so does a hotspot ingest or a
boundary change (the listeners below, registered by ``geo_service.wiring``).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape
from sqlalchemy.orm import Session

from geo_service import audit, hashing
from geo_service.auth import Principal, Role
from geo_service.cases import service as cases
from geo_service.cases import store as cases_store
from geo_service.cases.schemas import CaseCreate, LinkIn
from geo_service.db.models import CaseCategory, LinkTarget
from geo_service.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, PreconditionRequired
from geo_service.hotspots.ingest import IngestReport
from geo_service.layers import queries as layers
from geo_service.redflags import loader, rules, store
from geo_service.redflags import vegetation as vegetation_mod
from geo_service.redflags.schemas import ContractEdit, OpenCase, ParcelEdit
from geo_service.settings import RedFlagSettings, settings_of

CASE_CATEGORY = {
    "fire_in_fire_contract": CaseCategory.budget_misuse,
    "reforestation_loss": CaseCategory.budget_misuse,
    "outside_named_area": CaseCategory.procurement,
    "double_payment": CaseCategory.procurement,
    "document_in_reserve": CaseCategory.land_documents_in_reserve,
    "cleared_before_issue": CaseCategory.land_documents_in_reserve,
    "recurrence": CaseCategory.encroachment_permitted,
}


# Who may read red flags (the flags list, their map layers, the sheets): parcels are confidential to these roles.
FLAG_READERS = (Role.administrator, Role.investigator)


def may_read_flags(principal: Principal) -> bool:
    """Whether the caller may read red flags and land documents (investigators and administrators)."""
    return principal.has(*FLAG_READERS)


_ABSENT = {
    "contract": "No contract with this id.",
    "parcel": "No parcel with this id.",
    "flag": "No red flag with this id.",
}


def check_visible(session: Session, kind: str, record_id: int, principal: Principal | None) -> None:
    """404 unless the contract, parcel or flag exists within the caller's provinces (None: the service itself).

    Another province's record answers as an absent one does, so that its existence does not leak."""
    provinces = None if principal is None else principal.provinces
    if not store.visible(session, kind, record_id, provinces):
        raise NotFound(_ABSENT[kind])


def _runs(out: list[rules.RuleRun]) -> list[dict]:
    return [
        {
            k: v
            for k, v in r.__dict__.items()
            if k not in ("raised_ids", "written_ids") and not (k == "subjects" and v is None)
        }
        for r in out
    ]


def on_flags_raised(listener: rules.FlagsRaisedListener) -> rules.FlagsRaisedListener:
    """Register a listener called, in the transaction of a rule run, with the ids of the flags it raised: new ones
    and ones found again after they were gone, never a dismissed one (alerts: registered by wiring.py)."""
    return rules.on_flags_raised(listener)


def run_now(
    session: Session, settings: RedFlagSettings, principal: Principal, wanted: list[str] | None = None
) -> list[dict]:
    """Run the enabled rules (or those named) now; the run is audited."""
    unknown = sorted(set(wanted or []) - set(rules.RULES))
    if unknown:
        raise InvalidInput(f"Unknown rules: {', '.join(unknown)}; the rules are {', '.join(rules.RULES)}.")
    out = _runs(rules.run_rules(session, settings, rules=tuple(wanted) if wanted else None, actor=principal.name))
    audit.record(session, principal.name, "run", "red_flag_rules", None, after={"rules": out})
    return out


def after_ingest(session: Session, report: IngestReport) -> None:
    """Listener of a hotspot ingest: re-run the rules that read detections (when the settings say so) over what the
    ingest can change: the contracts, parcels and reserve cells its detections and re-clustered fire events reach
    within each rule's window (``rules.Scope``). Settings: those of the ingest's edge (``settings_of``)."""
    settings = settings_of(session).red_flags
    if settings.run_after_ingest:
        scope = rules.Scope(
            batch_id=report.batch_id,
            first_acq=report.first_acq,
            last_acq=report.last_acq,
            event_ids=tuple(report.event_ids),
        )
        rules.run_rules(session, settings, rules=rules.AFTER["hotspots"], scope=scope)


def after_events_reclustered(session: Session, event_ids: list[int]) -> None:
    """Listener of a re-clustering of fire events outside an ingest (``hotspots events``, the worker's job): re-run
    the rules that read detections (when the settings say so) over the subjects the touched events reach, as after
    an ingest (``rules.Scope`` with the events only): a fire contract's flag names its fire events."""
    settings = settings_of(session).red_flags
    if settings.run_after_ingest:
        rules.run_rules(session, settings, rules=rules.AFTER["hotspots"], scope=rules.Scope(event_ids=tuple(event_ids)))


def after_patches_found(session: Session, patch_ids: list[int]) -> None:
    """Listener of a forest-loss ingest: re-run the rules that read clearing patches (when the settings say so) over
    the contracts and parcels these patches (created or extended) reach."""
    settings = settings_of(session).red_flags
    if settings.run_after_ingest:
        rules.run_rules(session, settings, rules=rules.AFTER["clearing"], scope=rules.Scope(patch_ids=tuple(patch_ids)))


def after_layers_changed(session: Session, layer_type: str) -> None:
    """Listener of a boundary change: re-run the rules that read reserves or districts (every subject)."""
    if layer_type in ("province", "district"):  # a record's province comes from these boundaries
        store.refresh_all_provinces(session)
    if layer_type in ("protected_area", "district"):
        rules.run_rules(session, settings_of(session).red_flags, rules=rules.AFTER["layers"])


def load_file(
    session: Session,
    kind: str,
    path: Path,
    settings: RedFlagSettings,
    principal: Principal,
    *,
    original_name: str | None = None,
    fields: dict[str, str] | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    source_version: str | None = None,
) -> dict:
    """Load a contracts (``kind='contracts'``) or parcels file: check it, upsert by number, audit, run the rules."""
    reader = {"contracts": loader.read_contracts, "parcels": loader.read_parcels}[kind]
    rows, summary = reader(path, original_name=original_name, fields=fields, layer=layer, encoding=encoding, crs=crs)
    name = Path(original_name or path.name).name
    upsert = store.upsert_contracts if kind == "contracts" else store.upsert_parcels
    counts = upsert(session, rows, actor=principal.name, layer=name, version=source_version)
    audit.record(
        session,
        principal.name,
        "load",
        "redflag_" + kind,
        name,
        after={k: v for k, v in counts.items() if k != "ids"} | {"file": name, "version": source_version},
    )
    runs = _runs(rules.run_rules(session, settings, rules=rules.AFTER[kind], actor=principal.name))
    return {"kind": kind, **summary, **{k: v for k, v in counts.items() if k != "ids"}, "rules": runs}


def _wkt(geometry: dict | None, allowed: tuple[int, ...], what: str) -> str | None:
    if geometry is None:
        return None
    try:
        g = shape(geometry)
    except Exception:
        raise InvalidInput(f"The {what} geometry is not valid GeoJSON.", code="invalid_geometry") from None
    if g.is_empty or shapely.get_type_id(g) not in allowed or not g.is_valid:
        raise InvalidInput(
            f"The {what} geometry must be a valid, non-empty {' or '.join(_TYPE_NAMES[t] for t in allowed)}.",
            code="invalid_geometry",
        )
    minx, miny, maxx, maxy = g.bounds
    if not (minx >= 97.3 and maxx <= 105.7 and miny >= 5.5 and maxy <= 20.6):
        raise InvalidInput(
            f"The {what} geometry lies outside Thailand (give longitude/latitude, EPSG:4326).", code="invalid_geometry"
        )
    return g.wkt


_TYPE_NAMES = {1: "line", 3: "polygon", 5: "multi-line", 6: "multi-polygon"}


def edit_contract(
    session: Session,
    contract_id: int,
    body: ContractEdit,
    expected_version: int | None,
    settings: RedFlagSettings,
    principal: Principal,
) -> dict:
    """Edit a contract if nobody changed it since ``expected_version`` (If-Match); audited; rules re-run."""
    if expected_version is None:
        raise PreconditionRequired("Send the version you are editing in an If-Match header.")
    check_visible(session, "contract", contract_id, principal)
    before = store.contract(session, contract_id)
    if before is None:
        raise NotFound("No contract with this id.")
    changes = body.model_dump(exclude_unset=True)
    wkt = _wkt(changes.pop("geometry", None), (1, 3, 5, 6), "contract")
    if "work_type" in changes:
        wt = loader.work_type(changes["work_type"])
        if wt is None:
            raise InvalidInput(f"Unknown work type; use one of {', '.join(loader.WORK_TYPES)}.")
        changes["work_type"] = wt
    for required in ("project_name", "agency"):
        if required in changes and changes[required] is None:
            raise InvalidInput(f"{required} cannot be removed.")
    shape_now = store.contract_shape(session, contract_id)
    assert shape_now is not None
    is_line = (shapely.from_wkt(wkt).geom_type if wkt else shape_now[0].title()).upper().endswith("LINESTRING")
    width = changes["width_m"] if "width_m" in changes else shape_now[1]
    if is_line and not width:
        raise InvalidInput("A line contract needs its stated width (width_m, metres).", code="width_required")
    start = changes.get("start_date", before["start_date"])
    end = changes.get("end_date", before["end_date"])
    if start and end and str(end) < str(start):
        raise InvalidInput("end_date is before start_date.", code="invalid_period")
    if not changes and wkt is None:
        return before
    if not store.update_contract(session, contract_id, changes, wkt, expected_version, principal.name):
        raise PreconditionFailed(
            "Someone else changed this contract since you loaded it; reload, check, and save again.",
            details=[{"current_version": before["version"]}],
        )
    after = store.contract(session, contract_id)
    audit.record(session, principal.name, "update", "redflag_contract", contract_id, before=before, after=after)
    rules.run_rules(session, settings, rules=rules.AFTER["contracts"], actor=principal.name)
    assert after is not None
    return after


def edit_parcel(
    session: Session,
    parcel_id: int,
    body: ParcelEdit,
    expected_version: int | None,
    settings: RedFlagSettings,
    principal: Principal,
) -> dict:
    """Edit a parcel if nobody changed it since ``expected_version`` (If-Match); audited; rules re-run."""
    if expected_version is None:
        raise PreconditionRequired("Send the version you are editing in an If-Match header.")
    check_visible(session, "parcel", parcel_id, principal)
    before = store.parcel(session, parcel_id)
    if before is None:
        raise NotFound("No parcel with this id.")
    changes = body.model_dump(exclude_unset=True)
    wkt = _wkt(changes.pop("geometry", None), (3, 6), "parcel")
    if changes.get("confidential", True) is None:
        raise InvalidInput("confidential must be true or false.")
    if not changes and wkt is None:
        return before
    if not store.update_parcel(session, parcel_id, changes, wkt, expected_version, principal.name):
        raise PreconditionFailed(
            "Someone else changed this parcel since you loaded it; reload, check, and save again.",
            details=[{"current_version": before["version"]}],
        )
    after = store.parcel(session, parcel_id)
    audit.record(session, principal.name, "update", "redflag_parcel", parcel_id, before=before, after=after)
    rules.run_rules(session, settings, rules=rules.AFTER["parcels"], actor=principal.name)
    assert after is not None
    return after


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (datetime, date)) else v


def flag_out(row: dict, history: list[dict] | None = None) -> dict:
    """A flag row as the API shows it (timestamps as ISO text, the rule's Thai and English names)."""
    th, en = rules.RULE_LABELS.get(row["rule"], (row["rule"], row["rule"]))
    out = {k: _iso(v) for k, v in row.items()}
    out["contract_ids"] = list(row["contract_ids"] or [])
    out["parcel_ids"] = list(row["parcel_ids"] or [])
    out.update(rule_th=th, rule_en=en)
    if history is not None:
        out["history"] = [{k: _iso(v) for k, v in h.items()} for h in history]
    return out


def get_flag(session: Session, flag_id: int, principal: Principal | None = None) -> dict:
    """One flag with its history (404 outside the caller's provinces)."""
    check_visible(session, "flag", flag_id, principal)
    row = store.flag(session, flag_id)
    if row is None:
        raise NotFound("No red flag with this id.")
    return flag_out(row, store.flag_history(session, [flag_id]))


def list_flags(session: Session, filters: dict, *, limit: int, offset: int) -> dict:
    """A page of flags."""
    page = store.list_flags(session, filters, limit=limit, offset=offset)
    return {"total": page["total"], "items": [flag_out(r) for r in page["items"]]}


def dismiss(session: Session, flag_id: int, reason: str, expected_version: int | None, principal: Principal) -> dict:
    """Dismiss a flag with a reason (audited); a re-run never brings it back. 409 if already dismissed."""
    check_visible(session, "flag", flag_id, principal)
    before = store.flag(session, flag_id)
    if before is None:
        raise NotFound("No red flag with this id.")
    if before["status"] == "dismissed":
        raise Conflict("This flag is already dismissed.", code="already_dismissed")
    if not store.dismiss_flag(session, flag_id, reason.strip(), principal.name, expected_version):
        raise PreconditionFailed("Someone else changed this flag since you loaded it; reload and try again.")
    after = get_flag(session, flag_id)
    audit.record(
        session,
        principal.name,
        "dismiss",
        "red_flag",
        flag_id,
        before={"status": before["status"]},
        after={"status": "dismissed", "reason": reason.strip()},
    )
    return after


def _links(session: Session, flag: dict, reason: str, principal: Principal) -> list[LinkIn]:
    """The flag and its contracts and parcels as case links: those within the caller's provinces (a double payment
    across a provincial border names the other province's contract in the flag's figures, not as a link)."""
    mine = principal.provinces
    contracts = store.existing_contract_ids(session, [str(i) for i in flag["contract_ids"]], mine)
    parcels = store.existing_parcel_ids(session, [str(i) for i in flag["parcel_ids"]], mine)
    links = [LinkIn(target_type=LinkTarget.red_flag, target_id=str(flag["id"]), reason=reason)]
    links += [
        LinkIn(target_type=LinkTarget.contract, target_id=str(i), reason=reason)
        for i in flag["contract_ids"]
        if str(i) in contracts
    ]
    links += [
        LinkIn(target_type=LinkTarget.parcel, target_id=str(i), reason=reason)
        for i in flag["parcel_ids"]
        if str(i) in parcels
    ]
    return links


def open_case(session: Session, flag_id: int, body: OpenCase, principal: Principal) -> dict:
    """Open a case from a flag: the flag, its contracts or parcels and its reserve are linked; the flag is 'linked'.

    The caller's transaction runs under the cases' row-level security (the edge calls ``cases.access.act_as``)."""
    check_visible(session, "flag", flag_id, principal)
    flag = store.flag(session, flag_id)
    if flag is None:
        raise NotFound("No red flag with this id.")
    if flag["status"] == "dismissed":
        raise Conflict("This flag was dismissed; it cannot open a case.", code="flag_dismissed")
    _th, en = rules.RULE_LABELS[flag["rule"]]
    case = cases.create_case(
        session,
        CaseCreate(
            title=body.title or f"{en} ({flag['subject_type']} {flag['subject_id']})"[:300],
            summary=f"{flag['reason_th']}\n\n{flag['reason_en']}",
            category=body.category or CASE_CATEGORY[flag["rule"]],
            confidentiality=body.confidentiality,
            province_code=body.province_code,
        ),
        principal,
    )
    reason = f"Red flag #{flag_id}: {en}"
    links = _links(session, flag, reason, principal)
    # the reserve only where it lies in the caller's provinces: a flag seen across a border may name the other's
    if flag["reserve_code"] and layers.existing_protected_area_codes(session, [flag["reserve_code"]], principal):
        links.append(LinkIn(target_type=LinkTarget.protected_area, target_id=flag["reserve_code"], reason=reason))
    cases.add_links(session, case["id"], links, principal)
    store.set_flag_case(session, flag_id, case["id"], principal.name, "case_opened")
    audit.record(session, principal.name, "open_case", "red_flag", flag_id, after={"case_id": case["id"]})
    return cases.get_case(session, case["id"], principal)


def link_to_case(session: Session, flag_id: int, case_id: int, principal: Principal) -> dict:
    """Link a flag (and its contracts or parcels not linked yet) to an existing case; the flag becomes 'linked'."""
    check_visible(session, "flag", flag_id, principal)
    flag = store.flag(session, flag_id)
    if flag is None:
        raise NotFound("No red flag with this id.")
    if flag["status"] == "dismissed":
        raise Conflict("This flag was dismissed; it cannot be linked.", code="flag_dismissed")
    reason = f"Red flag #{flag_id}: {rules.RULE_LABELS[flag['rule']][1]}"
    cases.get_case(session, case_id, principal)  # 404 when absent or invisible to the caller
    have = cases_store.linked_pairs(session, case_id)
    links = [lk for lk in _links(session, flag, reason, principal) if (lk.target_type.value, lk.target_id) not in have]
    if not any(lk.target_type == LinkTarget.red_flag for lk in links):
        raise Conflict("This flag is already linked to the case.", code="already_linked")
    cases.add_links(session, case_id, links, principal)
    store.set_flag_case(session, flag_id, case_id, principal.name, "linked")
    audit.record(session, principal.name, "link", "red_flag", flag_id, after={"case_id": case_id})
    return get_flag(session, flag_id)


def contractor_view(session: Session, contractor: str, principal: Principal | None = None) -> dict:
    """All flags across a contractor's contracts within the caller's provinces, with totals."""
    out = store.contractor_summary(session, contractor, None if principal is None else principal.provinces)
    if not out["contracts"]:
        raise NotFound("No contract names this contractor.")
    flags = [flag_out(r) for r in out["flags"]]
    by_rule: dict[str, int] = {}
    for f in flags:
        if f["status"] != "dismissed":
            by_rule[f["rule"]] = by_rule.get(f["rule"], 0) + 1
    return {**out, "flags": flags, "by_rule": by_rule}


def contract_with_history(session: Session, contract_id: int, principal: Principal | None = None) -> dict:
    """A contract with its versions (404 outside the caller's provinces)."""
    check_visible(session, "contract", contract_id, principal)
    c = store.contract(session, contract_id)
    if c is None:
        raise NotFound("No contract with this id.")
    return {**c, "history": json.loads(json.dumps(store.history(session, "contract", contract_id), default=str))}


def parcel_with_history(session: Session, parcel_id: int, principal: Principal | None = None) -> dict:
    """A parcel with its versions (404 outside the caller's provinces)."""
    check_visible(session, "parcel", parcel_id, principal)
    p = store.parcel(session, parcel_id)
    if p is None:
        raise NotFound("No parcel with this id.")
    return {**p, "history": json.loads(json.dumps(store.history(session, "parcel", parcel_id), default=str))}


def vegetation(
    session: Session,
    before: Path,
    after: Path,
    index_name: str,
    settings: RedFlagSettings,
    principal: Principal,
    *,
    before_date: date | None = None,
    after_date: date | None = None,
    names: tuple[str, str] | None = None,
) -> dict:
    """Measure the mean index change inside every reforestation plot from a raster pair, store it, re-run the rule
    ``reforestation_loss`` (a plot whose change is below ``vegetation_min_gain`` is flagged); audited."""
    index_name = (index_name or "").strip().lower()
    if index_name not in vegetation_mod.INDEXES:
        raise InvalidInput(f"Unknown index; use one of {', '.join(vegetation_mod.INDEXES)}.", code="invalid_index")
    if before_date and after_date and after_date <= before_date:
        raise InvalidInput("The after image must be dated after the before image.", code="invalid_period")
    for path in (before, after):
        if path.stat().st_size > settings.vegetation_max_mb << 20:
            raise InvalidInput(f"{path.name} is larger than {settings.vegetation_max_mb} MB.", code="file_too_large")
    plots = store.reforestation_plots(session)
    measured = vegetation_mod.measure(before, after, plots)
    shown = names or (before.name, after.name)
    source = {
        "before": {"file": shown[0], "sha256": hashing.sha256_file(before)},
        "after": {"file": shown[1], "sha256": hashing.sha256_file(after)},
    }
    rows = [
        {**m.__dict__, "index_name": index_name, "before_date": before_date, "after_date": after_date, "source": source}
        for m in measured
    ]
    store.save_vegetation(session, rows, actor=principal.name)
    runs = _runs(rules.run_rules(session, settings, rules=("reforestation_loss",), actor=principal.name))
    report = {
        "index": index_name,
        "plots": len(plots),
        "measured": len(rows),
        "not_covered": len(plots) - len(rows),
        "no_gain": sum(1 for r in rows if r["change"] < settings.vegetation_min_gain),
        "min_gain": settings.vegetation_min_gain,
        "source": source,
        "results": [{k: r[k] for k in ("contract_id", "before_mean", "after_mean", "change", "pixels")} for r in rows],
        "rules": runs,
    }
    audit.record(
        session,
        principal.name,
        "measure",
        "redflag_vegetation",
        None,
        after={k: v for k, v in report.items() if k != "results"},
    )
    return report
