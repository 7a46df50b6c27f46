"""A tiny in-process SMTP server for tests: enough of RFC 5321 for smtplib, nothing more."""

from __future__ import annotations

import socketserver
import threading
from email import message_from_bytes
from email.message import Message
from email.policy import default


class _Session(socketserver.StreamRequestHandler):
    server: FakeSmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.server.connections += 1
        if self.server.silent:
            self.rfile.readline()  # a hung server: accept, then never answer
            return
        self.reply("220 fake-smtp ready")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 fake-smtp")
            elif command.startswith("MAIL FROM") and self.server.refuse:
                self.reply("451 try again later")
            elif command.startswith(("MAIL FROM", "RCPT TO", "RSET", "NOOP")):
                self.reply("250 OK")
            elif command == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                self.server.received.append(message_from_bytes(self._read_data(), policy=default))
                self.reply("250 queued")
                if self.server.hang_up_after_mail:
                    return  # like a server closing an idle session: the client finds out later
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")

    def _read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)  # undo dot-stuffing
        return b"".join(lines).replace(b"\r\n", b"\n")  # wire line endings -> Python's


class FakeSmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, *, refuse: bool = False, silent: bool = False, hang_up_after_mail: bool = False
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.refuse, self.silent, self.hang_up_after_mail = refuse, silent, hang_up_after_mail
        self.received: list[Message] = []
        self.connections = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> FakeSmtpServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()
        self.server_close()
