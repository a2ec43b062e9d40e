// Package kernel holds dlvm's kernel-tier tests: real LVM thin pools (and later device-mapper,
// LIO and open-iscsi) exercised as root inside shared/tools/kernel-vm, where Debian's kernel
// has the modules this project's build machines lack. Run them with scripts/test-kernel.sh.
//
// Every test is named TestKernel* and skips unless DLVM_KERNEL_TEST=1, so `go test ./...` on
// a build machine compiles and vets them but never touches the host's disks.
package kernel
