#!/usr/bin/env bash
# The main job: set up, start a private mosquitto and a collector, and run the simulated door.
# The door replays examples/door/frames through the real pipeline (decoder, policy, journal, MQTT),
# draws its LEDs/buzzer on the console, and the collector prints each entry as it receives it.
# Stops on Ctrl-C, or after DOOR_SECONDS seconds when that is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
PY=.venv/bin/python
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

work=run/door
rm -rf "$work"; mkdir -p "$work"
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$work/mosquitto.conf"
sed -e "s#mqtt://127.0.0.1:1883#mqtt://127.0.0.1:$port#" \
    -e "s#dir:frames#dir:$PWD/examples/door/frames#" \
    -e "s#badges.txt#$PWD/examples/door/badges.txt#" examples/door/config.toml > "$work/config.toml"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$MOSQUITTO" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
echo "== broker on 127.0.0.1:$port; collector output is marked [collector], the door's lights [door]"
.venv/bin/entryscan-collector --url "mqtt://127.0.0.1:$port" --db "$work/collector.db" & pids+=($!)
.venv/bin/entryscan run --simulate --config "$work/config.toml" & door=$!; pids+=($door)
if [ -n "${DOOR_SECONDS:-}" ]; then
  sleep "$DOOR_SECONDS"
  kill -TERM "$door"; wait "$door" || true
  echo "== journal after the run (pending = not yet delivered):"
  .venv/bin/entryscan journal --config "$work/config.toml" --pending || true
  echo "== the collector's fleet view:"
  .venv/bin/entryscan-collector --report --db "$work/collector.db" || true
else
  wait "$door"
fi
