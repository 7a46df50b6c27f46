"""The mailer against a real MailDev: an email it sent can be found again by its Message-ID,
which is how a sender decides about an email in doubt (see handlers.send_notifications)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.request import urlopen

import pytest

from notification_service.mailer import SmtpMailer
from testsupport.containers import ThrowawayContainer, free_port
from testsupport.polling import wait_until

SMTP_PORT, WEB_PORT = 1025, 1080


@pytest.fixture(scope="module")
def maildev() -> Iterator[ThrowawayContainer]:
    server = ThrowawayContainer(
        image="maildev/maildev:2.2.1",
        port=SMTP_PORT,
        more_ports=(WEB_PORT,),
        environment={"MAILDEV_IP": "0.0.0.0"},
    )
    api = f"http://127.0.0.1:{server.host_ports[WEB_PORT]}"
    try:
        wait_until(lambda: urlopen(f"{api}/healthz", timeout=2).status == 200, timeout=60, what="maildev")
        yield server
    finally:
        server.remove()


def mailer_for(server: ThrowawayContainer) -> SmtpMailer:
    return SmtpMailer(
        host="127.0.0.1",
        port=server.host_port,
        sender="orders@order-pipeline.local",
        sent_mail_api=f"http://127.0.0.1:{server.host_ports[WEB_PORT]}",
    )


def test_an_email_sent_is_found_by_its_message_id_and_no_other_is(maildev):
    mailer = mailer_for(maildev)
    sent = "<5f0c1a9e.order_shipped@order-pipeline.local>"
    mailer.send(to="ada@example.com", subject="Shipped", body="On its way.\n", message_id=sent)
    mailer.send(to="bob@example.com", subject="Other", body="x\n", message_id="<other@order-pipeline.local>")

    wait_until(lambda: mailer.has_delivered(sent), timeout=10, what="maildev to list the email")
    assert mailer.has_delivered("<5f0c1a9e.order_confirmed@order-pipeline.local>") is False
    assert (
        mailer.has_delivered("<5f0c1a9e.order_shipped@order-pipeline.loca>") is False
    )  # exact, not a prefix


def test_without_an_api_the_mailer_cannot_tell(maildev):
    mailer = SmtpMailer(host="127.0.0.1", port=maildev.host_port, sender="o@order-pipeline.local")
    assert mailer.has_delivered("<anything@order-pipeline.local>") is None


def test_an_api_that_does_not_answer_raises_instead_of_guessing():
    mailer = SmtpMailer(
        host="127.0.0.1",
        port=1,
        sender="o@x.local",
        sent_mail_api=f"http://127.0.0.1:{free_port()}",
        timeout_seconds=2,
    )
    with pytest.raises(OSError, match="cannot ask"):
        mailer.has_delivered("<anything@order-pipeline.local>")
