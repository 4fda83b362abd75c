"""E-mail delivery of an issued report over SMTP (optional; configured by the environment).

``KONTOR_SMTP_HOST`` (unset: no delivery), ``KONTOR_SMTP_PORT`` (25), ``KONTOR_SMTP_FROM``,
``KONTOR_SMTP_USER`` / ``KONTOR_SMTP_PASSWORD`` (login when set), ``KONTOR_SMTP_STARTTLS=1``.
"""
from __future__ import annotations

import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "kontor@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 30.0


def smtp_config(env: Mapping[str, str]) -> SmtpConfig | None:
    host = env.get("KONTOR_SMTP_HOST")
    if not host:
        return None
    return SmtpConfig(host=host, port=int(env.get("KONTOR_SMTP_PORT") or 25),
                      sender=env.get("KONTOR_SMTP_FROM") or "kontor@localhost",
                      user=env.get("KONTOR_SMTP_USER") or None, password=env.get("KONTOR_SMTP_PASSWORD") or None,
                      starttls=env.get("KONTOR_SMTP_STARTTLS", "") in ("1", "true", "yes"))


def send_report(config: SmtpConfig, to: list[str], subject: str, body: str, pdf: bytes, filename: str) -> str:
    """Send the PDF as an attachment; returns the Message-ID."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = config.sender, ", ".join(to), subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="kontor")
    message.set_content(body)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    send(config, message)
    return message["Message-ID"]


def send(config: SmtpConfig, message: EmailMessage, timeout: float | None = None) -> None:
    """Deliver one message through the configured server (STARTTLS and login when configured)."""
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s if timeout is None else timeout) as smtp:
        smtp.ehlo()
        if config.starttls:
            smtp.starttls()
            smtp.ehlo()
        if config.user:
            smtp.login(config.user, config.password or "")
        smtp.send_message(message)
