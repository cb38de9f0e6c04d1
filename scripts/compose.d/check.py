"""What docker-compose.yml promises, checked on the configuration a compose parser rendered.

Usage: check.py RENDERED_YAML JWT_SECRET POSTGRES_PASSWORD

The rendered file is `docker-compose config`'s output with the two secrets set to the values
given. Prints one line per failed promise and `N passed, N failed`; exits 1 on any failure.
"""

import sys

import yaml

ROLES = ["gateway", "score", "ingest", "train", "audit"]
REPLICATED = {"gateway": 2, "score": 2}
INFRASTRUCTURE = ["kafka", "postgres", "registry"]
# Named volumes and where they hold each service's data.
DATA = {"kafka": "/var/lib/kafka/data", "postgres": "/var/lib/postgresql/data"}
# The broker settings the tests and benchmarks run with (scripts/stack.d/server.properties.in).
BROKER = {
    "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    "KAFKA_NUM_PARTITIONS": "6",
    "KAFKA_LOG_CLEANER_DEDUPE_BUFFER_SIZE": "16777216",
}


def promises(config, jwt_secret, pg_password):
    """Yields (promise, kept) for every promise of the file."""
    services = config.get("services", {})
    volumes = config.get("volumes") or {}
    yield (
        "services are the infrastructure, `topics` and every role",
        sorted(services) == sorted(INFRASTRUCTURE + ["topics"] + ROLES),
    )
    topics = services.get("topics", {})
    yield "topics runs `aval topics apply` once", (
        topics.get("command") == ["topics", "apply"] and topics.get("restart") == "no"
    )
    for name in ROLES + ["topics"]:
        service = services.get(name, {})
        env = service.get("environment", {})
        yield f"{name} gets AVAL_JWT_SECRET", env.get("AVAL_JWT_SECRET") == jwt_secret
        yield f"{name} reaches PostgreSQL with POSTGRES_PASSWORD", (
            f"aval:{pg_password}@postgres:5432/" in env.get("DATABASE_URL", "")
        )
    for name in ROLES:
        service = services.get(name, {})
        yield f"{name} runs `aval {name}`", service.get("command") == [name]
        yield f"{name} starts after topics succeeded", (
            service.get("depends_on", {}).get("topics", {}).get("condition")
            == "service_completed_successfully"
        )
        replicas = service.get("deploy", {}).get("replicas", 1)
        yield f"{name} has {REPLICATED.get(name, 1)} replica(s)", (
            replicas == REPLICATED.get(name, 1)
        )
    gateway_ports = services.get("gateway", {}).get("ports", [])
    yield "each gateway replica gets its own host port from a range", any(
        _range_size(str(port.get("published", ""))) >= REPLICATED["gateway"]
        for port in gateway_ports
    )
    for name in ROLES + INFRASTRUCTURE:
        service = services.get(name, {})
        yield f"{name} has a healthcheck", _has_healthcheck(service)
        yield f"{name} restarts", service.get("restart") in ("always", "unless-stopped")
    for name, target in DATA.items():
        mounts = services.get(name, {}).get("volumes", [])
        yield f"{name} keeps its data in a named volume", any(
            _named_volume(mount, target, volumes) for mount in mounts
        )
    postgres = services.get("postgres", {}).get("environment", {})
    yield "postgres takes POSTGRES_PASSWORD", postgres.get("POSTGRES_PASSWORD") == pg_password
    registry = services.get("registry", {}).get("environment", {})
    yield "the registry takes POSTGRES_PASSWORD", (
        registry.get("APICURIO_DATASOURCE_PASSWORD") == pg_password
    )
    kafka = services.get("kafka", {}).get("environment", {})
    for key, value in BROKER.items():
        yield f"the broker has {key}={value}", str(kafka.get(key)) == value


def _has_healthcheck(service):
    """A test that runs: `disable: true` renders as the test ["NONE"]."""
    check = service.get("healthcheck", {})
    test = check.get("test") or []
    return bool(test) and test[0] != "NONE" and not check.get("disable")


def _range_size(published):
    low, _, high = published.partition("-")
    if not (low.isdigit() and high.isdigit()):
        return 0
    return int(high) - int(low) + 1


def _named_volume(mount, target, volumes):
    """Whether a service volume (short "src:dst[:mode]" or long syntax) is a named one at
    `target`."""
    if isinstance(mount, str):
        source, _, rest = mount.partition(":")
        destination = rest.split(":")[0]
    else:
        source, destination = mount.get("source", ""), mount.get("target", "")
    return destination == target and source in volumes


def main():
    rendered, jwt_secret, pg_password = sys.argv[1:4]
    with open(rendered, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    passed = failed = 0
    for promise, kept in promises(config, jwt_secret, pg_password):
        if kept:
            passed += 1
        else:
            failed += 1
            print(f"FAILED: {promise}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
