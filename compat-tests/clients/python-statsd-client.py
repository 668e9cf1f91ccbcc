"""Drives Debian's python3-statsd (module `statsd`) from a JSON op list on stdin.

Input: {"host", "port", "transport": "udp"|"tcp", "batched": bool, "ops": [...]} (see ../client-ops.ts).
Output: {"calls": N} on stdout.
Client-side sampling calls random.random(); it is stubbed so the test decides which calls pass.
"""
import json
import sys

import statsd
import statsd.client.base as statsd_base


class Decisions:
    """Stands in for the `random` module inside statsd.client.base."""

    keep_next = True

    def random(self):
        # statsd drops a sampled call when random() > rate.
        return 0.0 if self.keep_next else 0.999999


def perform(client, op):
    kind, key, value = op["kind"], op["key"], op["value"]
    rate = op.get("rate", 1)
    DECISIONS.keep_next = op.get("keep", True)
    if kind == "timing":
        client.timing(key, value, rate)
    elif kind == "count":
        if value >= 0:
            client.incr(key, value, rate)
        else:
            client.decr(key, -value, rate)
    elif kind == "gauge":
        client.gauge(key, value)
    elif kind == "gaugeDelta":
        client.gauge(key, value, delta=True)
    else:
        raise SystemExit(f"python-statsd client: unsupported op kind {kind!r}")


DECISIONS = Decisions()
statsd_base.random = DECISIONS

spec = json.load(sys.stdin)
if spec["transport"] == "tcp":
    client = statsd.TCPStatsClient(host=spec["host"], port=spec["port"], timeout=10)
else:
    client = statsd.StatsClient(host=spec["host"], port=spec["port"])

if spec["batched"]:
    # A pipeline sends its lines together: UDP datagrams up to maxudpsize (512), one TCP write.
    with client.pipeline() as pipe:
        for op in spec["ops"]:
            perform(pipe, op)
else:
    for op in spec["ops"]:
        perform(client, op)
client.close()
print(json.dumps({"calls": len(spec["ops"])}))
