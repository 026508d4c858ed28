#!/usr/bin/env python3
"""schemas/asyncapi.yaml against the message schemas, the topology the code declares and the
broker's users. (Its validity as AsyncAPI 3.0.0 is checked by check-jsonschema against
schemas/vendor/asyncapi-3.0.0.schema.json; this checks what it says.)

    check_asyncapi.py TOPOLOGY.json            (TOPOLOGY.json: `sampark topology --describe`)
    check_asyncapi.py TOPOLOGY.json --self-test

- messages: one per schemas/messages/<type>.json, named and typed <type>, its payload that file;
  every message used by a channel, every operation's and reply's messages its channel's;
- exchanges: those of the code, with their types;
- queues: every queue the code declares (work, dead-letter, delay, unroutable, the per-centre
  offer queues) is a queue channel with exactly its arguments and bindings, and no queue
  channel names a queue the code does not declare (but the state IT teams', which ops declare:
  those are checked against deploy/rabbitmq/definitions.json);
- routing: each message a queue channel holds reaches it through one of its bindings from a
  routing-key channel that carries that message, and every binding is fed by one;
- users: each operation's users (x-sampark-users) may perform it under
  deploy/rabbitmq/definitions.json: write on the exchange (amq.default for the default one) and
  its topic-permission write pattern on the routing key to send, read on the queue to receive.
"""
import glob
import os
import sys

import common

NON_SCHEMA_MESSAGES = {"dead-letter", "unroutable", "retry"}
SAMPLE = "XX"


def resolve(document, ref):
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def queue_instances(channel):
    """(queue name, arguments, bindings) for every instance of a queue channel."""
    amqp = channel["bindings"]["amqp"]
    out = []
    for bound, address in common.expand(channel["address"], channel.get("parameters"), SAMPLE):
        arguments = common.substitute(dict(amqp.get("x-arguments", {})), bound)
        ttls = amqp.get("x-message-ttl-by-retry")
        if ttls is not None:
            arguments["x-message-ttl"] = ttls[int(bound["n"]) - 1]
        bindings = [(address, b["exchange"], common.substitute(b["routingKey"], bound)) for b in amqp.get("x-bindings", [])]
        out.append((address, arguments, bindings))
    return out


def users_for(pattern, definitions):
    """The users an x-sampark-users entry stands for: `centre-*` is every centre's desk user,
    checked as the sample centre's that `with_samples` adds (the code XX)."""
    name = pattern.replace("*", SAMPLE.lower())
    return [u["name"] for u in definitions["users"] if u["name"] == name]


def check(inputs):
    doc, topo, schemas, definitions, tool = (inputs["asyncapi"], inputs["topology"], inputs["schemas"],
                                            inputs["definitions"], inputs["tool"])
    errors = []
    messages = doc.get("components", {}).get("messages", {})
    channels = doc.get("channels", {})
    operations = doc.get("operations", {})

    # Messages and their schema files.
    for name, message in messages.items():
        amqp_type = message.get("bindings", {}).get("amqp", {}).get("messageType")
        if name in NON_SCHEMA_MESSAGES:
            continue
        if name not in schemas:
            errors.append(f"message {name}: no schemas/messages/{name}.json")
            continue
        ref = message.get("payload", {}).get("$ref")
        if ref != f"./messages/{name}.json":
            errors.append(f"message {name}: payload must be $ref ./messages/{name}.json, not {ref!r}")
        if message.get("name") != name or amqp_type != name:
            errors.append(f"message {name}: name and AMQP messageType must both be {name}")
        if schemas[name].get("title") != name:
            errors.append(f"schemas/messages/{name}.json: its title is not {name}")
    for name in schemas:
        if name not in messages:
            errors.append(f"schemas/messages/{name}.json has no message in asyncapi.yaml")
    used = set()
    channel_messages = {}
    for cid, channel in channels.items():
        channel_messages[cid] = {}
        for key, m in (channel.get("messages") or {}).items():
            try:
                target = resolve(doc, m["$ref"])
            except KeyError:
                errors.append(f"channel {cid}: message {key} refers to {m.get('$ref')!r}, which does not exist")
                continue
            name = target.get("name")
            channel_messages[cid][key] = name
            used.add(name)
    for name in messages:
        if name not in used:
            errors.append(f"message {name} is in no channel")

    # Exchanges.
    exchanges = {}
    for cid, channel in channels.items():
        amqp = channel.get("bindings", {}).get("amqp", {})
        if amqp.get("is") == "routingKey":
            e = amqp["exchange"]
            exchanges.setdefault(e["name"], e)
            if e["name"] and e["name"] not in topo.exchanges:
                errors.append(f"channel {cid}: exchange {e['name']} is not one the code declares")
            elif e["name"] and e.get("type") != topo.exchanges[e["name"]]["type"]:
                errors.append(f"channel {cid}: exchange {e['name']} is {e.get('type')}, the code declares {topo.exchanges[e['name']]['type']}")
            elif not e["name"] and e.get("type") != "default":
                errors.append(f"channel {cid}: the default exchange's type is `default`")
    for name in topo.exchanges:
        if name not in exchanges:
            errors.append(f"exchange {name} (declared by the code) is in no channel")

    # Queues.
    code_queues = {**topo.queues, **topo.offer_queues}
    code_bindings = {}
    for queue, exchange, key in topo.bindings + topo.offer_bindings:
        code_bindings.setdefault(queue, set()).add((exchange, key))
    documented = {}
    state_queues = {q["name"]: q for q in definitions["queues"] if q["name"].startswith("state-it.")}
    for cid, channel in channels.items():
        amqp = channel.get("bindings", {}).get("amqp", {})
        if amqp.get("is") != "queue":
            continue
        if amqp["queue"]["name"] != channel["address"]:
            errors.append(f"channel {cid}: the AMQP queue name must be the channel's address")
        templated = "{centre}" in channel["address"]
        for name, arguments, bindings in (queue_instances(channel) if not templated else
                                          [(channel["address"], amqp.get("x-arguments", {}),
                                            [(channel["address"], b["exchange"], b["routingKey"]) for b in amqp.get("x-bindings", [])])]):
            documented[name] = cid
            if name.startswith("state-it."):
                example = next(iter(state_queues.values()), None)
                if example is None or arguments != example["arguments"]:
                    errors.append(f"channel {cid}: a state's queue has other arguments than deploy/rabbitmq/definitions.json gives them")
                continue
            if name not in code_queues:
                errors.append(f"channel {cid}: queue {name} is not one the code declares")
                continue
            if arguments != code_queues[name]["arguments"]:
                errors.append(f"queue {name}: x-arguments {arguments!r}, the code declares {code_queues[name]['arguments']!r}")
            got = {(e, k) for _, e, k in bindings}
            if got != code_bindings.get(name, set()):
                errors.append(f"queue {name}: x-bindings {sorted(got)}, the code binds {sorted(code_bindings.get(name, set()))}")
    for name in code_queues:
        if name not in documented:
            errors.append(f"queue {name} (declared by the code) is in no channel")

    # Routing: a queue channel's messages arrive through its bindings.
    routes = []   # (exchange, routing key instance, message name)
    for cid, channel in channels.items():
        amqp = channel.get("bindings", {}).get("amqp", {})
        if amqp.get("is") == "routingKey" and channel.get("address"):
            for _, key in common.expand(channel["address"], channel.get("parameters"), SAMPLE):
                for name in channel_messages[cid].values():
                    routes.append((amqp["exchange"]["name"], key, name))
    for cid, channel in channels.items():
        amqp = channel.get("bindings", {}).get("amqp", {})
        if amqp.get("is") != "queue":
            continue
        for b in amqp.get("x-bindings", []):
            exchange = b["exchange"]
            kinds = topo.exchanges.get(exchange, {}).get("type")
            def matches(route_key, binding_key=common.substitute(b["routingKey"], {"centre": SAMPLE, "state": SAMPLE, "queue": None})):
                return common.topic_matches(binding_key, route_key) if kinds == "topic" else True
            fed = [r for r in routes if r[0] == exchange and matches(r[1])]
            if not fed:
                errors.append(f"channel {cid}: nothing documented is published to {exchange} with a key its binding {b['routingKey']} takes")
        if amqp.get("x-bindings"):
            for name in channel_messages[cid].values():
                if not any(r[2] == name and r[0] in {b["exchange"] for b in amqp["x-bindings"]} for r in routes):
                    errors.append(f"channel {cid}: no routing-key channel publishes {name} to an exchange it is bound to")

    # Operations.
    for oid, op in operations.items():
        try:
            channel_ref = op["channel"]["$ref"]
            cid = channel_ref.split("/")[-1]
            channel = resolve(doc, channel_ref)
        except KeyError:
            errors.append(f"operation {oid}: its channel does not exist")
            continue
        for m in op.get("messages", []):
            if not m["$ref"].startswith(f"#/channels/{cid}/messages/"):
                errors.append(f"operation {oid}: message {m['$ref']} is not one of its channel's")
            else:
                try:
                    resolve(doc, m["$ref"])
                except KeyError:
                    errors.append(f"operation {oid}: message {m['$ref']} does not exist")
        if "reply" in op:
            reply_cid = op["reply"]["channel"]["$ref"].split("/")[-1]
            for m in op["reply"].get("messages", []):
                if not m["$ref"].startswith(f"#/channels/{reply_cid}/messages/"):
                    errors.append(f"operation {oid}: reply message {m['$ref']} is not one of its reply channel's")
        users = op.get("x-sampark-users")
        if not users:
            errors.append(f"operation {oid}: no x-sampark-users")
            continue
        amqp = channel["bindings"]["amqp"]
        for pattern in users:
            names = users_for(pattern, inputs["definitions_with_samples"])
            if not names:
                errors.append(f"operation {oid}: no user is {pattern}")
            for user in names:
                perms = next((p for p in inputs["definitions_with_samples"]["permissions"] if p["user"] == user), None)
                if perms is None:
                    errors.append(f"operation {oid}: {user} has no permissions")
                    continue
                if op["action"] == "send":
                    exchange = amqp["exchange"]["name"] or "amq.default"
                    if not common.permitted(perms["write"], exchange):
                        errors.append(f"operation {oid}: {user} may not write to {exchange}")
                    topic = next((t for t in inputs["definitions_with_samples"]["topic_permissions"]
                                  if t["user"] == user and t["exchange"] == exchange), None)
                    if topic and amqp["exchange"].get("type") == "topic":
                        for _, key in common.expand(channel["address"], channel.get("parameters"), SAMPLE):
                            if not common.permitted(topic["write"], key):
                                errors.append(f"operation {oid}: {user} may not publish {key} to {exchange}")
                else:
                    for _, queue in common.expand(channel["address"], channel.get("parameters"), SAMPLE):
                        if not common.permitted(perms["read"], queue):
                            errors.append(f"operation {oid}: {user} may not read {queue}")
    for queue, wq in topo.work_queues.items():
        worker = queue.split(".")[0]
        if not any(op["action"] == "receive" and worker in op.get("x-sampark-users", []) and
                   resolve(doc, op["channel"]["$ref"])["address"] == queue for op in operations.values()):
            errors.append(f"no receive operation of {worker} on {queue}")
    return errors


def with_samples(definitions, tool):
    """The definitions plus a sample centre and state, so that `centre-*` and `state-it-*`
    operations are checked against what `definitions.py add-centre` / `add-state` grant."""
    d = common.deep(definitions)
    tool.add_centre(d, SAMPLE)
    tool.add_state(d, SAMPLE)
    return d


def inputs(dump_file):
    tool = common.definitions_tool()
    definitions = common.load_json(common.path("deploy", "rabbitmq", "definitions.json"))
    schemas = {os.path.basename(f)[:-len(".json")]: common.load_json(f)
               for f in sorted(glob.glob(common.path("schemas", "messages", "*.json")))}
    return {"asyncapi": common.load_yaml(common.path("schemas", "asyncapi.yaml")), "topology": common.topology(dump_file),
            "schemas": schemas, "definitions": definitions, "definitions_with_samples": with_samples(definitions, tool), "tool": tool}


def broken_copies(data):
    def with_change(what, change):
        copy = {**data, "asyncapi": common.deep(data["asyncapi"])}
        change(copy["asyncapi"])
        return what, copy
    def ch(doc, cid):
        return doc["channels"][cid]
    def drop_message(doc):
        del doc["components"]["messages"]["turnout.mark.v1"]
    return [
        with_change("a message type missing", drop_message),
        with_change("a payload pointing at another schema",
                    lambda d: d["components"]["messages"]["list.ready.v2"]["payload"].update({"$ref": "./messages/list.build.v2.json"})),
        with_change("a work queue's delivery limit changed",
                    lambda d: ch(d, "reporterRequests")["bindings"]["amqp"]["x-arguments"].update({"x-delivery-limit": 3})),
        with_change("a delay TTL changed", lambda d: ch(d, "delayQueues")["bindings"]["amqp"]["x-message-ttl-by-retry"].__setitem__(1, 6000)),
        with_change("a binding missing", lambda d: ch(d, "dialerDispatcherEvents")["bindings"]["amqp"]["x-bindings"].pop()),
        with_change("a queue the code does not declare", lambda d: ch(d, "reporterRequests")["bindings"]["amqp"]["queue"].update({"name": "reporter.jobs"})
                    or ch(d, "reporterRequests").update({"address": "reporter.jobs"})),
        with_change("an exchange of the wrong type", lambda d: ch(d, "deadLetter")["bindings"]["amqp"]["exchange"].update({"type": "topic"})),
        with_change("a routing key no binding takes the queue's message by",
                    lambda d: ch(d, "listBuild").update({"address": "list.make"})),
        with_change("an operation by a user who may not publish there",
                    lambda d: d["operations"]["publishStateReport"].update({"x-sampark-users": ["central-team"]})),
        with_change("a state team receiving from another state's queue",
                    lambda d: d["operations"]["consumeStateReports"].update({"x-sampark-users": ["state-it-mp"]})),
        with_change("a work queue nobody receives from", lambda d: d["operations"].pop("buildLists")),
    ]


def main():
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    data = inputs(args[0])
    if "--self-test" in args:
        common.self_test("check_asyncapi", check, broken_copies(data))
    report = common.Report("asyncapi.yaml")
    for e in check(data):
        report.fail(e)
    doc = data["asyncapi"]
    report.ok(f"{len(doc['components']['messages'])} messages ({len(data['schemas'])} with their schema files), "
              f"{len(doc['channels'])} channels, {len(doc['operations'])} operations agree with the schemas, "
              f"`sampark topology --describe` and the users' permissions")
    report.done()


if __name__ == "__main__":
    main()
