"""Drives Debian's python3-aiodogstatsd (asyncio DogStatsD client, UDP only) from a JSON op list.

Input: {"host", "port", "transport": "udp", "batched": false, "ops": [...]} (see ../client-ops.ts).
Output: {"calls": N} on stdout.
Client-side sampling calls random(); it is stubbed so the test decides which calls pass.
"""
import asyncio
import json
import sys

import aiodogstatsd
import aiodogstatsd.client as aiodogstatsd_client

KEEP_NEXT = True


def decide():
    # aiodogstatsd drops a sampled call when random() > rate.
    return 0.0 if KEEP_NEXT else 0.999999


aiodogstatsd_client.random = decide


async def main(spec):
    global KEEP_NEXT
    if spec["transport"] != "udp":
        raise SystemExit("aiodogstatsd client: only UDP exists")
    client = aiodogstatsd.Client(host=spec["host"], port=spec["port"])
    await client.connect()
    for i, op in enumerate(spec["ops"]):
        KEEP_NEXT = op.get("keep", True)
        method = {
            "timing": client.timing,
            "histogram": client.histogram,
            "distribution": client.distribution,
            "count": client.increment,
            "gauge": client.gauge,
        }.get(op["kind"])
        if method is None:
            raise SystemExit(f"aiodogstatsd client: unsupported op kind {op['kind']!r}")
        method(op["key"], value=op["value"], tags=op.get("tags"), sample_rate=op.get("rate"))
        if i % 200 == 199:
            # Let the client's sender task drain its queue now and then, as a real app's loop would.
            await asyncio.sleep(0)
    await client.close()
    print(json.dumps({"calls": len(spec["ops"])}))


asyncio.run(main(json.load(sys.stdin)))
