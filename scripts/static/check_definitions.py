#!/usr/bin/env python3
"""deploy/rabbitmq/definitions.json against the topology the code declares.

    check_definitions.py TOPOLOGY.json            (TOPOLOGY.json: `sampark topology --describe`)
    check_definitions.py TOPOLOGY.json --self-test

- every exchange, queue (with exactly its arguments) and binding the code declares is in the
  definitions, and nothing else but state IT queues and centres' offer queues, each as
  `definitions.py add-state` / `add-centre` writes them;
- each worker's user may apply its own start's declarations (Topology.declare of its queue:
  configure the exchanges and its queues, bind with write on the queue and read on the exchange,
  and the topic-permission read pattern on each binding key), and no role but the operator
  may configure or read everything;
- the policies each match exactly the queues they are for, and no queue two of them;
- the committed file holds development passwords only (each hash is the documented
  `<user>-dev-password-change-me`): a real password hash committed by mistake fails here.
"""
import sys

import common

REQUIRED_KEYS = ["users", "vhosts", "permissions", "topic_permissions", "policies", "queues", "exchanges", "bindings"]
WORKERS = {"ingest-worker": "ingest-worker.batches", "list-builder": "list-builder.requests",
           "dialer-dispatcher": "dialer-dispatcher.events", "feedback-aggregator": "feedback-aggregator.outcomes",
           "reporter": "reporter.requests"}
SAMPLE_CENTRE = "ZZ-01"


def permissions_of(definitions, user):
    for p in definitions["permissions"]:
        if p["user"] == user and p["vhost"] == "/":
            return p
    return None


def topic_permission(definitions, user, exchange):
    for p in definitions["topic_permissions"]:
        if p["user"] == user and p["exchange"] == exchange and p["vhost"] == "/":
            return p
    return None


def may(definitions, user, kind, resource, errors, why):
    p = permissions_of(definitions, user)
    if p is None:
        errors.append(f"{user}: no permissions on vhost / ({why})")
        return False
    if not common.permitted(p[kind], resource):
        errors.append(f"{user}: {kind} pattern {p[kind]!r} refuses {resource!r}, which it needs to {why}")
        return False
    return True


def may_topic(definitions, user, kind, exchange, key, exchanges, errors, why):
    if exchanges.get(exchange, {}).get("type") != "topic":
        return True   # topic permissions apply to topic exchanges only
    p = topic_permission(definitions, user, exchange)
    if p is not None and not common.permitted(p[kind], key):
        errors.append(f"{user}: topic {kind} pattern {p[kind]!r} on {exchange} refuses {key!r}, which it needs to {why}")
        return False
    return True


def check(inputs):
    definitions, topo, tool = inputs["definitions"], inputs["topology"], inputs["tool"]
    errors = []
    for key in REQUIRED_KEYS:
        if not isinstance(definitions.get(key), list):
            errors.append(f"no list {key!r}")
    if errors:
        return errors
    if [v["name"] for v in definitions["vhosts"]] != ["/"]:
        errors.append("the definitions must declare the one vhost / (the URLs of compose.yaml and docs/consumers.md use it)")

    # Users: development hashes only, the SHA-256 scheme.
    for user in definitions["users"]:
        if user.get("hashing_algorithm") != tool.HASHING:
            errors.append(f"user {user['name']}: hashing_algorithm must be {tool.HASHING}")
        if user.get("password_hash") != tool.dev_hash(user["name"]):
            errors.append(f"user {user['name']}: the committed password hash is not the development password's "
                          "(real passwords belong in definitions.local.json, written by `definitions.py passwords`)")
    users = {u["name"] for u in definitions["users"]}
    for p in definitions["permissions"] + definitions["topic_permissions"]:
        if p["user"] not in users:
            errors.append(f"permissions for {p['user']}, who is not a user")
    for u in users:
        if permissions_of(definitions, u) is None:
            errors.append(f"user {u} has no permissions on vhost /")

    # Exchanges exactly as the code declares them.
    declared = {e["name"]: e for e in definitions["exchanges"]}
    for name, e in topo.exchanges.items():
        d = declared.get(name)
        if d is None:
            errors.append(f"exchange {name} is declared by the code but missing")
            continue
        for field, code_field in (("type", "type"), ("durable", "durable"), ("auto_delete", "auto_delete"),
                                  ("internal", "internal"), ("arguments", "arguments")):
            if d.get(field) != e[code_field]:
                errors.append(f"exchange {name}: {field} is {d.get(field)!r}, the code declares {e[code_field]!r}")
    for name in declared:
        if name not in topo.exchanges:
            errors.append(f"exchange {name} is not one the code declares")

    # Queues: the code's, with exactly their arguments (a worker's declaration of an existing
    # queue with other arguments fails with PRECONDITION_FAILED and the worker does not start).
    queues = {q["name"]: q for q in definitions["queues"]}
    for name, q in topo.queues.items():
        d = queues.get(name)
        if d is None:
            errors.append(f"queue {name} is declared by the code but missing")
            continue
        if d.get("arguments") != q["arguments"]:
            errors.append(f"queue {name}: arguments {d.get('arguments')!r}, the code declares {q['arguments']!r}")
        if d.get("durable") != q["durable"] or d.get("auto_delete") != q["auto_delete"]:
            errors.append(f"queue {name}: durable/auto_delete differ from the code's")
    bindings = {(b["destination"], b["source"], b["routing_key"]) for b in definitions["bindings"] if b["destination_type"] == "queue"}
    for b in topo.bindings:
        if b not in bindings:
            errors.append(f"binding {b[1]} -> {b[0]} ({b[2]}) is declared by the code but missing")

    # Anything else is a state's or a centre's, exactly as the tool writes it.
    states, centres = set(), set()
    for name in queues:
        if name in topo.queues:
            continue
        if name.startswith("state-it.") and (name.endswith(".reports") or name.endswith(".reports.dead")):
            states.add(name.split(".")[1])
        elif name.startswith("call.offer."):
            centres.add(name[len("call.offer."):].removesuffix(".gateway"))
        else:
            errors.append(f"queue {name} is neither the code's, a state IT team's nor a centre's")
    for b in bindings:
        if b not in topo.bindings and b[0] not in queues:
            errors.append(f"binding to {b[0]}, which is not a queue of the definitions")
    for code in sorted(states):
        again = common.deep(definitions)
        tool.add_state(again, code)
        if again != definitions:
            errors.append(f"state {code}: its user, queues, bindings, permissions or policy differ from what "
                          f"`definitions.py add-state {code}` writes")
    for code in sorted(centres):
        for queue in (f"call.offer.{code}", f"call.offer.{code}.gateway"):
            template = queue.replace(code, "{centre}", 1)
            if queues.get(queue, {}).get("arguments") != topo.offer_queues[template]["arguments"]:
                errors.append(f"queue {queue}: arguments differ from those the dialer-dispatcher declares")
        if f"centre-{code.lower()}" in users:
            again = common.deep(definitions)
            tool.add_centre(again, code)
            if again != definitions:
                errors.append(f"centre {code}: differs from what `definitions.py add-centre {code}` writes")

    # Each worker's user may apply its own start's declarations.
    for user, queue in WORKERS.items():
        if user not in users:
            errors.append(f"no user {user}")
            continue
        steps = topo.plan_for(queue)
        if user == "dialer-dispatcher":
            # OfferQueues: every centre's desks' and gateway's queue.
            steps += [common.substitute(s, {"centre": SAMPLE_CENTRE}) for s in topo.dump["offer_queue_steps"]]
        for step in steps:
            if "exchange" in step:
                may(definitions, user, "configure", step["exchange"]["name"], errors, "declare the exchange")
            elif "queue" in step:
                may(definitions, user, "configure", step["queue"]["name"], errors, "declare the queue")
            else:
                b = step["binding"]
                why = f"bind {b['queue']} to {b['exchange']} with {b['routing_key']}"
                may(definitions, user, "write", b["queue"], errors, why)
                may(definitions, user, "read", b["exchange"], errors, why)
                may_topic(definitions, user, "read", b["exchange"], b["routing_key"], topo.exchanges, errors, why)
        may(definitions, user, "read", queue, errors, "consume its work queue")

    # Least privilege: only the operator holds everything.
    for p in definitions["permissions"]:
        if p["user"] == "operator":
            continue
        for kind in ("configure", "write", "read"):
            if common.permitted(p[kind], "some.queue.nobody.declared"):
                errors.append(f"{p['user']}: its {kind} pattern {p[kind]!r} grants any name")
        if common.permitted(p["configure"], "amq.default") or common.permitted(p["write"], "sampark.calls.x"):
            errors.append(f"{p['user']}: a pattern grants more than the names it lists")

    # Policies: one per queue at most, each on exactly the queues it is for.
    names = list(queues)
    for name in names:
        matching = [p["name"] for p in definitions["policies"] if common.permitted(p["pattern"], name)]
        if len(matching) > 1:
            errors.append(f"queue {name} matches several policies ({', '.join(matching)}): RabbitMQ applies only one")
    expected = {
        "sampark-work-queues": set(topo.work_queues),
        "sampark-delay-queues": {d for wq in topo.work_queues.values() for d in wq["delay_queues"]},
    }
    expected.update({f"state-it-{code}-reports": {f"state-it.{code}.reports"} for code in states})
    policies = {p["name"]: p for p in definitions["policies"]}
    for name, targets in expected.items():
        p = policies.get(name)
        if p is None:
            errors.append(f"policy {name} is missing")
            continue
        got = {n for n in names if common.permitted(p["pattern"], n)}
        if got != targets:
            errors.append(f"policy {name} applies to {sorted(got)}, not to {sorted(targets)}")
        if p.get("apply-to") != "queues":
            errors.append(f"policy {name}: apply-to must be queues")
    for name in policies:
        if name not in expected:
            errors.append(f"policy {name} is not one this check knows: add it to check_definitions.py with the queues it is for")
    work = policies.get("sampark-work-queues", {}).get("definition", {})
    # At-least-once dead-lettering needs reject-publish; without it the broker falls back to
    # at-most-once and a message over its delivery limit may be lost on its way to <queue>.dead.
    if work.get("dead-letter-strategy") != "at-least-once" or work.get("overflow") != "reject-publish":
        errors.append("policy sampark-work-queues must set dead-letter-strategy at-least-once and overflow reject-publish")
    delay = policies.get("sampark-delay-queues", {}).get("definition", {})
    if not isinstance(delay.get("max-length-bytes"), int):
        errors.append("policy sampark-delay-queues must bound the delay queues (max-length-bytes): their reject-publish needs a limit")
    return errors


def inputs(dump_file):
    return {"definitions": common.load_json(common.path("deploy", "rabbitmq", "definitions.json")),
            "topology": common.topology(dump_file), "tool": common.definitions_tool()}


def broken_copies(data):
    def with_change(what, change):
        copy = {**data, "definitions": common.deep(data["definitions"])}
        change(copy["definitions"])
        return what, copy
    def queue(d, name):
        return next(q for q in d["queues"] if q["name"] == name)
    def perm(d, user):
        return next(p for p in d["permissions"] if p["user"] == user)
    return [
        with_change("a work queue's delivery limit changed", lambda d: queue(d, "reporter.requests")["arguments"].update({"x-delivery-limit": 5})),
        with_change("a delay queue's TTL changed", lambda d: queue(d, "ingest-worker.batches.delay.2")["arguments"].update({"x-message-ttl": 6000})),
        with_change("a dead-letter queue removed", lambda d: d["queues"].remove(queue(d, "list-builder.requests.dead"))),
        with_change("a binding removed", lambda d: d["bindings"].pop(next(i for i, b in enumerate(d["bindings"]) if b["routing_key"] == "turnout.mark"))),
        with_change("an exchange's type changed", lambda d: next(e for e in d["exchanges"] if e["name"] == "sampark.dead").update({"type": "topic"})),
        with_change("a real password hash committed", lambda d: d["users"][1].update({"password_hash": "AAAAAAAA"})),
        with_change("a worker that may not declare its delay queues",
                    lambda d: perm(d, "reporter").update({"configure": perm(d, "reporter")["configure"].replace(r"|\.delay\.[0-9]+", "")})),
        with_change("a worker that may not bind its dead-letter queue",
                    lambda d: perm(d, "list-builder").update({"read": r"^(sampark\.lists|list-builder\.requests)$"})),
        with_change("a worker's topic read refusing its binding key",
                    lambda d: next(p for p in d["topic_permissions"] if p["user"] == "dialer-dispatcher" and p["exchange"] == "sampark.calls")
                    .update({"read": r"^call\.outcome$"})),
        with_change("a role granted everything", lambda d: perm(d, "central-team").update({"read": ".*"})),
        with_change("a state's policy pattern widened", lambda d: next(p for p in d["policies"] if p["name"].startswith("state-it-"))
                    .update({"pattern": r"^state-it\..*$"})),
        with_change("an unknown queue", lambda d: d["queues"].append({"name": "scratch", "vhost": "/", "durable": True, "auto_delete": False,
                                                                      "arguments": {"x-queue-type": "quorum"}})),
        with_change("work queues' dead-lettering at most once", lambda d: next(p for p in d["policies"] if p["name"] == "sampark-work-queues")
                    ["definition"].pop("dead-letter-strategy")),
    ]


def main():
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    data = inputs(args[0])
    if "--self-test" in args:
        common.self_test("check_definitions", check, broken_copies(data))
    report = common.Report("definitions.json")
    for e in check(data):
        report.fail(e)
    d = data["definitions"]
    report.ok(f"{len(d['exchanges'])} exchanges, {len(d['queues'])} queues and {len(d['bindings'])} bindings agree with "
              f"`sampark topology --describe`; {len(d['users'])} users may do what their role declares; "
              f"{len(d['policies'])} policies on exactly their queues; development passwords only")
    report.done()


if __name__ == "__main__":
    main()
