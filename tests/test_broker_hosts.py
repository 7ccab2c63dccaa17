"""Broker URLs that list several hosts (a cluster): parsing, validation, and what pika is handed."""

from __future__ import annotations

import pytest

from hub.errors import ConfigError
from hub.settings import Settings
from hub.transports.amqp import parameters, url_user, with_credentials
from hub.transports.hosts import BrokerUrl, split_hosts

CLUSTER = "amqp://hub:s%40cret@rmq-1:5672,rmq-2:5673,[::1]:5674/zorg%2Fhub?heartbeat=30"


def test_each_host_gets_the_shared_credentials_vhost_and_query() -> None:
    assert split_hosts(CLUSTER) == [
        "amqp://hub:s%40cret@rmq-1:5672/zorg%2Fhub?heartbeat=30",
        "amqp://hub:s%40cret@rmq-2:5673/zorg%2Fhub?heartbeat=30",
        "amqp://hub:s%40cret@[::1]:5674/zorg%2Fhub?heartbeat=30",
    ]


def test_pika_gets_one_parameter_set_per_host_in_order() -> None:
    params = parameters(CLUSTER)
    assert [(p.host, p.port) for p in params] == [("rmq-1", 5672), ("rmq-2", 5673), ("::1", 5674)]
    assert {p.virtual_host for p in params} == {"zorg/hub"}
    assert {p.credentials.password for p in params} == {"s@cret"}  # type: ignore[attr-defined]
    assert {p.heartbeat for p in params} == {60}


def test_a_single_host_url_is_unchanged() -> None:
    assert split_hosts("amqp://guest:guest@127.0.0.1:5672/v") == ["amqp://guest:guest@127.0.0.1:5672/v"]
    assert split_hosts("amqp://guest:guest@localhost") == ["amqp://guest:guest@localhost"]


def test_credentials_are_replaced_on_every_host() -> None:
    url = with_credentials(CLUSTER, "zk utrecht", "p:w")
    assert url == "amqp://zk%20utrecht:p%3Aw@rmq-1:5672,rmq-2:5673,[::1]:5674/zorg%2Fhub?heartbeat=30"
    assert url_user(url) == "zk utrecht"
    assert url_user("amqp://h1,h2/v") == "guest"
    assert BrokerUrl.parse(url).where() == "rmq-1:5672,rmq-2:5673,[::1]:5674"


@pytest.mark.parametrize(("url", "says"), [
    ("amqp://u:p@h1:5672,,h3/v", "empty host"),
    ("amqp://u:p@h1:5672,h2:99999/v", "out of range"),
    ("amqp://u:p@h1:5672,h 2/v", "'h 2' is not host[:port]"),
    ("amqp://u:p@h1:56x2/v", "'h1:56x2' is not host[:port]"),
])
def test_a_bad_host_list_is_a_setting_error(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=r"invalid setting broker_url: .*" + says.replace("[", r"\[")):
        Settings.load(environ={"ZORGHUB_BROKER_URL": url})


def test_settings_take_a_cluster_url() -> None:
    settings = Settings.load(environ={"ZORGHUB_BROKER_URL": CLUSTER})
    assert settings.broker_url == CLUSTER


def test_the_stream_url_is_checked_like_the_broker_url() -> None:
    with pytest.raises(ConfigError, match="invalid setting stream_url"):
        Settings.load(environ={"ZORGHUB_STREAM_URL": "amqp://h1:5552"})
    with pytest.raises(ConfigError, match="invalid setting stream_url: .*empty host"):
        Settings.load(environ={"ZORGHUB_STREAM_URL": "rabbitmq-stream://u:p@h1:5552,/v"})
    url = "rabbitmq-stream://u:p@h1:5552,h2:5553/v"
    assert Settings.load(environ={"ZORGHUB_STREAM_URL": url}).stream_url == url


def test_the_stream_hosts_default_to_the_broker_hosts_on_the_stream_port() -> None:
    from hub.transports.streams import stream_url

    assert str(stream_url(CLUSTER)) == "rabbitmq-stream://hub:s%40cret@rmq-1:5552,rmq-2:5552,[::1]:5552/zorg%2Fhub?heartbeat=30"
    assert str(stream_url(CLUSTER, "rabbitmq-stream://a:b@s1:6000/v")) == "rabbitmq-stream://a:b@s1:6000/v"
