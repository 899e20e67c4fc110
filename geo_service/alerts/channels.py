"""Delivery channels: e-mail (SMTP with STARTTLS), a webhook signed with HMAC-SHA256, and LINE Messaging API push.

Each ``send`` either returns (the other side accepted the message) or raises ``ChannelError``; ``permanent``
errors (a refused address, a 4xx) are not worth retrying soon. Every message carries its ``key``, stable across
retries and a restarted sender, as the channel's idempotency key where the channel has one:

- LINE: ``X-Line-Retry-Key`` (a UUID made from the key); LINE answers 409 to a key it already accepted, which
  counts as accepted here, so LINE shows the message once.
- webhook: ``X-Idempotency-Key`` header and ``id`` in the body; the receiver must drop a key it has seen.
- e-mail: ``Message-ID: <key@geo-service>``; SMTP has no idempotency, so a sender killed between the server's
  "250 OK" and the outbox update sends the message again (the same Message-ID lets a mail client group them).

Standard library clients (smtplib, urllib) with tenacity for the webhook's back-off: the service needs nothing
else for three small POSTs, and the FIRMS client (hotspots/fetch.py) already works the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from geo_service.settings import AlertSettings


class ChannelError(Exception):
    """A channel did not accept a message."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Message:
    """One message to one address: subject and text, a map PNG, and the idempotency key."""

    key: str
    address: str
    subject: str
    text: str
    language: str = "th"
    png: bytes | None = None
    data: dict = field(default_factory=dict)  # machine-readable alerts (webhook body)


def line_retry_key(key: str) -> str:
    """The UUID LINE wants in ``X-Line-Retry-Key``, derived from the message key (the same key, the same UUID)."""
    return str(uuid.UUID(hex=hashlib.sha256(key.encode()).hexdigest()[:32]))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: ``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` with the shared secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class EmailChannel:
    """SMTP with STARTTLS (refuses to send in clear text when STARTTLS is on), optional login."""

    name = "email"

    def __init__(self, settings: AlertSettings):
        self.s = settings
        self._smtp: smtplib.SMTP | None = None  # one connection for a round of sends (STARTTLS once)

    def _connect(self) -> smtplib.SMTP:
        s = self.s
        smtp = smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.timeout_s)
        try:
            smtp.ehlo()
            if s.smtp_starttls:
                context = ssl.create_default_context(cafile=str(s.smtp_ca_file) if s.smtp_ca_file else None)
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        """End the connection kept between sends."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, message: Message) -> None:
        """Deliver to the SMTP server; raises ChannelError unless it answered 250 for the recipient."""
        s = self.s
        if not s.smtp_host:
            raise ChannelError("no SMTP server configured (GEO_SERVICE_ALERTS_SMTP_HOST)")
        mail = EmailMessage()
        mail["From"] = s.smtp_from
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.key}@geo-service>"
        mail["Content-Language"] = message.language
        mail.set_content(message.text)
        if message.png:
            mail.add_attachment(message.png, maintype="image", subtype="png", filename="map.png")
        try:
            for fresh in (self._smtp is None, True):  # a kept connection the server closed: once more, anew
                if self._smtp is None:
                    self._smtp = self._connect()
                try:
                    refused = self._smtp.send_message(mail)
                    break
                except smtplib.SMTPServerDisconnected:
                    self._smtp = None
                    if fresh:
                        raise
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            raise ChannelError(f"address refused: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPNotSupportedError as exc:
            self.close()
            raise ChannelError("the SMTP server does not offer STARTTLS") from exc
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            self.close()
            raise ChannelError(f"SMTP: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise ChannelError(f"address refused: {refused}", permanent=True)

    def _reset(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.rset()
            except (smtplib.SMTPException, OSError):
                self.close()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class _Retryable(Exception):
    pass


class WebhookChannel:
    """POST JSON to the subscriber's URL, signed (``X-Geo-Signature``), retried with exponential back-off on
    network errors, 429 and 5xx."""

    name = "webhook"

    def __init__(self, settings: AlertSettings, sleep=time.sleep):
        self.s = settings
        self.sleep = sleep

    def send(self, message: Message) -> None:
        """Deliver to the webhook; a 2xx is accepted, other 4xx are permanent, the rest retried then raised."""
        if self.s.webhook_secret is None:
            raise ChannelError("no webhook secret configured (GEO_SERVICE_ALERTS_WEBHOOK_SECRET)")
        secret = self.s.webhook_secret.get_secret_value()
        payload = {"id": message.key, "subject": message.subject, "text": message.text, **message.data}
        if message.png:
            payload["map_png_base64"] = base64.b64encode(message.png).decode()
        body = json.dumps(payload, ensure_ascii=False, default=str).encode()

        def attempt() -> None:
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "geo-service-alerts",
                "X-Idempotency-Key": message.key,
                "X-Geo-Timestamp": stamp,
                "X-Geo-Signature": signature(secret, stamp, body),
            }
            try:
                status, _ = _post(message.address, body, headers, self.s.timeout_s)
            except (urllib.error.URLError, OSError) as exc:
                raise _Retryable(f"webhook: {exc}") from exc
            if 200 <= status < 300:
                return
            if status == 429 or status >= 500:
                raise _Retryable(f"webhook answered {status}")
            raise ChannelError(f"webhook answered {status}", permanent=True)

        try:
            for tried in Retrying(
                stop=stop_after_attempt(self.s.webhook_tries),
                wait=wait_exponential(multiplier=self.s.webhook_backoff_s, max=60),
                retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
                sleep=self.sleep,
                reraise=True,
            ):
                with tried:
                    attempt()
        except _Retryable as exc:
            raise ChannelError(f"{exc} after {self.s.webhook_tries} tries") from exc


class LineChannel:
    """LINE Messaging API push: ``POST {base}/v2/bot/message/push`` with the channel's Bearer token and
    ``X-Line-Retry-Key``; the body is ``{"to": userId, "messages": [{"type": "text", "text": ...}]}``."""

    name = "line"
    MAX_TEXT = 5000  # LINE's limit for one text message

    def __init__(self, settings: AlertSettings):
        self.s = settings

    def send(self, message: Message) -> None:
        """Push to one LINE user; 200 accepted, 409 (this retry key was accepted before) counts as accepted."""
        if self.s.line_channel_token is None:
            raise ChannelError("no LINE channel token configured (GEO_SERVICE_ALERTS_LINE_CHANNEL_TOKEN)")
        text = f"{message.subject}\n\n{message.text}"[: self.MAX_TEXT]
        body = json.dumps(
            {"to": message.address, "messages": [{"type": "text", "text": text}]}, ensure_ascii=False
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.s.line_channel_token.get_secret_value()}",
            "X-Line-Retry-Key": line_retry_key(message.key),
        }
        url = self.s.line_api_url.rstrip("/") + "/v2/bot/message/push"
        try:
            status, answer = _post(url, body, headers, self.s.timeout_s)
        except (urllib.error.URLError, OSError) as exc:
            raise ChannelError(f"LINE: {exc}") from exc
        if status in (200, 409):
            return
        detail = answer[:200].decode("utf-8", "replace")
        raise ChannelError(f"LINE answered {status}: {detail}", permanent=status in (400, 401, 403, 404))


def channels_for(settings: AlertSettings) -> dict[str, EmailChannel | WebhookChannel | LineChannel]:
    """The channels by name."""
    return {"email": EmailChannel(settings), "webhook": WebhookChannel(settings), "line": LineChannel(settings)}
