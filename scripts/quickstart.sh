#!/usr/bin/env bash
# The main job on the embedded default: this machine, MPI backend, 4 local ranks. Installs what is
# missing, builds, sweeps allreduce and alltoall over 8 B - 64 MiB with every algorithm (verified),
# and prints the tables and where the JSON went.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
source "$root/scripts/mpi-env.sh"
out=${CCTUNE_OUT:-$root/build/quickstart}
mkdir -p "$out"
ranks=${CCTUNE_RANKS:-4}
mpirun -np "$ranks" --bind-to none "$root/build/cli/cctune" bench -b 8 -e 64M -f 2 --algorithm all -c 1 \
  -J "$out/bench.json" "$@"
python3 - "$out/bench.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
best = {}
for row in doc["results"]:
    key = (row["collective"], row["size"])
    if row["size"] and (key not in best or row["out_of_place"]["bus_bw"] > best[key][1]):
        best[key] = (row["algorithm"], row["out_of_place"]["bus_bw"])
print(f"\nFastest algorithm per collective at the largest size ({doc['env']['nranks']} ranks):")
for collective in ("allreduce", "alltoall"):
    sizes = [size for c, size in best if c == collective]
    if sizes:
        name, busbw = best[(collective, max(sizes))]
        print(f"  {collective:9} {max(sizes):>10} B  {name:20} busbw {busbw:.2f} GB/s")
print(f"Wrong elements: {doc['out_of_bounds']['count']}.  JSON: {sys.argv[1]} ({len(doc['results'])} rows)")
PY
