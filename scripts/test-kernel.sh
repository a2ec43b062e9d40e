#!/usr/bin/env bash
# Kernel tier: build static test binaries of the packages below and run their TestKernel*
# tests as root inside shared/tools/kernel-vm (Debian's kernel under qemu, with device-mapper,
# LVM thin, LIO and open-iscsi). Exit status: 0 when every binary passed.
#
#   scripts/test-kernel.sh [TEST_BINARY_ARGS...]      e.g. -test.run KernelLVM -test.count=1
#
# Environment:
#   KERNEL_VM        path of run.sh (default ../shared/tools/kernel-vm/run.sh, from the repo root)
#   KERNEL_PKGS      space-separated packages to build (default: the list below)
#   KERNEL_RUN       -test.run pattern (default Kernel)
#   KERNEL_VM_ARGS   extra run.sh options, e.g. "-m 3072 -t 1200"
#   KEEP_PAYLOAD=1   keep the payload directory (path printed) for debugging
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# Packages with kernel-tier tests; add new ones here (connector, target, ...).
default_pkgs=(
  ./test/kernel
  ./test/kernelconnector
)
read -r -a pkgs <<<"${KERNEL_PKGS:-${default_pkgs[*]}}"
vm=${KERNEL_VM:-$root/../shared/tools/kernel-vm/run.sh}
run=${KERNEL_RUN:-Kernel}
read -r -a vm_args <<<"${KERNEL_VM_ARGS:-}"
[ -x "$vm" ] || { echo "test-kernel: kernel VM runner $vm not found (set KERNEL_VM)" >&2; exit 2; }

# `lvm lvcreate --snapshot` checks for the dm-snapshot target even for thin snapshots, and the
# shared run.sh does not load that module. Until it does, run a temporary copy that adds it.
if ! grep -q "dm-snapshot" "$vm"; then
  patched=$(mktemp -d /tmp/dlvm-kernel-vm.XXXXXX)
  sed -e "s/'dm-mirror', /'dm-mirror', 'dm-snapshot', /" \
      -e "s/ dm-mirror target_core_mod/ dm-mirror dm-snapshot target_core_mod/" "$vm" >"$patched/run.sh"
  chmod +x "$patched/run.sh"
  [ "$(grep -c dm-snapshot "$patched/run.sh")" = 2 ] || { echo "test-kernel: could not add dm-snapshot to $vm" >&2; exit 2; }
  echo "test-kernel: using a copy of $vm that also loads dm-snapshot"
  vm=$patched/run.sh
fi

payload=$(mktemp -d /tmp/dlvm-kernel-payload.XXXXXX)
if [ "${KEEP_PAYLOAD:-}" = 1 ]; then echo "test-kernel: payload in $payload"; else trap 'rm -rf "$payload"' EXIT; fi

bins=()
for pkg in "${pkgs[@]}"; do
  name=$(echo "${pkg#./}" | tr '/' '-').test
  echo "test-kernel: building $pkg -> $name"
  CGO_ENABLED=0 go test -c -o "$payload/$name" "$pkg"
  [ -f "$payload/$name" ] && bins+=("$name") # packages without tests produce nothing
done
[ ${#bins[@]} -gt 0 ] || { echo "test-kernel: no test binaries built" >&2; exit 2; }

# The guest runs this script: every binary, even after a failure, then one summary.
{
  echo '#!/bin/bash'
  echo 'export DLVM_KERNEL_TEST=1; fail=0'
  for b in "${bins[@]}"; do
    printf 'echo "=== kernel binary %s"; ./%s -test.run %q -test.v' "$b" "$b" "$run"
    for a in "$@"; do printf ' %q' "$a"; done
    printf ' || { echo "=== FAIL %s"; fail=1; }\n' "$b"
  done
  echo 'exit $fail'
} >"$payload/run-kernel-tests.sh"
chmod +x "$payload/run-kernel-tests.sh"

"$vm" "${vm_args[@]}" "$payload" -- bash ./run-kernel-tests.sh
