#!/usr/bin/env python3
"""Compares two debfleet binaries on whole first syncs of the bundled
mirror slice, run in alternating pairs (the order swapped every pair), each
into an empty store. Prints, per binary, the median and mean wall and CPU
time (CPU from getrusage of the child), then the mean difference A - B
with its standard error and in how many pairs B was faster.

On a noisy machine a median of a dozen runs moves by 0.1 s from one
minute to the next; the paired difference and its standard error are
what docs/design.md and the README quote for a change.

Usage: benches/sync-pairs.py PAIRS BIN_A[:VAR=VALUE,...] BIN_B[:VAR=VALUE,...]
  e.g. cp target/release/debfleet /tmp/before   (build the change, then)
       benches/sync-pairs.py 20 /tmp/before target/release/debfleet
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(spec, state_dir):
    binary, _, envs = spec.partition(":")
    env = dict(os.environ)
    for kv in filter(None, envs.split(",")):
        key, value = kv.split("=", 1)
        env[key] = value
    shutil.rmtree(state_dir, ignore_errors=True)
    os.mkdir(state_dir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [binary, "--fleet", os.path.join(REPO, "testdata/fleet"),
         "--state", os.path.join(state_dir, "state.redb"),
         "--now", "2026-11-27T12:00:00Z", "sync"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    pairs, specs = int(sys.argv[1]), sys.argv[2:]
    wall = {s: [] for s in specs}
    cpu = {s: [] for s in specs}
    with tempfile.TemporaryDirectory() as work:
        state_dir = os.path.join(work, "state")
        for i in range(pairs):
            for spec in (specs if i % 2 == 0 else specs[::-1]):
                w, c = run(spec, state_dir)
                wall[spec].append(w)
                cpu[spec].append(c)
    for s in specs:
        print(f"{s}: wall median {statistics.median(wall[s]):.3f} s, mean {statistics.mean(wall[s]):.3f} s; "
              f"cpu median {statistics.median(cpu[s]):.3f} s, mean {statistics.mean(cpu[s]):.3f} s")
    a, b = specs
    dw = [x - y for x, y in zip(wall[a], wall[b])]
    dc = [x - y for x, y in zip(cpu[a], cpu[b])]
    se = lambda v: statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else float("nan")
    print(f"A - B wall: mean {statistics.mean(dw) * 1000:.0f} ms (standard error {se(dw) * 1000:.0f}), "
          f"B faster in {sum(d > 0 for d in dw)} of {len(dw)} pairs")
    print(f"A - B cpu:  mean {statistics.mean(dc) * 1000:.0f} ms (standard error {se(dc) * 1000:.0f})")


if __name__ == "__main__":
    main()
