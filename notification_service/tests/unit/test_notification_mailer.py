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


def test_an_ascii_email_goes_out_as_plain_7bit_text():
    with FakeSmtpServer() as server:
        _send(SmtpMailer(host="127.0.0.1", port=server.port, sender="o@x.local"), 1)
    [email] = server.received
    assert email.get_content_type() == "text/plain"
    assert email["Content-Transfer-Encoding"] == "7bit"
    assert email.get_content() == "b\n"


def test_non_ascii_text_is_encoded_and_arrives_intact():
    with FakeSmtpServer() as server:
        SmtpMailer(host="127.0.0.1", port=server.port, sender="orders@order-pipeline.local").send(
            to="zoe@example.com",
            subject="Ihre Bestellung ist unterwegs: Grüße",
            body="Grüße aus dem Lager, 10 €\n",
            message_id=MESSAGE_ID,
        )
    [email] = server.received
    assert email["Subject"] == "Ihre Bestellung ist unterwegs: Grüße"
    assert email.get_content() == "Grüße aus dem Lager, 10 €\n"
    assert email["Message-ID"] == MESSAGE_ID


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


def _send(mailer: SmtpMailer, n: int) -> None:
    mailer.send(to="a@example.com", subject=f"s{n}", body="b", message_id=f"<m{n}@x.local>")


def test_one_connection_carries_many_emails():
    with FakeSmtpServer() as server:
        mailer = SmtpMailer(host="127.0.0.1", port=server.port, sender="o@x.local")
        for n in range(3):
            _send(mailer, n)
        mailer.close()
    assert [email["Subject"] for email in server.received] == ["s0", "s1", "s2"]
    assert server.connections == 1


def test_a_connection_the_server_dropped_is_replaced_before_sending():
    with FakeSmtpServer(hang_up_after_mail=True) as server:
        mailer = SmtpMailer(host="127.0.0.1", port=server.port, sender="o@x.local")
        for n in range(3):
            _send(mailer, n)  # no error: the NOOP check finds the dead connection first
    assert [email["Subject"] for email in server.received] == ["s0", "s1", "s2"]
    assert server.connections == 3


def test_a_connection_idle_for_too_long_is_not_reused():
    with FakeSmtpServer() as server:
        mailer = SmtpMailer(host="127.0.0.1", port=server.port, sender="o@x.local", max_idle_seconds=0)
        for n in range(2):
            _send(mailer, n)
        mailer.close()
    assert len(server.received) == 2
    assert server.connections == 2


def test_after_a_failed_send_the_next_email_gets_a_fresh_connection():
    with FakeSmtpServer(refuse=True) as server:
        mailer = SmtpMailer(host="127.0.0.1", port=server.port, sender="o@x.local")
        with pytest.raises(smtplib.SMTPException):
            _send(mailer, 0)
        server.refuse = False
        _send(mailer, 1)
        mailer.close()
    assert [email["Subject"] for email in server.received] == ["s1"]
    assert server.connections == 2
