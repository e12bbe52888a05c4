#!/bin/sh
# Checks the linux-x64 .vsix on this machine as if it had neither oneDNN nor a compiler: in a private mount
# namespace (unshare -m, as root), empty files hide the system's libdnnl, libgomp and libOpenCL and the compilers,
# and an empty folder hides the oneDNN headers; then the packaged engine (from the unpacked .vsix, forked the way
# the extension forks it) starts, must report the native kernels, and runs a few visualization steps; without its
# bundled libdnnl it must fall back to wasm alone and say why.
#   sudo sh scripts/check-portable.sh [neuron-lens-linux-x64.vsix] [model.json]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
vsix=${1:-$root/neuron-lens-linux-x64.vsix}
model=${2:-/work/shared/fixtures/models/mobilenet_v1_0.25_224/model.json}
[ "$(id -u)" = 0 ] || { echo "check-portable: needs root (unshare -m, mount --bind)" >&2; exit 1; }
[ -f "$vsix" ] || { echo "check-portable: $vsix not found (npm run package)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && unzip -q "$vsix" 'extension/*')
addon=$tmp/extension/native/build/portable/onednn.node
: > "$tmp/empty"
mkdir "$tmp/emptydir"
unshare -m sh -eu -c '
  tmp=$1; addon=$2; model=$3
  for f in /usr/lib/x86_64-linux-gnu/libdnnl.so* /usr/lib/x86_64-linux-gnu/libgomp.so* /usr/lib/x86_64-linux-gnu/libOpenCL.so* \
           /usr/bin/g++* /usr/bin/gcc* /usr/bin/c++ /usr/bin/cc /usr/bin/x86_64-linux-gnu-g++* /usr/bin/x86_64-linux-gnu-gcc*; do
    [ -e "$f" ] && [ ! -L "$f" ] && mount --bind "$tmp/empty" "$f"
  done
  [ -d /usr/include/oneapi ] && mount --bind "$tmp/emptydir" /usr/include/oneapi
  echo "== hidden: $(ls -l /usr/lib/x86_64-linux-gnu/libdnnl.so.2* | tr -s " " | cut -d" " -f5,9 | tr "\n" " ")"
  if g++ --version >/dev/null 2>&1; then echo "g++ still runs" >&2; exit 1; else echo "== g++: does not run"; fi
  for a in "$(dirname "$addon")"/*.node; do
    echo "== readelf -d $(basename "$a")"; readelf -d "$a" | grep -E "NEEDED|RUNPATH|RPATH"
    echo "== ldd $(basename "$a")"; ldd "$a"
    if ldd "$a" | grep -q "not found"; then echo "a library is missing" >&2; exit 1; fi
  done
  echo "== the packaged engine"
  node -e "
    const { fork } = require(\"child_process\");
    const c = fork(process.argv[1], [], { stdio: [\"ignore\", \"inherit\", \"inherit\", \"ipc\"], env: { ...process.env, NEURON_LENS_NATIVE_ADDON: \"\" } });
    let id = 0; const waiting = new Map();
    c.on(\"message\", (m) => { if (m.kind === \"response\") { const w = waiting.get(m.id); waiting.delete(m.id); m.ok ? w[0](m.result) : w[1](new Error(m.error.message)); } });
    const call = (method, params) => new Promise((res, rej) => { waiting.set(++id, [res, rej]); c.send({ kind: \"request\", id, method, params }); });
    (async () => {
      const b = await call(\"init\", { backend: \"wasm\" });
      console.log(\"backend:\", b.reason);
      if (!b.native) throw new Error(\"the native kernels are not in use\");
      const t = Date.now();
      const r = await call(\"visualize\", { model: { path: process.argv[2] }, units: [\"logit:0-1\"], settings: { param: \"fourier\", steps: 8, lr: 0.05, seed: 0, transforms: \"standard\", batch: 2 }, previewEvery: 0 });
      console.log(\"visualized\", r.units.length, \"units,\", r.msPerStep.toFixed(1), \"ms/step, activations\", r.units.map((u) => u.activation.toFixed(3)).join(\" \"), \"(\" + (Date.now() - t) + \" ms)\");
      c.kill(); process.exit(0);
    })().catch((e) => { console.error(\"FAILED:\", e.message); c.kill(); process.exit(1); });
  " "$tmp/extension/dist/engine.js" "$model"
  echo "== without its libdnnl: the engine falls back to wasm and says why"
  rm "$(dirname "$addon")/libdnnl.so.2"
  node -e "
    const c = require(\"child_process\").fork(process.argv[1], [], { stdio: [\"ignore\", \"inherit\", \"inherit\", \"ipc\"] });
    c.on(\"message\", (m) => {
      if (m.kind !== \"response\") return;
      console.log(\"backend:\", m.ok ? m.result.reason : m.error.message);
      c.kill();
      process.exit(m.ok && !m.result.native && /native kernels failed to load .*libdnnl\\.so\\.2/.test(m.result.reason) ? 0 : 1);
    });
    c.send({ kind: \"request\", id: 1, method: \"init\", params: { backend: \"wasm\" } });
  " "$tmp/extension/dist/engine.js"
' sh "$tmp" "$addon" "$model"
echo "check-portable: OK"
