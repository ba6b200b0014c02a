#!/usr/bin/env bash
# Starts each example on a free loopback port and talks to it with a real client.
set -euo pipefail
exec /usr/bin/python3 examples/examples_client.py
