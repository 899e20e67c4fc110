"""Alerts to people: subscriptions (yours; administrators: anyone's and groups'), your contacts, the in-app list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from geo_service.alerts import service
from geo_service.alerts.schemas import (
    ContactsIn,
    ContactsOut,
    RecentAlert,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionSettings,
)
from geo_service.api.deps import SessionDep, SettingsDep, require_roles
from geo_service.auth import Principal, Role

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
# Everyone with an account of the programme; partner systems read data, they are not told.
AlertUser = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.administrator, Role.investigator, Role.field_officer, Role.committee_member, Role.national_viewer
        )
    ),
]


@router.get("/subscriptions", response_model=list[SubscriptionOut], summary="Your subscriptions (admins: all)")
def list_subscriptions(session: SessionDep, principal: AlertUser) -> list[dict]:
    """Your own subscriptions and the group ones that reach you; administrators see every subscription."""
    with session.begin():
        return service.list_subscriptions(session, principal)


@router.post("/subscriptions", status_code=201, response_model=SubscriptionOut, summary="Subscribe to alerts")
def create_subscription(body: SubscriptionIn, session: SessionDep, principal: AlertUser) -> dict:
    """Subscribe to a district, subdistrict, protected area, case or drawn polygon (administrators: for a user or
    every account of a role)."""
    with session.begin():
        return service.create_subscription(session, body, principal)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="One subscription")
def get_subscription(subscription_id: int, session: SessionDep, principal: AlertUser) -> dict:
    """One of your subscriptions."""
    with session.begin():
        return service.get_subscription(session, subscription_id, principal)


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="Change a subscription")
def update_subscription(
    subscription_id: int, body: SubscriptionSettings, session: SessionDep, principal: AlertUser
) -> dict:
    """Change what, how and when (the subject and the recipient stay)."""
    with session.begin():
        return service.update_subscription(session, subscription_id, body, principal)


@router.delete(
    "/subscriptions/{subscription_id}", status_code=204, response_class=Response, summary="Delete a subscription"
)
def delete_subscription(subscription_id: int, session: SessionDep, principal: AlertUser) -> Response:
    """Delete one of your subscriptions."""
    with session.begin():
        service.delete_subscription(session, subscription_id, principal)
    return Response(status_code=204)


@router.get("/contacts", response_model=ContactsOut, summary="Where you receive alerts")
def get_contacts(session: SessionDep, principal: AlertUser) -> dict:
    """Your e-mail address, LINE user id and webhook URL for alerts."""
    with session.begin():
        return service.contacts(session, principal)


@router.put("/contacts", response_model=ContactsOut, summary="Set where you receive alerts")
def put_contacts(body: ContactsIn, session: SessionDep, principal: AlertUser) -> dict:
    """Set your e-mail address, LINE user id and webhook URL (null: that channel is skipped)."""
    with session.begin():
        return service.set_contacts(session, principal, body.email, body.line_user_id, body.webhook_url)


@router.get("/recent", response_model=list[RecentAlert], summary="Your latest alerts (in-app list)")
def recent(
    session: SessionDep,
    settings: SettingsDep,
    principal: AlertUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict]:
    """Your latest alerts, newest first, in each subscription's language."""
    with session.begin():
        return service.recent(session, principal, settings.alerts.public_url, limit)
