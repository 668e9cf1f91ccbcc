#!/bin/bash
# Runs once, when the influxdb:2 image sets up an empty volume (DOCKER_INFLUXDB_INIT_MODE=setup),
# after the org, bucket and token exist; the image runs the executable *.sh of this folder with
# its influx CLI configured for that token. Maps InfluxQL database "hourglass" (retention policy
# "autogen") to the bucket, so Grafana's InfluxQL panels can read it through the v1-compatible
# /query endpoint. The Hourglass roles themselves use the v2 API (INFLUX_API=v2) and need no
# mapping.
set -euo pipefail

influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db hourglass \
  --rp autogen \
  --default
