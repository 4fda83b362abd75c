"""E-mail delivery of an issued report over SMTP (optional: the ``SmtpConfig`` of the services
bundle, ``pipelines/core/services.py``; no host, no delivery)."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pipelines.core.services import SmtpConfig


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
