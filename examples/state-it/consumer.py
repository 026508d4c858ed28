#!/usr/bin/env python3
"""A state IT team's consumer of Sampark's reports (docs/consumers.md).

It needs nothing from Sampark but the published JSON Schemas (schemas/messages/) and an AMQP
client (pika). It binds a durable queue of its own to the exchange sampark.reports with
report.daily.<STATE>.# (and, with --dossiers, report.dossier.<STATE>.#), checks each message
against the schema its AMQP `type` names, keeps the latest version of each report_id (a re-run
of a report publishes the same id again), acks only once the report is handled, and prints one
JSON line per report as it stands:

    {"report_id": "daily/2028-11-17/DRG", "routing_key": "report.daily.MP.DRG", "type": "report.daily.v2",
     "versions": 1, "attempts": 120}

    python3 consumer.py --url amqp://state-it-mp:secret@127.0.0.1:5672/ --state MP --schemas ../../schemas/messages
"""
import argparse
import json
import os
import sys

import jsonschema
import pika


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SAMPARK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--state", required=True, help="the state's code, as in its units' state (MP)")
    parser.add_argument("--schemas", required=True, help="the folder of Sampark's published JSON Schemas")
    parser.add_argument("--queue", help="the queue's name (default state-it.<state>.reports)")
    parser.add_argument("--dossiers", action="store_true", help="also take the state's constituency dossiers")
    parser.add_argument("--idle", type=float, default=0, help="stop after this many seconds without a message (0: never)")
    parser.add_argument("--ready-file", help="write this file once the queue is bound (for scripts and tests)")
    args = parser.parse_args()

    queue = args.queue or f"state-it.{args.state}.reports"
    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    # A queue of our own that outlives this process: reports published while we are away wait.
    channel.queue_declare(queue=queue, durable=True, arguments={"x-queue-type": "quorum"})
    keys = [f"report.daily.{args.state}.#"] + ([f"report.dossier.{args.state}.#"] if args.dossiers else [])
    for key in keys:
        channel.queue_bind(queue=queue, exchange="sampark.reports", routing_key=key)
    if args.ready_file:
        open(args.ready_file, "w").close()

    validators = {}
    latest = {}   # report_id -> (generated_at, versions)

    def validator(message_type):
        if message_type not in validators:
            with open(os.path.join(args.schemas, f"{message_type}.json"), encoding="utf-8") as f:
                validators[message_type] = jsonschema.Draft7Validator(json.load(f), format_checker=jsonschema.FormatChecker())
        return validators[message_type]

    channel.basic_qos(prefetch_count=10)
    for method, properties, body in channel.consume(queue, inactivity_timeout=args.idle or None):
        if method is None:
            break
        try:
            report = json.loads(body)
            validator(properties.type).validate(report)
        except (ValueError, OSError, jsonschema.ValidationError) as error:
            # Not a report we understand: set it aside (dead-letter it) rather than lose it or loop.
            print(f"refused a message of type {properties.type!r}: {str(error).splitlines()[0]}", file=sys.stderr)
            channel.basic_nack(method.delivery_tag, requeue=False)
            continue
        report_id = report["report_id"]
        seen_at, versions = latest.get(report_id, ("", 0))
        if report["generated_at"] >= seen_at:
            latest[report_id] = (report["generated_at"], versions + 1)
            # Here a real consumer stores the report, replacing the earlier version.
        else:
            latest[report_id] = (seen_at, versions + 1)   # an older version arriving late: keep ours
        line = {"report_id": report_id, "routing_key": method.routing_key, "type": properties.type,
                "versions": latest[report_id][1]}
        if "totals" in report:
            line["attempts"] = report["totals"]["attempts"]
        print(json.dumps(line), flush=True)
        channel.basic_ack(method.delivery_tag)
    connection.close()


if __name__ == "__main__":
    main()
