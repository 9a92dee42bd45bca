"""Where the integration tests find Kafka, PostgreSQL and Redis (a pytest plugin).

Loaded by the repository's root ``conftest.py``; ``PORTAL_TEST_INFRA`` chooses:

- ``local`` (default, ``make test``): nothing happens here; the tests use
  ``TEST_POSTGRES_URL``, ``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL`` as set (the local
  processes of ``deploy/local/infra.sh``).
- ``containers``: before any test module is imported, PostgreSQL, Kafka and Redis are
  started with testcontainers-python from the locally built images (``make images``),
  those three variables are pointed at them, the topic catalogue is created, and the
  containers are removed when the session ends.

The engine: ``DOCKER_HOST`` when set (Docker, or podman's socket), else a running Docker
at /var/run/docker.sock, else podman, whose Docker-compatible API service is started for
the session (``podman system service``, runc + cgroupfs, as FACTS/setup-podman.sh say).
With podman, Ryuk (the reaper container) is disabled, so this plugin removes its own
containers; they carry the label ``portal.test-infra`` should a killed run leave any
(``podman rm -f $(podman ps -aq --filter label=portal.test-infra)``).

Images (override with the variables): ``PORTAL_TEST_POSTGRES_IMAGE``
(localhost/portal-postgres:15), ``PORTAL_TEST_KAFKA_IMAGE`` (localhost/portal-kafka:4.1.1),
``PORTAL_TEST_REDIS_IMAGE`` (localhost/portal-redis:7).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODE_VARIABLE = "PORTAL_TEST_INFRA"
LABEL = "portal.test-infra"
IMAGES = {
    "postgres": ("PORTAL_TEST_POSTGRES_IMAGE", "localhost/portal-postgres:15"),
    "kafka": ("PORTAL_TEST_KAFKA_IMAGE", "localhost/portal-kafka:4.1.1"),
    "redis": ("PORTAL_TEST_REDIS_IMAGE", "localhost/portal-redis:7"),
}
START_TIMEOUT_S = 180.0
PG_USER = PG_PASSWORD = "portal"

# A single-node KRaft broker (SASL/SCRAM and ACLs as deploy/local/infra.sh, ADR 24) whose
# client listener is the same port inside and outside the
# container, so the address it advertises (127.0.0.1:<port>) is the one the tests reach.
# Uses only the image's Java and /opt/kafka/libs, not its entrypoint (which advertises the
# container's name for compose).
_KAFKA_SCRIPT = """set -e
data=$(mktemp -d)
cat > "$data/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:19093
listeners=SASL_PLAINTEXT://0.0.0.0:{port},CONTROLLER://127.0.0.1:19093
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram_jaas}
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain_jaas}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{admin_user}
allow.everyone.if.no.acl.found=false
log.dirs=$data/logs
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
num.partitions=6
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=8388608
EOF
java -Xmx128m -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format \\
  -t tU3VtZo6QJSejtjoS8ngpg -c "$data/server.properties" {scram_users}
exec java -Xmx512m -XX:+UseG1GC -cp '/opt/kafka/libs/*' \\
  -Dlog4j2.configurationFile=/opt/kafka/log4j2.xml kafka.Kafka "$data/server.properties"
"""


def _kafka_script(port: int) -> str:
    """The container's start script: every principal a SCRAM user at format time, with its
    local-only password (servicekit.kafka), the admin's from ``KAFKA_ADMIN_PASSWORD``."""
    from servicekit.kafka import admin_security, local_password
    from servicekit.kafka_acl import PRINCIPALS

    admin = admin_security()
    users = {str(admin.username): str(admin.password)}
    users.update({p: local_password(p) for p in PRINCIPALS})
    scram = " ".join(
        f"--add-scram 'SCRAM-SHA-512=[name={name},iterations=8192,password={password}]'"
        for name, password in users.items()
    )
    login = f'username="{admin.username}" password="{admin.password}"'
    return _KAFKA_SCRIPT.format(
        port=port,
        admin_user=admin.username,
        scram_users=scram,
        scram_jaas=f"org.apache.kafka.common.security.scram.ScramLoginModule required {login};",
        plain_jaas="org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'{login} user_{admin.username}="{admin.password}";',
    )


async def _warm_up_group_coordinator(bootstrap: str) -> None:
    """A new broker creates __consumer_offsets on the first group's request and answers
    "coordinator not available" until then, so the first test's consumer would join late
    (and, starting at "latest", miss what the test publishes meanwhile). One throw-away group
    joins here first, as on the long-running local broker."""
    from aiokafka import AIOKafkaConsumer

    from servicekit.kafka import admin_security
    from servicekit.topics import CATALOGUE

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id="portal-test-infra-warm-up",
        enable_auto_commit=False,
        **admin_security().options(),
    )
    await consumer.start()
    try:
        # Every partition of every topic assigned: the topics' leaders are elected and their
        # metadata is out, so a service's consumer joins once, not again when a late topic
        # shows up (a second join would reset a "latest" consumer past the first events).
        consumer.subscribe(list(CATALOGUE))
        expected = sum(spec.partitions for spec in CATALOGUE.values())
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(consumer.assignment()) < expected:
            if time.monotonic() > deadline:
                raise TestInfraError(
                    f"Kafka: {len(consumer.assignment())} of {expected} partitions assigned"
                )
            await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()


class TestInfraError(RuntimeError):
    """The containers could not be started; the message says what to do."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, probe: Any, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception as exc:  # not ready yet
            last = exc
        time.sleep(0.5)
    raise TestInfraError(f"{what} not ready after {timeout_s:.0f}s (last error: {last!r})")


@dataclass
class ContainerInfra:
    """The running containers and the podman API service this session started, if any."""

    containers: list[Any] = field(default_factory=list)
    podman_service: subprocess.Popen[bytes] | None = None
    socket_dir: str | None = None
    environment: dict[str, str] = field(default_factory=dict)

    # -- engine ----------------------------------------------------------------------
    def connect_engine(self) -> None:
        if os.environ.get("DOCKER_HOST"):
            return
        if Path("/var/run/docker.sock").exists() and shutil.which("docker"):
            ok = subprocess.run(["docker", "info"], capture_output=True, check=False)  # noqa: S607
            if ok.returncode == 0:
                return
        podman = shutil.which("podman")
        if podman is None:
            raise TestInfraError(
                "PORTAL_TEST_INFRA=containers needs Docker or podman "
                "(deploy/images/setup-podman.sh installs podman)"
            )
        self.socket_dir = tempfile.mkdtemp(prefix="portal-podman-")
        sock = Path(self.socket_dir) / "podman.sock"
        self.podman_service = subprocess.Popen(  # noqa: S603 (podman from PATH, fixed args)
            [
                podman, "--runtime", "runc", "--cgroup-manager=cgroupfs",
                "system", "service", "--time=0", f"unix://{sock}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait("podman API socket", sock.exists, timeout_s=30)
        os.environ["DOCKER_HOST"] = f"unix://{sock}"
        # podman has no Ryuk image here, and testcontainers must not guess it runs in a
        # container (it would read fields podman does not return).
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
        os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

    # -- containers ------------------------------------------------------------------
    def _container(self, name: str, **kwargs: Any) -> Any:
        # Imported late: testcontainers reads its settings from the environment on import.
        from testcontainers.core.container import DockerContainer

        variable, default = IMAGES[name]
        image = os.environ.get(variable, default)
        container = DockerContainer(image).with_kwargs(labels={LABEL: name}, **kwargs)
        return container, image

    def _start(self, name: str, container: Any, image: str) -> Any:
        try:
            container.start()
        except Exception as exc:
            raise TestInfraError(
                f"cannot start {name} from image {image}: {exc}. Build the images with "
                f"`make images` or point {IMAGES[name][0]} at one."
            ) from exc
        self.containers.append(container)
        return container

    @staticmethod
    def _host(container: Any) -> str:
        host = str(container.get_container_host_ip())
        return "127.0.0.1" if host in ("localhost", "") else host

    def start_postgres(self) -> str:
        container, image = self._container("postgres")
        container.with_env("POSTGRES_USER", PG_USER).with_env("POSTGRES_PASSWORD", PG_PASSWORD)
        container.with_exposed_ports(5432)
        self._start("postgres", container, image)

        def ready() -> bool:
            # The first start's initdb runs a socket-only server: TCP answers once the
            # real server runs, with the role and its database in place.
            code, _ = container.exec(["pg_isready", "-h", "127.0.0.1", "-U", PG_USER, "-q"])
            return bool(code == 0)

        _wait("PostgreSQL", ready)
        # The tests make a fresh database per test module (servicekit.testing).
        code, out = container.exec(
            ["psql", "-h", "/run/postgresql", "-U", "postgres", "-c",
             f"ALTER ROLE {PG_USER} CREATEDB"]
        )  # fmt: skip
        if code != 0:
            raise TestInfraError(f"PostgreSQL: cannot grant CREATEDB: {out!r}")
        port = container.get_exposed_port(5432)
        return (
            f"postgresql+asyncpg://{PG_USER}:{PG_PASSWORD}@{self._host(container)}:{port}/postgres"
        )

    def start_redis(self) -> str:
        container, image = self._container("redis")
        container.with_exposed_ports(6379)
        self._start("redis", container, image)
        host, port = self._host(container), int(container.get_exposed_port(6379))

        def ready() -> bool:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        _wait("Redis", ready)
        return f"redis://{host}:{port}/0"

    def start_kafka(self) -> str:
        port = _free_port()
        container, image = self._container("kafka", entrypoint=["bash", "-c", _kafka_script(port)])
        container.with_bind_ports(port, port)
        self._start("kafka", container, image)
        bootstrap = f"127.0.0.1:{port}"

        from servicekit.kafka_acl import apply as apply_acls
        from servicekit.topics import ensure_topics

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return True

        _wait("Kafka's port", listening)
        # The broker answers Metadata once it is unfenced; creating the catalogue's topics
        # succeeds only then, so it is the readiness check too (aiokafka's connection
        # errors meanwhile are expected and kept out of the output).
        quiet = logging.getLogger("aiokafka")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            _wait("Kafka", lambda: asyncio.run(ensure_topics(bootstrap)) is not None)
            asyncio.run(apply_acls(bootstrap))
            asyncio.run(_warm_up_group_coordinator(bootstrap))
        finally:
            quiet.setLevel(level)
        return bootstrap

    def start(self) -> dict[str, str]:
        self.connect_engine()
        self.environment = {
            "TEST_POSTGRES_URL": self.start_postgres(),
            "REDIS_URL": self.start_redis(),
            "KAFKA_BOOTSTRAP_SERVERS": self.start_kafka(),
        }
        os.environ.update(self.environment)
        return self.environment

    def stop(self) -> None:
        for container in reversed(self.containers):
            with contextlib.suppress(Exception):
                container.stop()
        self.containers.clear()
        if self.podman_service is not None:
            self.podman_service.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.podman_service.wait(timeout=20)
            self.podman_service = None
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


_infra: ContainerInfra | None = None


def mode() -> str:
    value = os.environ.get(MODE_VARIABLE, "local") or "local"
    if value not in ("local", "containers"):
        raise TestInfraError(f"{MODE_VARIABLE}={value!r}: expected 'local' or 'containers'")
    return value


def start_if_requested() -> None:
    """Start the containers when PORTAL_TEST_INFRA=containers. Called by the root
    conftest.py as it is imported: before the test directories' own conftest files, which
    read the variables at import time (pytest imports those before pytest_configure)."""
    global _infra
    if mode() != "containers" or _infra is not None:
        return
    _infra = ContainerInfra()
    try:
        env = _infra.start()
    except BaseException:
        _infra.stop()
        _infra = None
        raise
    print(f"\n[{MODE_VARIABLE}=containers] " + " ".join(f"{k}={v}" for k, v in env.items()))


def pytest_configure(config: Any) -> None:
    start_if_requested()


def pytest_report_header(config: Any) -> str:
    if _infra is None:
        return (
            f"{MODE_VARIABLE}=local: infrastructure from TEST_POSTGRES_URL, "
            "KAFKA_BOOTSTRAP_SERVERS, REDIS_URL"
        )
    return f"{MODE_VARIABLE}=containers: " + ", ".join(
        f"{k}={v}" for k, v in _infra.environment.items()
    )


def pytest_unconfigure(config: Any) -> None:
    global _infra
    if _infra is not None:
        _infra.stop()
        _infra = None
