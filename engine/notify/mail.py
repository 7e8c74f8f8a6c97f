"""Email over SMTP: STARTTLS (default) or implicit TLS, certificates verified, optional auth; one
message per group with a plain-text and an HTML part; subject with status, count and alert name."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from engine.notify import templates
from engine.notify.config import Channel
from engine.notify.model import Notification
from engine.notify.transport import MAX_RESPONSE_BYTES, Result


def payload(n: Notification, channel: Channel, key: str) -> dict[str, Any]:
    return {"to": n.destination or channel.settings["to"], "subject": templates.render(
                channel.get("subject", templates.TITLE), n)[:250].replace("\n", " "),
            "text": templates.render(channel.get("text", templates.TEXT), n),
            "html": templates.render(channel.get("html", templates.HTML), n), "idempotencyKey": key}


def _message(channel: Channel, body: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = channel.settings["from"]
    msg["To"] = body["to"]
    msg["Subject"] = body["subject"]
    msg["Message-ID"] = make_msgid(idstring=body["idempotencyKey"][:32])
    msg["X-Metrics-Idempotency-Key"] = body["idempotencyKey"]
    msg.set_content(body["text"] or " ")
    msg.add_alternative(body["html"], subtype="html")
    return msg


def _deliver(channel: Channel, body: dict[str, Any]) -> Result:
    s = channel.settings
    context = ssl.create_default_context(cafile=s.get("ca_file"))
    mode = s.get("tls", "starttls")
    port = int(s.get("port") or (465 if mode == "tls" else 587 if mode == "starttls" else 25))
    try:
        smtp: smtplib.SMTP
        if mode == "tls":
            smtp = smtplib.SMTP_SSL(s["host"], port, timeout=channel.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s["host"], port, timeout=channel.timeout)
        with smtp:
            smtp.ehlo()
            if mode == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.get("username"):
                smtp.login(s["username"], s.get("password", ""))
            refused = smtp.send_message(_message(channel, body))
            code, reply = smtp.noop()
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace")[:MAX_RESPONSE_BYTES]
        return Result(False, exc.smtp_code, text, f"SMTP {exc.smtp_code}", permanent=500 <= exc.smtp_code < 600
                      and exc.smtp_code != 535)
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        return Result(False, error=f"{type(exc).__name__}: {exc}")
    if refused:
        return Result(False, error=f"recipients refused: {', '.join(refused)}", permanent=True)
    return Result(True, code, reply.decode("utf-8", "replace")[:MAX_RESPONSE_BYTES])


async def send(session: Any, channel: Channel, body: Any, now: float) -> Result:
    """SMTP is blocking: it runs in a thread, so the loop never waits on a mail server."""
    return await asyncio.to_thread(_deliver, channel, body)
