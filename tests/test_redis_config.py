"""Managed Redis: TLS (rediss://) and Sentinel reach the queues, the cache and direct connections alike.

The settings are checked as the connection options they produce; then a real Redis over
TLS, and a real Sentinel in front of a second Redis, each on free ports of their own
(the shared Redis on 6379 is left alone), carry a ping, the cache and a delivery.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import django_rq
import pytest
import redis
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django_rq.connection_utils import get_redis_connection
from redis.sentinel import SentinelConnectionPool, SentinelManagedSSLConnection

from brevo_hooks.redis_config import RedisSettings, SentinelPool, parse_sentinels
from events import emit
from events.fanout import NewEvent
from tests.conftest import ROOT, process_env, stop_all, wait_until
from tests.test_send_a_test import free_port
from webhooks.models import Delivery

TLS_URL = "rediss://:s3cret@redis.example.com:6380/3?ssl_cert_reqs=none&ssl_ca_certs=/etc/ssl/ca.pem"


def test_a_plain_url_gives_one_connection_for_the_queues_and_the_cache():
    config = RedisSettings("redis://127.0.0.1:6379/4")
    assert config.rq() == {"URL": "redis://127.0.0.1:6379/4"}
    assert config.cache()["LOCATION"] == "redis://127.0.0.1:6379/4"
    assert config.client_kwargs() == {"host": "127.0.0.1", "port": 6379, "db": 4}


def test_a_rediss_url_turns_tls_on_with_its_options_for_every_connection():
    config = RedisSettings(TLS_URL)
    kwargs = config.client_kwargs()
    assert kwargs["ssl"] is True
    assert (kwargs["ssl_cert_reqs"], kwargs["ssl_ca_certs"]) == ("none", "/etc/ssl/ca.pem")
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (
        "redis.example.com",
        6380,
        3,
        "s3cret",
    )

    # django-rq, the cache and direct connections all open SSL connections with the same options.
    for client in (
        get_redis_connection(config.rq()),
        redis.Redis(connection_pool=redis.ConnectionPool.from_url(config.cache()["LOCATION"])),
        config.connect(),
    ):
        options = client.connection_pool.connection_kwargs
        assert client.connection_pool.connection_class is redis.SSLConnection
        assert (options["ssl_cert_reqs"], options["ssl_ca_certs"]) == ("none", "/etc/ssl/ca.pem")
        assert (options["host"], options["port"], options["db"]) == ("redis.example.com", 6380, 3)


def sentinel_settings() -> RedisSettings:
    """Two sentinels with a password of their own, in front of the TLS URL's database."""
    return RedisSettings(TLS_URL, (("10.0.0.5", 26379), ("10.0.0.6", 26379)), "brevo", "sentinel-pw")


def test_sentinels_name_the_master_and_the_url_still_gives_the_database_password_and_tls():
    rq = sentinel_settings().rq()
    assert rq["SENTINELS"] == [("10.0.0.5", 26379), ("10.0.0.6", 26379)]
    assert (rq["MASTER_NAME"], rq["DB"], rq["PASSWORD"]) == ("brevo", 3, "s3cret")
    assert rq["CONNECTION_KWARGS"] == {"ssl": True, "ssl_cert_reqs": "none", "ssl_ca_certs": "/etc/ssl/ca.pem"}
    assert rq["SENTINEL_KWARGS"] == {
        "ssl": True,
        "ssl_cert_reqs": "none",
        "ssl_ca_certs": "/etc/ssl/ca.pem",
        "password": "sentinel-pw",
    }


def test_django_rq_makes_of_sentinels_a_pool_that_asks_them_with_tls_to_the_master():
    pool = get_redis_connection(sentinel_settings().rq()).connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "brevo"
    assert pool.connection_class is SentinelManagedSSLConnection
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["password"] == "s3cret"
    sentinel = pool.sentinel_manager.sentinels[0].connection_pool
    assert sentinel.connection_kwargs["password"] == "sentinel-pw"
    assert sentinel.connection_class is redis.SSLConnection


def test_the_cache_and_direct_connections_build_the_same_sentinel_pool():
    config = sentinel_settings()
    # The cache builds it through Django's pool_class hook.
    options = config.cache()["OPTIONS"]
    cache_pool = SentinelPool.from_url(
        config.cache()["LOCATION"], **{k: v for k, v in options.items() if k != "pool_class"}
    )
    assert cache_pool.service_name == "brevo"
    assert cache_pool.connection_class is SentinelManagedSSLConnection
    assert "host" not in cache_pool.connection_kwargs

    direct = config.connect(socket_timeout=2).connection_pool
    assert isinstance(direct, SentinelConnectionPool)
    assert direct.connection_kwargs["socket_timeout"] == 2


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", []),
        ("10.0.0.5:26379", [("10.0.0.5", 26379)]),
        (" a.example:26379 , [::1]:26380 ", [("a.example", 26379), ("::1", 26380)]),
    ],
)
def test_redis_sentinels_are_host_port_pairs(raw, parsed):
    assert parse_sentinels(raw) == parsed


@pytest.mark.parametrize("raw", ["10.0.0.5", "10.0.0.5:port", ":26379", "h:70000"])
def test_a_malformed_redis_sentinels_is_refused_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINELS must be comma-separated host:port"):
        parse_sentinels(raw)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("REDIS_URL", "http://redis.example.com", "REDIS_URL is not a Redis URL"),
        ("REDIS_SENTINELS", "redis.example.com", "REDIS_SENTINELS must be"),
    ],
)
def test_a_bad_redis_setting_stops_start_up_naming_it(variable, value, message):
    env = process_env(**{variable: value})
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert message in done.stderr


# Real servers ------------------------------------------------------------------------------


def start_server(args: list[str], port: int, tmp_path: Path, name: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 (the child keeps its copy)
    proc = subprocess.Popen(["redis-server", *args], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def need(program: str) -> None:
    if not shutil.which(program):
        pytest.skip(f"{program} is not installed (apt-get install redis-server openssl).")


PLAIN = ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]


@pytest.fixture
def tls_redis(tmp_path) -> Iterator[tuple[int, Path]]:
    """A Redis of its own that only speaks TLS, with a certificate for 127.0.0.1 made here."""
    need("redis-server")
    need("openssl")
    cert, key = tmp_path / "redis.crt", tmp_path / "redis.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = free_port()
    proc = start_server(
        [*PLAIN, "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"],
        port, tmp_path, "tls",
    )  # fmt: skip
    try:
        url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"
        wait_until(lambda: answers(RedisSettings(url)), timeout=20, interval=0.1)
        yield port, cert
    finally:
        stop_all([proc])


def answers(config: RedisSettings) -> bool:
    try:
        return bool(config.connect(socket_timeout=1, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def use_redis(settings, config: RedisSettings) -> None:
    """Point this test process's queues and cache at `config`, as settings.py would."""
    settings.REDIS_URL = config.url
    settings.REDIS_SENTINELS = list(config.sentinels)
    settings.REDIS_SENTINEL_MASTER = config.master
    settings.RQ_QUEUES = {name: {**config.rq(), "DEFAULT_TIMEOUT": 120} for name in ("tests", "deliveries")}
    settings.CACHES = {"default": {**config.cache(), "KEY_PREFIX": "brevo-hooks-test"}}


def test_a_real_redis_over_tls_carries_the_queues_the_cache_and_readyz(tls_redis, settings, client, db):
    port, cert = tls_redis
    config = RedisSettings(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}")
    use_redis(settings, config)

    connection = django_rq.get_connection("deliveries")
    assert connection.connection_pool.connection_class is redis.SSLConnection
    connection.rpush("brevo-hooks:tls-probe", "1")
    assert connection.lpop("brevo-hooks:tls-probe") == b"1"
    cache.set("tls-probe", "kept", 30)
    assert cache.get("tls-probe") == "kept"
    assert client.get("/readyz").json()["checks"]["redis"] == "ok"

    # Without the CA the certificate is not trusted: TLS really is on, and checked.
    untrusted = RedisSettings(f"rediss://127.0.0.1:{port}/0").connect(socket_timeout=2)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        untrusted.ping()


@pytest.fixture
def sentinel_redis(tmp_path) -> Iterator[tuple[int, int]]:
    """A Redis of its own and a Sentinel watching it as master `brevo`: (redis port, sentinel port)."""
    need("redis-server")
    data_port, sentinel_port = free_port(), free_port()
    data = start_server([*PLAIN, "--port", str(data_port)], data_port, tmp_path, "data")
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor brevo 127.0.0.1 {data_port} 1\n"
        "sentinel down-after-milliseconds brevo 5000\n"
    )
    sentinel = start_server([str(conf), "--sentinel"], sentinel_port, tmp_path, "sentinel")
    try:
        asked = redis.Redis(port=sentinel_port, socket_timeout=1)

        def master_known() -> bool:
            try:
                found = asked.sentinel_get_master_addr_by_name("brevo")
                return bool(found) and int(found[1]) == data_port
            except (redis.RedisError, OSError):
                return False

        wait_until(master_known, timeout=20, interval=0.1)
        yield data_port, sentinel_port
    finally:
        stop_all([sentinel, data])


def test_a_real_sentinel_leads_the_queues_the_cache_readyz_and_a_worker_to_the_master(
    sentinel_redis, settings, client, account, make_webhook, receiver, worker_process
):
    data_port, sentinel_port = sentinel_redis
    # The URL's host is a decoy: with sentinels only its database (and password, TLS) count.
    config = RedisSettings("redis://decoy.invalid:1/2", (("127.0.0.1", sentinel_port),), "brevo")
    use_redis(settings, config)
    master = redis.Redis(port=data_port, db=2)

    django_rq.get_connection("deliveries").set("brevo-hooks:sentinel-probe", "via-sentinel")
    assert master.get("brevo-hooks:sentinel-probe") == b"via-sentinel"
    cache.set("sentinel-probe", "kept", 30)
    assert cache.get("sentinel-probe") == "kept"
    assert any(b"sentinel-probe" in key for key in master.scan_iter())
    assert client.get("/readyz").json()["checks"]["redis"] == "ok"

    # A worker configured only by the environment finds the master through the sentinel too.
    make_webhook(url=receiver.url, events=("delivered",))
    worker_process(
        REDIS_URL="redis://decoy.invalid:1/2",
        REDIS_SENTINELS=f"127.0.0.1:{sentinel_port}",
        REDIS_SENTINEL_MASTER="brevo",
        WEBHOOKS_ALLOW_PRIVATE_URLS="true",
    )
    emit(account, [NewEvent("delivered", data={"email": "sentinel@example.com"})])
    assert receiver.wait_for(1, timeout=30)[0].json()["email"] == "sentinel@example.com"
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 1, timeout=20)


def test_redis_replies_are_parsed_in_c():
    """hiredis is installed and redis-py uses it: every hand-over and take is parsed by it."""
    from redis.utils import HIREDIS_AVAILABLE

    from webhooks import fairqueue

    assert HIREDIS_AVAILABLE
    redis_connection = fairqueue.connection()
    assert redis_connection.ping()
    pool = redis_connection.connection_pool
    connection = pool.get_connection()
    try:
        assert "Hiredis" in type(connection._parser).__name__
    finally:
        pool.release(connection)
