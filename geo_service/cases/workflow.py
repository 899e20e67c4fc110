"""The stages of a case and the transitions allowed between them (each needs a reason)."""

from __future__ import annotations

from geo_service.db.models import CaseStage as S

ALLOWED: dict[S, tuple[S, ...]] = {
    S.received: (S.preliminary_review, S.closed),
    S.preliminary_review: (S.fact_finding, S.referred, S.closed),
    S.fact_finding: (S.decision, S.closed),
    S.decision: (S.referred, S.closed),
    S.referred: (S.closed,),
    S.closed: (S.preliminary_review,),  # reopened, e.g. on new evidence
}


def allowed(from_stage: S, to_stage: S) -> bool:
    """Whether a case may move from one stage to the other."""
    return to_stage in ALLOWED.get(from_stage, ())
