"""What the static checks (scripts/check-static.sh) share: the repository's files, the topology
as the code declares it (`sampark topology --describe`), topic matching and permission regexes.

Only the standard library and ruamel.yaml (which comes with check-jsonschema)."""
import copy
import importlib.util
import json
import os
import re
import sys

from ruamel.yaml import YAML

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def path(*parts):
    return os.path.join(ROOT, *parts)


def load_yaml(file):
    with open(file, encoding="utf-8") as f:
        return YAML(typ="safe").load(f)


def load_json(file):
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def definitions_tool():
    """deploy/rabbitmq/definitions.py as a module: the checks use its hashing and its add-state /
    add-centre, so what they expect is exactly what the tool writes."""
    spec = importlib.util.spec_from_file_location("sampark_definitions", path("deploy", "rabbitmq", "definitions.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Topology:
    """The dump of `sampark topology --describe`: the steps Topology.declare applies, in order."""

    def __init__(self, dump):
        self.dump = dump
        self.exchanges = {}
        self.queues = {}
        self.bindings = []   # (queue, exchange, routing key)
        for step in dump["steps"]:
            if "exchange" in step:
                self.exchanges[step["exchange"]["name"]] = step["exchange"]
            elif "queue" in step:
                self.queues[step["queue"]["name"]] = step["queue"]
            else:
                b = step["binding"]
                self.bindings.append((b["queue"], b["exchange"], b["routing_key"]))
        self.work_queues = {q["name"]: q for q in dump["work_queues"]}
        self.offer_queues = {}
        self.offer_bindings = []
        for step in dump["offer_queue_steps"]:
            if "queue" in step:
                self.offer_queues[step["queue"]["name"]] = step["queue"]
            else:
                b = step["binding"]
                self.offer_bindings.append((b["queue"], b["exchange"], b["routing_key"]))

    def plan_for(self, work_queue):
        """The steps one worker's start applies: Topology.declare([its queue]), i.e. the
        exchanges, the unroutable queue and its binding, then its own queue's steps."""
        wq = self.work_queues[work_queue]
        own = {wq["name"], wq["dead_queue"], *wq["delay_queues"]}
        shared_queue = self.dump["unroutable_queue"]
        steps = []
        for step in self.dump["steps"]:
            if "exchange" in step:
                steps.append(step)
            elif "queue" in step and step["queue"]["name"] in own | {shared_queue}:
                steps.append(step)
            elif "binding" in step and step["binding"]["queue"] in own | {shared_queue}:
                steps.append(step)
        return steps


def topology(dump_file):
    return Topology(load_json(dump_file))


def topic_matches(binding_key, routing_key):
    """AMQP topic matching: `*` is one word, `#` zero or more."""
    def match(b, r):
        if not b:
            return not r
        if b[0] == "#":
            return any(match(b[1:], r[i:]) for i in range(len(r) + 1))
        if not r:
            return False
        return (b[0] == "*" or b[0] == r[0]) and match(b[1:], r[1:])
    return match(binding_key.split("."), routing_key.split("."))


def permitted(regex, resource):
    """Whether a RabbitMQ permission regex grants `resource` (RabbitMQ searches, PCRE; ours are
    anchored and use nothing Python's re reads differently)."""
    return re.search(regex, resource) is not None


def expand(template, parameters, sample="XX"):
    """Every instance of an AsyncAPI address template: each {param} replaced by each of its
    enum values, or by `sample` when the parameter has no enum."""
    results = [({}, template)]
    for name in re.findall(r"\{([^}]+)\}", template or ""):
        values = (parameters or {}).get(name, {}).get("enum") or [sample]
        results = [({**bound, name: v}, text.replace("{" + name + "}", str(v))) for bound, text in results for v in values]
    return results


def substitute(value, bound):
    """`value` (a string, or a structure of them) with {param} replaced from `bound`."""
    if isinstance(value, str):
        for k, v in bound.items():
            value = value.replace("{" + k + "}", str(v))
        return value
    if isinstance(value, list):
        return [substitute(v, bound) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, bound) for k, v in value.items()}
    return value


class Report:
    """Collects a check's failures; `done()` prints them (or the passes) and exits."""

    def __init__(self, name):
        self.name = name
        self.errors = []
        self.passes = []

    def fail(self, message):
        self.errors.append(message)

    def check(self, condition, message):
        if not condition:
            self.fail(message)
        return condition

    def ok(self, message):
        self.passes.append(message)

    def done(self):
        if self.errors:
            for e in self.errors:
                print(f"{self.name}: {e}")
            print(f"{self.name}: FAILED ({len(self.errors)} problem(s))")
            sys.exit(1)
        for p in self.passes:
            print(f"{self.name}: {p}")
        sys.exit(0)


def self_test(name, check, cases):
    """Runs `check(data) -> list of errors` on each broken copy of the data and demands that it
    fail: a check that cannot fail proves nothing. `cases` is a list of (what, broken data)."""
    failures = []
    for what, data in cases:
        errors = check(data)
        if not errors:
            failures.append(what)
    if failures:
        for what in failures:
            print(f"{name} --self-test: the check did not notice: {what}")
        sys.exit(1)
    print(f"{name} --self-test: {len(cases)} broken copies, each refused")
    sys.exit(0)


def deep(value):
    return copy.deepcopy(value)
