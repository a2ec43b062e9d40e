#!/usr/bin/env bash
# Installs the Debian packages dlvm needs, only those missing (root: apt-get; otherwise it prints
# the command). One list for `make run`, `make test` and CI:
#   scripts/deps.sh run    what the all-in-one service uses (tgtd for the dpvs' iSCSI targets)
#   scripts/deps.sh test   everything the tests drive for real (CLI, os-brick, libiscsi, fio,
#                          qemu-img/io, the kernel VM's tools)
set -euo pipefail
run_pkgs=(tgt)
test_pkgs=(tgt python3-openstackclient python3-cinderclient python3-os-brick libiscsi-bin fio qemu-utils qemu-block-extra
  curl e2fsprogs qemu-system-x86 lvm2 dmsetup cpio kmod thin-provisioning-tools libisns0 libopeniscsiusr)
case "${1:-run}" in
  run) want=("${run_pkgs[@]}") ;;
  test) want=("${test_pkgs[@]}") ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
need=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "dlvm needs these Debian packages: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "deps: apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
