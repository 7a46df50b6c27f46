"""An email whose sender died after handing it to the SMTP server is not sent twice.

The chaos suite's SIGKILLs hit that window by chance; here it is made on purpose: an email
already in MailDev is put back the way a dead sender leaves it (PENDING, its claim's lease
run out), and the worker's sweep must record it without a second copy. The control: the
same, after the copy is deleted from MailDev, makes the sweep send it again.
"""

from __future__ import annotations

import requests
import sqlalchemy as sa

from e2e_tests.stack import URLS, database_url, emails_to, new_sku, order, order_body, post_order
from testsupport.polling import wait_until

DEAD_SENDER = sa.text(
    "UPDATE notifications SET status = 'PENDING', sent_at = NULL,"
    " claimed_at = now() - interval '2 minutes', created_at = now() - interval '1 minute'"
    " WHERE order_id = :order_id AND kind = 'order_shipped'"
)
STATE = sa.text(
    "SELECT status, in_doubt, attempts FROM notifications"
    " WHERE order_id = :order_id AND kind = 'order_shipped'"
)


def shipped_and_mailed() -> tuple[str, str]:
    body = order_body(sku=new_sku(available=2))
    response = post_order(body)
    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    wait_until(lambda: order(order_id)["status"] == "SHIPPED", timeout=60, what="SHIPPED")
    wait_until(lambda: len(emails_to(body["email"])) == 2, timeout=60, what="two emails")
    return order_id, body["email"]


def shipped_emails(address: str) -> list[dict]:
    return [mail for mail in emails_to(address) if "shipped" in mail["subject"]]


def test_an_email_in_doubt_is_recorded_if_the_mail_server_has_it_and_sent_if_not():
    engine = sa.create_engine(database_url("notification_service"), poolclass=sa.pool.NullPool)
    kept_id, kept_address = shipped_and_mailed()
    lost_id, lost_address = shipped_and_mailed()
    [lost_copy] = shipped_emails(lost_address)
    requests.delete(f"{URLS.maildev}/email/{lost_copy['id']}", timeout=10).raise_for_status()

    with engine.begin() as connection:
        for order_id in (kept_id, lost_id):
            assert connection.execute(DEAD_SENDER, {"order_id": order_id}).rowcount == 1

    def state(order_id: str) -> tuple[str, bool, int]:
        with engine.connect() as connection:
            return tuple(connection.execute(STATE, {"order_id": order_id}).one())

    for order_id in (kept_id, lost_id):  # the sweep runs every 10 s
        wait_until(lambda order_id=order_id: state(order_id)[0] == "SENT", timeout=60, what="SENT again")
    assert state(kept_id) == ("SENT", True, 2)
    assert state(lost_id) == ("SENT", True, 2)
    assert len(shipped_emails(kept_address)) == 1  # recorded, not sent again
    wait_until(lambda: len(shipped_emails(lost_address)) == 1, timeout=10, what="the lost email resent")
    engine.dispose()
