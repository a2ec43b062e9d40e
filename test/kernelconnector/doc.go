// Package kernelconnector is the kernel-tier test of the data path through the kernel: legs on
// LVM thin pools exported by the LIO target (volume/target), logged in to with open-iscsi and
// assembled with device-mapper raid1/striped/linear by the connector's kernel engine. It runs as
// root inside shared/tools/kernel-vm through scripts/test-kernel.sh; every test is named
// TestKernel* and skips unless DLVM_KERNEL_TEST=1.
package kernelconnector
