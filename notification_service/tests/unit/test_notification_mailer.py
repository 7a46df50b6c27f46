from __future__ import annotations

import smtplib
import time

import pytest

from notification_service.mailer import SmtpMailer
from notification_service.tests.fake_smtp import FakeSmtpServer

ORDER_ID = "5f0c1a9e-8d2b-4c3e-b7a6-1e2d3c4b5a69"
MESSAGE_ID = f"<{ORDER_ID}.order_confirmed@order-pipeline.local>"


def test_sends_one_email_with_the_given_message_id():
    with FakeSmtpServer() as server:
        SmtpMailer(host="127.0.0.1", port=server.port, sender="orders@order-pipeline.local").send(
            to="ada@example.com",
            subject=f"Your order {ORDER_ID} has shipped",
            body="Good news.\n.\nA line with only a dot survives.\n",
            message_id=MESSAGE_ID,
        )
    [email] = server.received
    assert email["From"] == "orders@order-pipeline.local"
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == f"Your order {ORDER_ID} has shipped"
    assert email["Message-ID"] == MESSAGE_ID  # not folded, even this long
    assert email["Date"]
    assert email.get_content() == "Good news.\n.\nA line with only a dot survives.\n"


def test_a_refusing_server_raises_an_smtp_error():
    with FakeSmtpServer(refuse=True) as server, pytest.raises(smtplib.SMTPException):
        SmtpMailer(host="127.0.0.1", port=server.port, sender="o@x.local").send(
            to="a@example.com", subject="s", body="b", message_id="<m@x.local>"
        )
    assert server.received == []


def test_a_hung_server_times_out_instead_of_holding_the_task():
    with FakeSmtpServer(silent=True) as server:
        mailer = SmtpMailer(host="127.0.0.1", port=server.port, sender="o@x.local", timeout_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(OSError):  # TimeoutError is an OSError: the send task retries on it
            mailer.send(to="a@example.com", subject="s", body="b", message_id="<m@x.local>")
    assert time.monotonic() - started < 5


def test_the_default_timeout_is_ten_seconds():
    assert SmtpMailer(host="maildev", port=1025, sender="o@x.local").timeout_seconds == 10.0
