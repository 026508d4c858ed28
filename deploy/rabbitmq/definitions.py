#!/usr/bin/env python3
"""Maintains deploy/rabbitmq/definitions.json, the broker's users, permissions, topology and
policies that compose.yaml's RabbitMQ imports at every boot (deploy/README.md).

The file in the repository holds only development passwords: each user's is
`<user>-dev-password-change-me`, hashed with a salt derived from the user's name, so the file is
reproducible and `scripts/check-static.sh` can prove no real password hash was ever committed.
Real passwords never enter the repository: `passwords` writes a copy with them hashed (random
salts) for compose to mount instead.

    python3 deploy/rabbitmq/definitions.py passwords .env          # -> definitions.local.json
    python3 deploy/rabbitmq/definitions.py add-state MP            # a state IT team's consumer
    python3 deploy/rabbitmq/definitions.py add-centre DL-N-01      # a call centre's desks and gateway
    python3 deploy/rabbitmq/definitions.py password-variables      # the variables `passwords` reads

Only the Python standard library: operators run it on the host.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DEFINITIONS = os.path.join(HERE, "definitions.json")
DEFAULT_LOCAL = os.path.join(HERE, "definitions.local.json")
VHOST = "/"
HASHING = "rabbit_password_hashing_sha256"
REPORTS_EXCHANGE = "sampark.reports"
CALLS_EXCHANGE = "sampark.calls"
DEAD_LETTER_EXCHANGE = "sampark.dead"
# A code becomes part of queue names, user names and permission regexes: keep it to characters
# that need no escaping in any of them (topic-permission regexes also expand `{...}`).
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
# Passwords go into amqp:// URLs (compose.yaml) unescaped: only characters a URL keeps as they are.
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


def dev_password(user):
    """The development password of `user`, the only kind the committed file may hold."""
    return f"{user}-dev-password-change-me"


def password_variable(user):
    """The variable (in .env) that holds `user`'s real password."""
    return "SAMPARK_RABBITMQ_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper()


def password_hash(password, salt):
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + SHA-256(salt + UTF-8 password)),
    with a 4-byte salt."""
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def dev_hash(user):
    # A fixed salt per user keeps the committed file byte-for-byte reproducible.
    return password_hash(dev_password(user), hashlib.sha256(b"sampark-dev:" + user.encode()).digest()[:4])


def literal(text):
    """`text` as a regex matching only itself (RabbitMQ permissions are PCRE)."""
    return re.sub(r"([.\\^$|?*+()\[\]{}])", r"\\\1", text)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save(definitions, path, mode=None):
    text = json.dumps(definitions, indent=2, ensure_ascii=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode if mode is not None else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def add_unique(items, item, key):
    """Appends `item` unless one with the same `key` values is there; returns whether it did."""
    if any(all(existing.get(k) == item.get(k) for k in key) for existing in items):
        return False
    items.append(item)
    return True


def add_user(definitions, name, tags=()):
    return add_unique(definitions["users"], {
        "name": name, "password_hash": dev_hash(name), "hashing_algorithm": HASHING, "tags": list(tags), "limits": {},
    }, ("name",))


def add_permissions(definitions, user, configure, write, read):
    definitions["permissions"] = [p for p in definitions["permissions"] if p["user"] != user]
    definitions["permissions"].append({"user": user, "vhost": VHOST, "configure": configure, "write": write, "read": read})


def add_topic_permission(definitions, user, exchange, write, read):
    definitions["topic_permissions"] = [p for p in definitions["topic_permissions"]
                                        if not (p["user"] == user and p["exchange"] == exchange)]
    definitions["topic_permissions"].append({"user": user, "vhost": VHOST, "exchange": exchange, "write": write, "read": read})


def add_queue(definitions, name, arguments=None):
    add_unique(definitions["queues"], {
        "name": name, "vhost": VHOST, "durable": True, "auto_delete": False,
        "arguments": arguments or {"x-queue-type": "quorum"},
    }, ("name", "vhost"))


def add_binding(definitions, exchange, queue, routing_key):
    add_unique(definitions["bindings"], {
        "source": exchange, "vhost": VHOST, "destination": queue, "destination_type": "queue",
        "routing_key": routing_key, "arguments": {},
    }, ("source", "destination", "routing_key"))


def add_state(definitions, code):
    """A state IT team's consumer: its queue `state-it.<CODE>.reports` (a plain quorum queue, as
    examples/state-it/consumer.py declares it) bound to its state's daily reports, a dead-letter
    queue and the policy that feeds it, and a user that can publish nothing and can receive
    only its own state's reports, dossiers and escalations."""
    user = f"state-it-{code.lower()}"
    queue = f"state-it.{code}.reports"
    dead = f"{queue}.dead"
    add_user(definitions, user)
    add_queue(definitions, queue)
    add_queue(definitions, dead)
    add_binding(definitions, REPORTS_EXCHANGE, queue, f"report.daily.{code}.#")
    add_binding(definitions, DEAD_LETTER_EXCHANGE, dead, queue)
    # Configure and write on its own queue only: the example consumer re-declares its queue
    # (idempotent) and binds it; it can neither create other queues nor publish anywhere
    # (no exchange matches its write pattern).
    add_permissions(definitions, user,
                    configure=f"^{literal(queue)}$",
                    write=f"^{literal(queue)}$",
                    read=f"^({literal(REPORTS_EXCHANGE)}|{literal(queue)}(\\.dead)?)$")
    # Binding to a topic exchange is checked against the read pattern: its queue can be bound
    # to its own state's routing keys only, never to another state's or the nation's.
    add_topic_permission(definitions, user, REPORTS_EXCHANGE, write="^$",
                         read=f"^(report\\.daily|report\\.dossier|escalation)\\.{literal(code)}\\.")
    # A policy, not queue arguments: the consumer declares the queue with x-queue-type alone,
    # and any other argument would make that declaration fail as inequivalent.
    add_unique(definitions["policies"], {
        "vhost": VHOST, "name": f"state-it-{code}-reports", "pattern": f"^{literal(queue)}$", "apply-to": "queues",
        "definition": {"dead-letter-exchange": DEAD_LETTER_EXCHANGE, "dead-letter-routing-key": queue,
                       "dead-letter-strategy": "at-least-once", "overflow": "reject-publish", "delivery-limit": 10},
        "priority": 10,
    }, ("vhost", "name"))
    return user


def add_centre(definitions, code):
    """A call centre's desks (`centre-<code>`: offers with masked numbers) and its telephony
    gateway (`centre-<code>-gateway`: the full numbers). Both consume their own offer queue and
    publish outcomes and agents' presence; neither can read the other's queue. The offer queues
    are those the dialer-dispatcher declares for the centre (the same arguments)."""
    users = []
    for suffix, queue in (("", f"call.offer.{code}"), ("-gateway", f"call.offer.{code}.gateway")):
        user = f"centre-{code.lower()}{suffix}"
        add_user(definitions, user)
        add_queue(definitions, queue)
        add_binding(definitions, CALLS_EXCHANGE, queue, queue)
        add_permissions(definitions, user, configure="^$", write=f"^{literal(CALLS_EXCHANGE)}$", read=f"^{literal(queue)}$")
        add_topic_permission(definitions, user, CALLS_EXCHANGE, write="^(call\\.outcome|agent\\.presence)$", read="^$")
        users.append(user)
    return users


def read_env_file(path):
    """KEY=VALUE lines as Compose reads them (comments, blank lines, optional quotes)."""
    values = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export "):]
            key, sep, value = line.partition("=")
            if not sep:
                raise SystemExit(f"{path}:{number}: not KEY=VALUE")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def with_passwords(definitions, env):
    missing, weak = [], []
    for user in definitions["users"]:
        variable = password_variable(user["name"])
        password = env.get(variable, "")
        if not password:
            missing.append(variable)
        elif (password == dev_password(user["name"]) or password.startswith("replace-with")
              or len(password) < 16 or not URL_SAFE.match(password)):
            weak.append(variable)
        else:
            user["password_hash"] = password_hash(password, secrets.token_bytes(4))
            user["hashing_algorithm"] = HASHING
    if missing or weak:
        lines = [f"  {v}: not set" for v in missing] + [
            f"  {v}: a placeholder or development password, shorter than 16 characters, or not URL-safe" for v in weak]
        raise SystemExit("definitions.py: no definitions written; fix these variables first:\n" + "\n".join(lines))
    return definitions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--definitions", default=DEFAULT_DEFINITIONS, help="the committed definitions (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("passwords", help="write a copy with every user's real password hashed, from an env file")
    p.add_argument("env_file")
    p.add_argument("--out", default=DEFAULT_LOCAL, help="default: %(default)s (git ignores it; mode 600)")
    p = sub.add_parser("add-state", help="add a state IT team's user, queue, dead-letter queue and policy")
    p.add_argument("code")
    p = sub.add_parser("add-centre", help="add a call centre's desk and gateway users and offer queues")
    p.add_argument("code")
    sub.add_parser("password-variables", help="print the variable each user's password is read from")
    args = parser.parse_args()

    definitions = load(args.definitions)
    if args.command == "passwords":
        save(with_passwords(definitions, read_env_file(args.env_file)), args.out, mode=0o600)
        print(f"wrote {args.out} with {len(definitions['users'])} users' passwords hashed; "
              "point SAMPARK_RABBITMQ_DEFINITIONS at it (deploy/README.md)")
    elif args.command in ("add-state", "add-centre"):
        if not CODE.match(args.code):
            raise SystemExit(f"definitions.py: {args.code!r} is not a code (letters, digits, '-' and '_', at most 40)")
        users = [add_state(definitions, args.code)] if args.command == "add-state" else add_centre(definitions, args.code)
        save(definitions, args.definitions)
        for user in users:
            print(f"{user}: set {password_variable(user)} in .env, then run `passwords` again")
    else:
        for user in definitions["users"]:
            print(f"{password_variable(user['name'])}  ({user['name']})")


if __name__ == "__main__":
    sys.exit(main())
