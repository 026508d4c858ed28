#!/usr/bin/env python3
"""compose.yaml beyond its schema (check-jsonschema checks that), and the files it reads.

    check_compose.py [--self-test]

- every Sampark service runs a program Package.swift builds;
- each of the five workers is one service with a health check, deploy.replicas and a stop
  grace period longer than SAMPARK_SHUTDOWN_TIMEOUT, and connects as its own RabbitMQ user,
  one that deploy/rabbitmq/definitions.json has, with that user's development password as the
  default and its SAMPARK_RABBITMQ_PASSWORD_* variable (deploy/credentials.env.example) to override it;
- every published port is on 127.0.0.1;
- every file compose mounts or reads exists, and the monitoring services are in their profile;
- every variable of deploy/sampark.env.example is one the Swift sources read, and none is a
  secret; every value of deploy/credentials.env.example is a placeholder; git ignores the
  files that hold real ones;
- PostgreSQL accepts every `-c` setting compose.yaml gives it (`postgres -C`, the same major
  version as the image);
- compose.tls.yaml (TLS on both servers) names only services of compose.yaml, gives every one
  that connects its two URLs with TLS added to compose.yaml's (amqps on 5671 with cacertfile,
  sslmode=verify-full with sslrootcert) and the TLS folder, turns PostgreSQL's ssl on over
  compose.yaml's own command, and deploy/tls/make-certs.sh makes certificates for the names
  the services use.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import common

WORKERS = ["ingest-worker", "list-builder", "dialer-dispatcher", "feedback-aggregator", "reporter"]
POSTGRES = "/usr/lib/postgresql/15/bin/postgres"
SECRET_FILES = [".env", "deploy/sampark.env", "deploy/rabbitmq/definitions.local.json"]
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


def seconds(text):
    m = re.fullmatch(r"(\d+)(s|m)?", str(text))
    if not m:
        return None
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


def env_file(file):
    values = {}
    for line in open(file, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def default_of(text):
    """`text` with each ${VAR:-default} replaced by its default (what compose uses without .env)."""
    return VARIABLE.sub(lambda m: m.group(2) or "", text)


def check(inputs):
    compose, products, definitions, tool = inputs["compose"], inputs["products"], inputs["definitions"], inputs["tool"]
    settings, credentials, swift = inputs["settings"], inputs["credentials"], inputs["swift"]
    errors = []
    services = compose.get("services", {})
    users = {u["name"] for u in definitions["users"]}
    seen_workers = []
    shutdown = seconds(settings.get("SAMPARK_SHUTDOWN_TIMEOUT") or "30")

    for name, service in services.items():
        command = service.get("command") or []
        sampark = service.get("image") == "sampark:latest"
        if sampark:
            if command[:1] == ["sh"] and command[1:2] in (["-c"], ["-ec"]):
                # A script: every command of it (each line, each `&&` part, past any VAR=value).
                programs = []
                for part in re.split(r"\n|&&", command[2]):
                    words = [w for w in part.split() if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)]
                    if words:
                        programs.append(words[0])
            else:
                programs = [command[0] if command else None]
            for program in programs:
                if program not in products:
                    errors.append(f"{name}: runs {program!r}, which Package.swift does not build")
            url = (service.get("environment") or {}).get("SAMPARK_AMQP_URL")
            if url is None:
                errors.append(f"{name}: no SAMPARK_AMQP_URL (each Sampark service connects as a role's own user)")
            else:
                m = re.match(r"amqps?://([^:]+):\$\{([A-Z0-9_]+):-([^}]*)\}@rabbitmq:5672/%2f$", url)
                if not m:
                    errors.append(f"{name}: SAMPARK_AMQP_URL must be amqp://<user>:${{<variable>:-<development password>}}@rabbitmq:5672/%2f")
                else:
                    user, variable, default = m.groups()
                    if user not in users:
                        errors.append(f"{name}: connects as {user}, who is not a user in deploy/rabbitmq/definitions.json")
                    if variable != tool.password_variable(user):
                        errors.append(f"{name}: {user}'s password variable is {tool.password_variable(user)}, not {variable}")
                    if default != tool.dev_password(user):
                        errors.append(f"{name}: the default password is not {user}'s development password")
                    if program in WORKERS and user != program:
                        errors.append(f"{name}: the {program} must connect as the user {program}, not {user}")
            if not service.get("env_file"):
                errors.append(f"{name}: no env_file (deploy/sampark.env.example)")
        if command and command[0] in WORKERS and sampark:
            seen_workers.append(command[0])
            health = service.get("healthcheck") or {}
            test = " ".join(health.get("test") or [])
            if "http://127.0.0.1:8080/health/" not in test:
                errors.append(f"{name}: no health check on http://127.0.0.1:8080/health/...")
            replicas = (service.get("deploy") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 1:
                errors.append(f"{name}: deploy.replicas must be a whole number of at least 1")
            grace = seconds(service.get("stop_grace_period", "10s"))
            if grace is None or shutdown is None or grace <= shutdown:
                errors.append(f"{name}: stop_grace_period must exceed SAMPARK_SHUTDOWN_TIMEOUT ({shutdown} s), or Docker kills a draining worker")
            if service.get("ports"):
                errors.append(f"{name}: a worker publishes no host port (replicas would collide; Prometheus scrapes inside the network)")
        for port in service.get("ports") or []:
            host_ip = port.get("host_ip") if isinstance(port, dict) else None
            if isinstance(port, dict) and host_ip != "127.0.0.1":
                errors.append(f"{name}: port {port} is not published on 127.0.0.1")
            if not isinstance(port, dict) and not str(port).startswith("127.0.0.1:"):
                errors.append(f"{name}: port {port} is not published on 127.0.0.1")
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if isinstance(volume, str) and volume.startswith("${"):
                source = default_of(volume.split(":/")[0])
            if source.startswith("./") or source.startswith("/"):
                if not os.path.exists(common.path(source)):
                    errors.append(f"{name}: mounts {source}, which does not exist")
        for entry in service.get("env_file") or []:
            file, required = (entry, True) if isinstance(entry, str) else (entry.get("path"), entry.get("required", True))
            if required and not os.path.exists(common.path(file)):
                errors.append(f"{name}: env_file {file} does not exist")
    for worker in WORKERS:
        if seen_workers.count(worker) != 1:
            errors.append(f"the {worker} must run in exactly one service (scale it with deploy.replicas), not {seen_workers.count(worker)}")
    for name in ("prometheus", "grafana"):
        if "monitoring" not in (services.get(name, {}).get("profiles") or []):
            errors.append(f"{name}: must be a service of the monitoring profile")

    # The env files.
    for key, value in settings.items():
        if not key.startswith("SAMPARK_"):
            errors.append(f"deploy/sampark.env.example: {key} is not a SAMPARK_ setting")
        elif f'"{key}"' not in swift:
            errors.append(f"deploy/sampark.env.example: no Swift source reads {key} (a typo?)")
        if "PASSWORD" in key or "URL" in key:
            errors.append(f"deploy/sampark.env.example: {key} is a secret or holds one: it belongs in .env (every container reads this file)")
    for key, value in credentials.items():
        if key == "SAMPARK_RABBITMQ_DEFINITIONS":
            continue
        if not value.startswith("replace-with"):
            errors.append(f"deploy/credentials.env.example: {key} must be a placeholder (replace-with-...), never a password")
    for user in users:
        if tool.password_variable(user) not in credentials:
            errors.append(f"deploy/credentials.env.example: no {tool.password_variable(user)} for the user {user}")
    text = inputs["compose_text"]
    for variable in set(VARIABLE.findall(text)):
        if variable[0] not in credentials:
            errors.append(f"compose.yaml reads ${{{variable[0]}}}, which deploy/credentials.env.example does not document")
    for file in SECRET_FILES:
        if not inputs["ignored"](file):
            errors.append(f"git does not ignore {file}, which holds real credentials or settings")

    # PostgreSQL's settings.
    command = services.get("postgres", {}).get("command") or []
    settings_args = command[1:]
    errors += inputs["postgres_check"](settings_args)
    errors += check_tls(compose, inputs["tls"])
    return errors


TLS_FOLDER = "/etc/sampark/tls"


def check_tls(compose, tls):
    """compose.tls.yaml against compose.yaml: the same services, each connection with TLS."""
    errors = []
    services, overlay = compose.get("services", {}), tls.get("services", {})
    default_pg = (compose.get("x-sampark", {}).get("environment") or {}).get("SAMPARK_POSTGRES_URL")
    for name in overlay:
        if name not in services:
            errors.append(f"compose.tls.yaml: {name} is not a service of compose.yaml")
    for name, service in services.items():
        env = service.get("environment") or {}
        if "SAMPARK_AMQP_URL" not in env:
            continue
        over = overlay.get(name) or {}
        over_env = over.get("environment") or {}
        amqp = env["SAMPARK_AMQP_URL"].replace("amqp://", "amqps://", 1).replace("@rabbitmq:5672/", "@rabbitmq:5671/")
        if over_env.get("SAMPARK_AMQP_URL") != amqp + f"?cacertfile={TLS_FOLDER}/ca.pem":
            errors.append(f"compose.tls.yaml: {name}: SAMPARK_AMQP_URL must be compose.yaml's as amqps on 5671 with ?cacertfile={TLS_FOLDER}/ca.pem")
        pg = env.get("SAMPARK_POSTGRES_URL", default_pg)
        if over_env.get("SAMPARK_POSTGRES_URL") != f"{pg}?sslmode=verify-full&sslrootcert={TLS_FOLDER}/ca.pem":
            errors.append(f"compose.tls.yaml: {name}: SAMPARK_POSTGRES_URL must be compose.yaml's with ?sslmode=verify-full&sslrootcert={TLS_FOLDER}/ca.pem")
        if not any(str(v).endswith(f":{TLS_FOLDER}:ro") for v in over.get("volumes") or []):
            errors.append(f"compose.tls.yaml: {name}: does not mount the TLS folder at {TLS_FOLDER}")
    base_command = services.get("postgres", {}).get("command") or []
    tls_command = (overlay.get("postgres") or {}).get("command") or []
    if tls_command[:len(base_command)] != base_command or "ssl=on" not in tls_command[len(base_command):]:
        errors.append("compose.tls.yaml: postgres: the command must be compose.yaml's followed by -c ssl=on and the certificate files")
    for name in ("rabbitmq", "postgres"):
        for volume in (overlay.get(name) or {}).get("volumes") or []:
            source = default_of(volume.split(":/")[0]) if volume.startswith("${") else volume.split(":")[0]
            if (source.startswith("./") or source.startswith("/")) and not os.path.exists(common.path(source)):
                errors.append(f"compose.tls.yaml: {name}: mounts {source}, which does not exist")
    if not any(str(p).startswith("127.0.0.1:5671:") for p in (overlay.get("rabbitmq") or {}).get("ports") or []):
        errors.append("compose.tls.yaml: rabbitmq: AMQPS (5671) must be published on 127.0.0.1")
    return errors


def certificates_made():
    """deploy/tls/make-certs.sh makes a CA and a server certificate naming rabbitmq and postgres."""
    if not shutil.which("openssl"):
        return ["openssl is not installed (scripts/install-deps.sh installs it)"]
    directory = tempfile.mkdtemp(prefix="sampark-tls-")
    try:
        made = subprocess.run([common.path("deploy", "tls", "make-certs.sh"), directory], capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            return [f"deploy/tls/make-certs.sh failed: {made.stderr.strip()[-300:]}"]
        names = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", os.path.join(directory, "server.pem")],
                               capture_output=True, text=True).stdout
        return [f"deploy/tls/make-certs.sh: the server certificate does not name {n}" for n in ("DNS:rabbitmq", "DNS:postgres") if n not in names]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def postgres_accepts(args):
    """Runs `postgres -C` with the settings on an empty data directory: PostgreSQL parses and
    checks every -c (name, type, range, enum) and refuses any it does not accept."""
    if not args or any(a != "-c" for a in args[0::2]):
        return [f"postgres: the command must be `postgres` followed by -c name=value pairs, not {args!r}"]
    if not os.access(POSTGRES, os.X_OK):
        return [f"postgres: {POSTGRES} is not installed (scripts/install-deps.sh installs it)"]
    run_as = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root, even to print a setting.
        account = "sampark-pg" if subprocess.run(["id", "sampark-pg"], capture_output=True).returncode == 0 else "postgres"
        run_as = ["runuser", "-u", account, "--"]
    directory = tempfile.mkdtemp(prefix="sampark-pgconf-")
    try:
        open(os.path.join(directory, "postgresql.conf"), "w").close()
        if run_as:
            shutil.chown(directory, user=run_as[2])
            os.chmod(directory, 0o700)
        result = subprocess.run(run_as + [POSTGRES, "-D", directory] + args + ["-C", "max_connections"],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            lines = [l for l in result.stderr.splitlines() if "FATAL" in l or "HINT" in l] or result.stderr.splitlines()[-2:]
            return ["postgres refuses compose.yaml's settings: " + " / ".join(lines)]
        return []
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def git_ignores(file):
    return subprocess.run(["git", "-C", common.ROOT, "check-ignore", "-q", "--no-index", file]).returncode == 0


def inputs():
    swift = ""
    for f in glob.glob(common.path("Sources", "**", "*.swift"), recursive=True):
        swift += open(f, encoding="utf-8").read()
    compose_text = open(common.path("compose.yaml"), encoding="utf-8").read()
    return {
        "compose": common.load_yaml(common.path("compose.yaml")),
        "compose_text": compose_text,
        "products": set(re.findall(r'\.executable\(name: "([^"]+)"', open(common.path("Package.swift")).read())),
        "definitions": common.load_json(common.path("deploy", "rabbitmq", "definitions.json")),
        "tool": common.definitions_tool(),
        "settings": env_file(common.path("deploy", "sampark.env.example")),
        "credentials": env_file(common.path("deploy", "credentials.env.example")),
        "swift": swift,
        "postgres_check": postgres_accepts,
        "ignored": git_ignores,
        "tls": common.load_yaml(common.path("compose.tls.yaml")),
    }


def broken_copies(data):
    def with_change(what, change):
        copy = {**data, "compose": common.deep(data["compose"]), "settings": dict(data["settings"]),
                "credentials": dict(data["credentials"]), "tls": common.deep(data["tls"])}
        change(copy)
        return what, copy
    def svc(d, name):
        return d["compose"]["services"][name]
    return [
        with_change("a port on every interface", lambda d: svc(d, "postgres").update({"ports": ["5432:5432"]})),
        with_change("a worker without a health check", lambda d: svc(d, "reporter").pop("healthcheck")),
        with_change("a worker without replicas", lambda d: svc(d, "list-builder").pop("deploy")),
        with_change("a worker connecting as another role", lambda d: svc(d, "reporter")["environment"].update(
            {"SAMPARK_AMQP_URL": svc(d, "ingest-worker")["environment"]["SAMPARK_AMQP_URL"]})),
        with_change("a program the package does not build", lambda d: svc(d, "reporter").update({"command": ["reporterd"]})),
        with_change("a mounted file that does not exist", lambda d: svc(d, "rabbitmq")["volumes"].append("./deploy/rabbitmq/missing.conf:/etc/x:ro")),
        with_change("a worker stopped before it drains", lambda d: svc(d, "feedback-aggregator").update({"stop_grace_period": "10s"})),
        with_change("a misspelt setting", lambda d: d["settings"].update({"SAMPARK_PREFECH": "50"})),
        with_change("a password in the shared settings", lambda d: d["settings"].update({"SAMPARK_POSTGRES_PASSWORD": "x"})),
        with_change("a real-looking password in the credentials example", lambda d: d["credentials"].update({"SAMPARK_POSTGRES_PASSWORD": "hunter22hunter22"})),
        with_change("a PostgreSQL setting it refuses", lambda d: svc(d, "postgres")["command"].extend(["-c", "wal_compression=sometimes"])),
        with_change("grafana outside the monitoring profile", lambda d: svc(d, "grafana").pop("profiles")),
        with_change("a worker left on plain AMQP under TLS", lambda d: d["tls"]["services"]["reporter"]["environment"].update(
            {"SAMPARK_AMQP_URL": svc(d, "reporter")["environment"]["SAMPARK_AMQP_URL"]})),
        with_change("a worker that does not verify the database's name under TLS", lambda d: d["tls"]["services"]["dialer-dispatcher"]["environment"].update(
            {"SAMPARK_POSTGRES_URL": d["tls"]["services"]["dialer-dispatcher"]["environment"]["SAMPARK_POSTGRES_URL"].replace("verify-full", "require")})),
        with_change("a service without its TLS overrides", lambda d: d["tls"]["services"].pop("cli")),
        with_change("PostgreSQL's TLS command drifting from compose.yaml's", lambda d: svc(d, "postgres")["command"].extend(["-c", "work_mem=64MB"])),
    ]


def main():
    data = inputs()
    if "--self-test" in sys.argv[1:]:
        common.self_test("check_compose", check, broken_copies(data))
    report = common.Report("compose.yaml")
    for e in check(data) + certificates_made():
        report.fail(e)
    report.ok("every Sampark service runs a product of Package.swift as its own RabbitMQ user; the five workers have "
              "health checks, replicas and drain time; ports on 127.0.0.1 only; mounted files exist; env files agree "
              "with the sources and hold no secret; PostgreSQL accepts its settings; compose.tls.yaml puts every "
              "connection on TLS with verified certificates, and make-certs.sh makes certificates for its names")
    report.done()


if __name__ == "__main__":
    main()
