#!/bin/sh
# Runs a gtest binary inside the lab guest and checks which of its tests ran: gtest's own exit
# status counts a skipped test as a pass, so a binary whose cases all skip on the guest would
# pass unseen. Every listed test must pass, except those whose full name contains a --skip
# PATTERN: they must be skipped, with REASON in their output.
#
# usage: guest-gtest-check.sh [--skip=PATTERN:REASON]... -- BINARY [gtest flags]
# (busybox sh; exits 1 if the binary failed, a test did not run as expected, or none passed)

skips=""
while [ $# -gt 0 ]; do
  case "$1" in
    --skip=*:*) skips="$skips
${1#--skip=}" ;;
    --) shift; break ;;
    *) echo "FAIL unknown option '$1': use --skip=PATTERN:REASON, then -- BINARY"; exit 1 ;;
  esac
  shift
done
if [ $# -eq 0 ]; then
  echo "FAIL no gtest binary given after --"
  exit 1
fi

out=/tmp/gtest-check.$$
trap 'rm -f "$out" "$out.list" "$out.status"' EXIT

# --gtest_list_tests prints "Suite." lines, each followed by "  Test  # params" lines.
"$@" --gtest_list_tests | awk '/^[^ ].*\.$/ { suite = $1 } /^  / { print suite $1 }' >"$out.list"
# The output goes to the console as it comes, so that a run which hangs shows the test it hung in.
{
  "$@" 2>&1
  echo $? >"$out.status"
} | tee "$out"
status=$(cat "$out.status")

# Prints the reason a test must be skipped for, or nothing when it must pass.
skip_reason() {
  echo "$skips" | while IFS= read -r rule; do
    [ -n "$rule" ] || continue
    case "$1" in
      *"${rule%%:*}"*) echo "${rule#*:}"; break ;;
    esac
  done
}

# Prints the lines from a test's "[ RUN      ]" line through its result line.
test_output() {
  awk -v name="$1" '
    $0 == "[ RUN      ] " name { on = 1 }
    on { print }
    on && index($0, "] " name " (") && $0 !~ /RUN/ { exit }' "$out"
}

passed=0
skipped=0
failures=0
while IFS= read -r name; do
  reason=$(skip_reason "$name")
  block=$(test_output "$name")
  if [ -z "$reason" ]; then
    if echo "$block" | grep -qF "[       OK ] $name ("; then
      passed=$((passed + 1))
    else
      echo "FAIL $name did not pass (it must run here)"
      failures=$((failures + 1))
    fi
  elif echo "$block" | grep -qF "[  SKIPPED ] $name (" && echo "$block" | grep -qF "$reason"; then
    skipped=$((skipped + 1))
  else
    echo "FAIL $name was not skipped with '$reason'"
    failures=$((failures + 1))
  fi
done <"$out.list"

echo "gtest-check: $passed passed, $skipped skipped as expected, $failures unexpected, status $status"
if [ "$status" -ne 0 ] || [ "$failures" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
