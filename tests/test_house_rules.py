"""The house rules, checked on the source (no database): they keep the code in the shape README's Layout states.

- A domain's tables are named in SQL only by that domain's store module(s); other modules use the store's
  functions or the views and functions the database exposes for shared rules (``current_admin_areas``,
  ``protected_areas_on``, ``latest_protected_areas``, ``in_force``, ``be_year``, ``fiscal_year_be``, ...).
- ORM classes of ``db.models`` are used only by the store of their table (enums and labels are shared freely).
- No import cycle, counting the imports inside functions too (an import moved into a function to dodge a cycle
  is still a cycle); no ``importlib`` to reach a module by a string.
- No private name (``_x``) of one module used by another.
- The transaction is owned by the edge: only routers, the web pages, the CLI and the app's start-up open,
  commit or roll back one (plus the database plumbing in ``db/``).
- The CLI does not import the web app or the HTTP layer.
- Every session factory an edge builds carries the edge's settings (``make_sessionmaker(engine, settings)``, a
  bare ``sessionmaker(..., info=...)``): ``settings.settings_of`` would otherwise read the environment's silently.
- Every JSON route declares its response model, so ``/openapi.json`` describes what it returns.
- At least 90 % of public functions, classes and methods have a docstring.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "geo_service"

# Which modules may name which table in SQL. Everything else goes through these modules' functions or through
# the shared views/functions of migrations 0016 and 0017.
STORES: dict[str, set[str]] = {
    # reference layers
    "layer_sources": {"layers.store", "layers.queries"},
    "admin_areas": {"layers.store", "layers.queries", "layers.aoi"},
    "protected_areas": {"layers.store", "layers.queries"},
    "area_of_interest": {"layers.aoi"},
    # incidents
    "incidents": {"incidents.store"},
    "incident_photos": {"incidents.store"},
    # hotspots: the store, the COPY fast path of ingest, the event clustering (set-based SQL)
    "hotspots": {"hotspots.store", "hotspots.ingest", "hotspots.events", "hotspots.partitions"},
    "hotspot_batches": {"hotspots.store", "hotspots.ingest"},
    "fire_events": {"hotspots.store", "hotspots.events"},
    "hotspot_events": {"hotspots.store", "hotspots.events", "hotspots.partitions"},
    "hotspot_rasters": {"hotspots.rasters"},
    "raster_zone_stats": {"hotspots.rasters"},
    # cases
    **{
        t: {"cases.store", "cases.access"}
        for t in (
            "cases",
            "case_counters",
            "case_assignments",
            "case_parties",
            "case_transitions",
            "case_notes",
            "case_attachments",
            "case_links",
        )
    },
    # people, keys, audit, briefs
    "users": {"users"},
    "api_keys": {"api_keys"},
    "audit_log": {"audit"},
    "audit_counter": {"audit"},
    "briefs": {"reports.store"},
    # batch jobs on Dask (migration 0022)
    **{
        t: {"batch.store"}
        for t in ("batch_jobs", "batch_job_parts", "batch_summaries", "batch_event_links", "batch_event_members")
    },
    # forest-loss alerts (migration 0024): writes in forest_loss.store, reads in forest_loss.queries
    "forest_alert_ingests": {"forest_loss.store", "forest_loss.queries"},
    # forest_loss.evidence: reads for maps, suggestions, evidence; forest_loss.tasks: the verification fields
    # forest_loss.counts: the open-data page's counts by district and month
    "clearing_patches": {
        "forest_loss.store",
        "forest_loss.queries",
        "forest_loss.evidence",
        "forest_loss.tasks",
        "forest_loss.counts",
    },
    "clearing_patch_zones": {"forest_loss.store", "forest_loss.queries", "forest_loss.evidence"},
    "field_tasks": {"forest_loss.tasks"},
    # the worker's jobs, runs and pulled windows (migration 0026)
    **{t: {"worker.store"} for t in ("worker_jobs", "worker_job_runs", "worker_windows")},
    # reports from the public and the volunteer network (migration 0028)
    **{
        t: {"citizen.store"}
        for t in (
            "citizen_reports",
            "citizen_report_photos",
            "citizen_report_additions",
            "citizen_rate_hits",
            "network_members",
        )
    },
    # alerts to people (migration 0027): the matcher reads other domains only through the views of 0027
    # (alert_hotspots, alert_fire_events, alert_clearing_patches, alert_subject_areas, alert_recipients)
    **{t: {"alerts.store"} for t in ("alert_subscriptions", "alert_opt_outs", "alert_contacts", "alert_outbox")},
    # red flags (migration 0025): the store; the rules upsert flags from contracts and parcels in one statement each
    "redflag_contracts": {"redflags.store", "redflags.rules"},
    "redflag_parcels": {"redflags.store", "redflags.rules"},
    "redflag_contract_history": {"redflags.store"},
    "redflag_parcel_history": {"redflags.store"},
    "red_flags": {"redflags.store", "redflags.rules"},
    "red_flag_history": {"redflags.store", "redflags.rules"},
    "redflag_vegetation": {"redflags.store", "redflags.rules"},
}

# ORM classes and the store that may use them.
ORM_CLASSES = {
    "LayerSource": "layers.store",
    "AdminArea": "layers.store",
    "ProtectedArea": "layers.store",
    "User": "users",
    "Incident": "incidents.store",
    "IncidentPhoto": "incidents.store",
    "WorkerJob": "worker.store",
    "WorkerJobRun": "worker.store",
    "WorkerWindow": "worker.store",
    "CitizenReport": "citizen.store",
    "CitizenReportPhoto": "citizen.store",
    "CitizenReportAddition": "citizen.store",
    "CitizenRateHit": "citizen.store",
    "NetworkMember": "citizen.store",
    **{c: "alerts.store" for c in ("AlertSubscription", "AlertOptOut", "AlertContact", "AlertOutbox")},
}

# The edges: where a transaction may be opened, committed or rolled back.
EDGES = re.compile(r"^(api\..*|web\..*|cli|cli_support|.*\.cli|main|db\..*|notebook_runner|worker\.runner)$")
# Transaction control that is not a unit of work, each with its reason.
TRANSACTION_EXCEPTIONS = {
    "cases.access": "seen_by() rolls back its own savepoint (reads as another role, then back)",
    "exports.stream": "ends the read-only connection it opened itself to stream a download",
    "alerts.sender": "a worker job's edge: one short transaction to claim, one per message after its channel answers",
}
# The schema itself declares every table.
SCHEMA = "db.models"


@cache
def modules() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in f.parts or "vendor" in f.parts:
            continue
        name = ".".join(f.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        if name == "__init__":
            name = ""
        out[name] = (f, ast.parse(f.read_text(encoding="utf-8")))
    return out


def _sql_strings(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.JoinedStr):  # f-strings: their literal parts
            yield "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))


def _table_pattern(table: str) -> re.Pattern:
    return re.compile(rf"\b(FROM|JOIN|UPDATE|INTO|TABLE|EXISTS|COPY)\s+(ONLY\s+)?{table}\b(?!\s*\()", re.I)


@cache
def tables_named() -> dict[str, set[str]]:
    named: dict[str, set[str]] = defaultdict(set)
    patterns = {t: _table_pattern(t) for t in STORES}
    for name, (_, tree) in modules().items():
        if name == SCHEMA:
            continue
        for s in _sql_strings(tree):
            for t, p in patterns.items():
                if p.search(s):
                    named[t].add(name)
    return named


@pytest.mark.parametrize("table", sorted(STORES))
def test_a_table_is_named_in_sql_only_by_its_store(table):
    outside = sorted(tables_named().get(table, set()) - STORES[table])
    assert not outside, (
        f"{table} is named in SQL outside its store {sorted(STORES[table])}: {outside}. "
        "Call the store's function, or use a shared view/function (current_admin_areas, protected_areas_on, ...)."
    )


def test_the_checker_sees_sql():
    """The table check would notice a table named in a query (so an empty result above means something)."""
    assert tables_named()["incidents"]
    assert tables_named()["hotspots"]
    assert _table_pattern("hotspots").search("SELECT 1 FROM hotspots h")
    assert not _table_pattern("hotspots").search("SELECT hotspots_count FROM x")


def test_orm_classes_only_in_their_store():
    wrong = []
    for name, (_, tree) in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "geo_service.db.models":
                for a in node.names:
                    if a.name in ORM_CLASSES and ORM_CLASSES[a.name] != name:
                        wrong.append(f"{name} imports {a.name}")
    assert not wrong, wrong


def _imports(name: str, tree: ast.Module, *, everywhere: bool) -> set[str]:
    mods = modules()
    package = name if modules()[name][0].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    nodes = ast.walk(tree) if everywhere else iter(tree.body)
    for node in nodes:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = ["geo_service", *package.split(".")] if package else ["geo_service"]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            if t.startswith("geo_service"):
                short = t.removeprefix("geo_service").lstrip(".")
                if short in mods and short != name:
                    found.add(short)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_even_through_imports_inside_functions():
    graph = {name: _imports(name, tree, everywhere=True) for name, (_, tree) in modules().items()}
    # a package's __init__ importing its own modules is not a cycle of design
    graph = {k: {v for v in vs if not (k == "" or (v and k.startswith(v + ".")) or v == "")} for k, vs in graph.items()}
    assert not _cycles(graph), _cycles(graph)


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_module_is_loaded_by_a_string():
    users = [name for name, (_, tree) in modules().items() if "importlib" in _imports_raw(tree)]
    assert not users, f"importlib used by {users}: wire dependents explicitly"


def _imports_raw(tree: ast.Module) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_no_private_names_across_modules():
    own = {
        name: {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        for name, (_, tree) in modules().items()
    }
    wrong = []
    for name, (_, tree) in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("geo_service"):
                wrong += [f"{name}: from {node.module} import {a.name}" for a in node.names if _private(a.name)]
            if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name):
                target = node.value.id
                if target in ("self", "cls") or target in own[name]:
                    continue
                if _is_module_alias(tree, target):
                    wrong.append(f"{name}: {target}.{node.attr}")
    assert not wrong, wrong


def _private(n: str) -> bool:
    return n.startswith("_") and not n.startswith("__")


def _is_module_alias(tree: ast.Module, alias: str) -> bool:
    """Whether ``alias`` is a name this module imported from geo_service as a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("geo_service"):
            for a in node.names:
                if (a.asname or a.name) == alias:
                    full = f"{node.module}.{a.name}".removeprefix("geo_service").lstrip(".")
                    return full in modules()
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("geo_service") and (a.asname or a.name.split(".")[-1]) == alias:
                    return True
    return False


def test_cli_does_not_import_the_web_app_or_the_http_layer():
    graph = {name: _imports(name, tree, everywhere=True) for name, (_, tree) in modules().items()}
    clis = [n for n in graph if n == "cli" or n.endswith(".cli")]
    seen: set[str] = set()
    todo = list(clis)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo.extend(graph.get(n, ()))
    http = sorted(n for n in seen if n == "main" or n.startswith(("api.", "web.")) or n == "api")
    assert not http, f"the CLI reaches {http}"


# Session factories that may be built without the edge's settings, each with its reason (none today: scripts live
# in bench/ and tests/, outside the package).
SESSIONMAKER_EXCEPTIONS: dict[str, str] = {}


def _passes_settings(call: ast.Call, settings_arg: str, position: int) -> bool:
    given = call.args[position] if len(call.args) > position else None
    for kw in call.keywords:
        if kw.arg == settings_arg or kw.arg is None:  # by name, or **kwargs (read as passed)
            given = kw.value
    if any(isinstance(a, ast.Starred) for a in call.args):
        return True
    return given is not None and not (isinstance(given, ast.Constant) and given.value is None)


def sessionmakers_without_settings(name: str, tree: ast.Module) -> list[str]:
    """Calls in ``tree`` that build a session factory without settings: ``make_sessionmaker`` with no second
    argument (or ``settings=None``), SQLAlchemy's ``sessionmaker`` with no ``info`` (outside ``db.engine``'s
    ``make_sessionmaker``, which puts them there)."""
    wrong = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if called == "make_sessionmaker" and not _passes_settings(node, "settings", 1):
            wrong.append(f"{name}:{node.lineno} make_sessionmaker() without settings")
        # SQLAlchemy's class by its name (``x.sessionmaker()`` is a factory already built, called for a session)
        if isinstance(f, ast.Name) and called == "sessionmaker" and not _passes_settings(node, "info", 99):
            wrong.append(f"{name}:{node.lineno} sessionmaker() without info (the settings)")
    return wrong


def test_every_session_factory_carries_the_edges_settings():
    wrong = [
        w
        for name, (_, tree) in modules().items()
        if name not in SESSIONMAKER_EXCEPTIONS
        for w in sessionmakers_without_settings(name, tree)
    ]
    assert not wrong, (
        f"{wrong}: pass the edge's Settings (make_sessionmaker(engine, settings)); a session without them makes "
        "settings_of() read the environment, not the settings the edge was built with"
    )


def test_the_session_factory_checker_sees_a_missing_settings():
    bad = ast.parse(
        "a = make_sessionmaker(engine)\nb = engine_mod.make_sessionmaker(e, None)\nc = sessionmaker(e, expire_on_commit=False)\n"
        "d = make_sessionmaker(e, settings=None)"
    )
    good = ast.parse(
        "a = make_sessionmaker(engine, settings)\nb = make_sessionmaker(e, settings=s)\nc = sessionmaker(e, info=i)\n"
        "d = request.app.state.sessionmaker()"
    )
    assert [w.split(" ")[0] for w in sessionmakers_without_settings("x", bad)] == ["x:1", "x:2", "x:3", "x:4"]
    assert sessionmakers_without_settings("x", good) == []


def test_transactions_are_opened_only_at_the_edges():
    wrong = []
    for name, (_, tree) in modules().items():
        if EDGES.match(name) or name in TRANSACTION_EXCEPTIONS:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback", "begin")
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "self")
            ):
                wrong.append(f"{name}:{node.lineno} .{node.func.attr}()")
            if isinstance(node, ast.Name) and node.id == "transaction" and isinstance(node.ctx, ast.Load):
                wrong.append(f"{name}:{node.lineno} transaction()")
    assert not wrong, wrong


def test_every_json_route_declares_its_response(tmp_path):
    """Read from the OpenAPI document itself: every 2xx JSON answer has a schema (not the empty ``{}``)."""
    from geo_service.main import create_app
    from tests.conftest import make_settings

    # the app is built, not started: no database is reached
    app = create_app(make_settings("postgresql+psycopg://nobody@127.0.0.1:9/none", tmp_path))
    doc = app.openapi()
    operations = bare = 0
    missing = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            operations += 1
            for status, response in op.get("responses", {}).items():
                if not status.startswith("2") or status == "204":
                    continue
                if not response.get("content"):
                    bare += 1
                    missing.append(f"{method.upper()} {path} {status}: no media type declared")
                for media, content in (response.get("content") or {}).items():
                    if "json" in media and not _described(content.get("schema") or {}):
                        bare += 1
                        missing.append(f"{method.upper()} {path} {status} {media}")
    assert operations > 60
    assert not missing, f"{bare} JSON answers without a declared schema: {missing}"


def _described(schema: dict) -> bool:
    """A schema that says what is inside: a model ($ref), properties, or a list/union of those. A bare
    ``{}`` or ``{"type": "object"}`` (what ``-> dict`` gives) says nothing."""
    if "$ref" in schema or schema.get("properties"):
        return True
    if "items" in schema:
        return _described(schema["items"])
    options = schema.get("anyOf") or schema.get("oneOf") or []
    return bool(options) and all(_described(o) or o.get("type") == "null" for o in options)


def test_public_functions_have_docstrings():
    total = documented = 0
    missing = []
    for name, (_, tree) in modules().items():
        for node in tree.body:
            items = [node] + (node.body if isinstance(node, ast.ClassDef) else [])
            for n in items:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.name.startswith("_"):
                    total += 1
                    if ast.get_docstring(n):
                        documented += 1
                    else:
                        missing.append(f"{name}.{n.name}")
    assert documented / total >= 0.90, f"{documented}/{total} documented; first missing: {missing[:40]}"
