"""infra/prometheus checked by Prometheus' own tool, in the image compose runs: the config
(`promtool check config`, which checks the rule file it names too), the alert rules on their
own (`check rules`), and the alerts' unit tests (`test rules infra/prometheus/alerts.test.yml`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testsupport.containers import TEST_LABEL

IMAGE = "prom/prometheus:v2.53.3"
FOLDER = Path(__file__).resolve().parents[3] / "infra" / "prometheus"


def promtool(*arguments: str) -> str:
    """promtool's output; ContainerError (with that output) when it exits non-zero. The folder
    is mounted where compose mounts its files, so the config's rule_files path holds."""
    import docker

    client = docker.from_env(timeout=300)
    output = client.containers.run(
        IMAGE,
        entrypoint="promtool",
        command=list(arguments),
        volumes={str(FOLDER): {"bind": "/etc/prometheus", "mode": "ro"}},
        working_dir="/etc/prometheus",
        network_mode="none",
        labels=TEST_LABEL,
        remove=True,
        stdout=True,
        stderr=True,
    )
    return output.decode()


@pytest.mark.parametrize(
    "arguments",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts.test.yml"),
    ],
    ids=["check config", "check rules", "test rules"],
)
def test_promtool_accepts_the_config_and_the_rules_pass_their_tests(arguments):
    assert "SUCCESS" in promtool(*arguments)


def test_every_alert_the_issue_asks_for_has_a_unit_test():
    rules, tests = (FOLDER / "alerts.yml").read_text(), (FOLDER / "alerts.test.yml").read_text()
    for alert in (
        "DeadLettersWaiting",
        "OutboxStuck",
        "DependencyBreakerOpen",
        "OrderStuck",
        "TargetDown",
        "CatalogCopyDiffers",
    ):
        assert f"alert: {alert}" in rules
        assert f"alertname: {alert}" in tests
