#!/usr/bin/env bash
# e2e: the --events stream (JSON Lines) of `shoal send` and `shoal recv`, on the namespace test bed
# with 5% loss toward both receivers so that repair happens. Checks, from the streams alone: every
# line is a JSON object with "event", "t" (never decreasing) and "time"; the sender reports both
# joins, one start naming the object, its size and the session, one pass event per pass its JSON
# summary counts, at least one repair, both receivers done and an end with ok = 2; each receiver
# reports join, start (same session as the sender's), at least one pass answered with blocks still
# missing, and done with the SHA-256 of the source, in that order.
source "$(dirname "$0")/lib.sh"
e2e_init evt "$@"
need_root_netns
need_cmd jq

bed_up 2
make_object "$WORK/object.bin" 16
make_key "$WORK/key"
"$TESTBED" loss "$BED" all 50 || fail "cannot set loss"
for k in 1 2; do
  mkdir -p "$WORK/rx$k"
  bed_receiver "rx$k" "$k" "$WORK/rx$k/object.bin" --events "$WORK/rx$k.events"
done
bed_sender tx 2 "$WORK/object.bin" 200M --events "$WORK/tx.events"
expect_rc tx 0
for k in 1 2; do expect_rc "rx$k" 0; done

jq_true() { jq -e "$@" >/dev/null 2>&1; }   # FILTER FILE: the filter yields true
events() { jq -c "select(.event == \"$2\")" "$WORK/$1.events" 2>/dev/null; }
count() { events "$1" "$2" | grep -c . || true; }

for s in tx rx1 rx2; do
  f=$WORK/$s.events
  expect "$s events file is not empty" test -s "$f"
  expect "$s: every line is a JSON object with event, t and time" \
    jq_true -s 'length > 0 and all(.[]; type == "object" and (.event | type == "string") and
      (.t | type == "number") and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")))' "$f"
  expect "$s: t never decreases" jq_true -s '[.[].t] as $t | $t == ($t | sort)' "$f"
done

size=$(stat -c %s "$WORK/object.bin")
expect_eq "sender join events" "$(count tx join)" 2
expect_eq "sender joined receivers" "$(events tx join | jq -r .receiver | sort | tr '\n' ' ')" "rx1 rx2 "
expect_eq "sender start events" "$(count tx start)" 1
expect_eq "start object" "$(events tx start | jq -r .object)" object.bin
expect_eq "start bytes" "$(events tx start | jq -r .bytes)" "$size"
expect_eq "start receivers" "$(events tx start | jq -r .receivers)" 2
expect_eq "pass events = summary passes" "$(count tx pass)" "$(json "$WORK/tx.json" .passes)"
expect "at least one repair event (5% loss)" test "$(count tx repair)" -ge 1
expect_eq "sender done events" "$(events tx done | jq -r .receiver | sort | tr '\n' ' ')" "rx1 rx2 "
expect_eq "sender fail events" "$(count tx fail)" 0
expect_eq "end ok" "$(events tx end | jq -r .ok)" 2
expect_eq "end failed" "$(events tx end | jq -r .failed)" 0
session=$(events tx start | jq -r .session_id)
expect "session_id is 16 hex digits" grep -qE '^[0-9a-f]{16}$' <<<"$session"

want=$(sha_of "$WORK/object.bin")
for k in 1 2; do
  r=rx$k
  expect_eq "$r event order" "$(jq -r .event "$WORK/$r.events" | grep -v '^pass$' | tr '\n' ' ')" "join start done "
  expect_eq "$r start session" "$(events "$r" start | jq -r .session_id)" "$session"
  expect_eq "$r start bytes" "$(events "$r" start | jq -r .bytes)" "$size"
  expect "$r answered a pass with blocks missing" \
    test "$(events "$r" pass | jq -s '[.[] | select(.blocks_done < .blocks)] | length')" -ge 1
  expect_eq "$r done sha256" "$(events "$r" done | jq -r .sha256)" "$want"
  expect_eq "$r done out" "$(events "$r" done | jq -r .out)" "$WORK/$r/object.bin"
done
e2e_finish
