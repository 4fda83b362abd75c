"""Real servers on loopback for the report tests: an OpenAI-compatible chat endpoint and an SMTP
server. Both speak their real protocol over TCP; nothing in Kontor is patched."""
from __future__ import annotations

import json
import re
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# -- OpenAI-compatible chat completions ----------------------------------------------------------

Reply = tuple[int, str, float]          # (HTTP status, assistant text or error body, delay in seconds)


def facts_of(request: dict) -> dict:
    """The facts JSON Kontor put into the user message."""
    content = request["messages"][1]["content"]
    return json.loads(content[content.index("{"):])


def correct(request: dict) -> Reply:
    """A canned answer built only from numbers the prompt holds, written as the prompt writes them."""
    facts = facts_of(request)
    kpi = next((k for k in facts["kpis"] if "value" in k), None)
    if kpi is None:
        return 200, facts["data_status"], 0.0
    sentences = [f"{kpi['kpi']}: {kpi['value']} in {facts['period']}."]
    placeholder = re.search(r"\[(?:Kunde|Customer|Lieferant|Supplier) [A-Z]+\]", json.dumps(facts, ensure_ascii=False))
    if placeholder:
        sentences.append(f"Unter den Beiträgen ist {placeholder.group(0)}.")
    for label, cmp in kpi["comparisons"].items():
        sentences.append(f"{label}: {cmp['value']}, {cmp['change']}.")
    for vs_label, by_comparison in kpi.get("largest_contributions", {}).items():
        for dimension, members in by_comparison.items():
            sentences.append(f"Beitrag {vs_label} von {members[0]['member']} ({dimension}): {members[0]['contribution']}.")
            break
        break
    sentences.append(facts["data_status"])
    return 200, " ".join(sentences), 0.0


def wrong(request: dict) -> Reply:
    """A fluent answer with one invented figure."""
    status, text, delay = correct(request)
    return status, text + " Der Auftragsbestand liegt bei 987.654,32 €.", delay


def sequence(*replies: Callable[[dict], Reply]) -> Callable[[dict], Reply]:
    """Answer the n-th request with the n-th reply (the last one repeats)."""
    calls = {"n": 0}

    def reply(request: dict) -> Reply:
        calls["n"] += 1
        return replies[min(calls["n"], len(replies)) - 1](request)
    return reply


def slow(seconds: float) -> Callable[[dict], Reply]:
    def reply(request: dict) -> Reply:
        status, text, _ = correct(request)
        return status, text, seconds
    return reply


def error(status: int) -> Callable[[dict], Reply]:
    return lambda request: (status, json.dumps({"error": {"message": "model overloaded", "type": "server_error"}}), 0.0)


@dataclass
class LlmServer:
    """POST /v1/chat/completions on 127.0.0.1; ``requests`` records every request body."""

    reply: Callable[[dict], Reply] = correct
    requests: list[dict] = field(default_factory=list)

    def __enter__(self) -> LlmServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "authorization": self.headers.get("Authorization"), **body})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    status, payload, delay = 404, json.dumps({"error": {"message": "not found"}}), 0.0
                else:
                    status, text, delay = server.reply(body)
                    payload = text if status != 200 else json.dumps({
                        "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
                        "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                time.sleep(delay)
                data = payload.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass                     # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def env(self, model: str = "kontor-test-model") -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": "test-key", "KONTOR_LLM_MODEL": model}

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- SMTP ----------------------------------------------------------------------------------------

@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


class SmtpServer:
    """A small SMTP server (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA with dot-stuffing, RSET, NOOP,
    QUIT) on 127.0.0.1 that keeps what it receives in ``mails``."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []

    def __enter__(self) -> SmtpServer:
        mails = self.mails

        class Handler(socketserver.StreamRequestHandler):
            def say(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.say("220 localhost Kontor test SMTP")
                sender, recipients = None, []
                while line := self.rfile.readline():
                    command = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = command[:4].upper()
                    if verb == "EHLO":
                        self.say("250-localhost")
                        self.say("250-8BITMIME")
                        self.say("250 SMTPUTF8")
                    elif verb == "HELO":
                        self.say("250 localhost")
                    elif verb == "MAIL":
                        sender, recipients = re.search(r"<(.*?)>", command).group(1), []
                        self.say("250 OK")
                    elif verb == "RCPT":
                        recipients.append(re.search(r"<(.*?)>", command).group(1))
                        self.say("250 OK")
                    elif verb == "DATA":
                        if not sender or not recipients:
                            self.say("503 need MAIL and RCPT first")
                            continue
                        self.say("354 end data with <CR><LF>.<CR><LF>")
                        lines = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                        mails.append(Mail(sender, recipients, b"".join(lines)))
                        self.say("250 OK queued")
                    elif verb == "RSET":
                        sender, recipients = None, []
                        self.say("250 OK")
                    elif verb == "NOOP":
                        self.say("250 OK")
                    elif verb == "QUIT":
                        self.say("221 bye")
                        return
                    else:
                        self.say("502 command not implemented")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
