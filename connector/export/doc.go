// Package export owns how the connector's userspace engine hands an assembled volume (a
// blockdev.Device) to its consumers on the compute host:
//
//   - ServeNBD serves the device as an NBD export on a unix socket (fixed newstyle handshake,
//     simple replies, many requests in flight), which qemu opens as
//     nbd+unix:///?socket=PATH.
//   - ExposeLoop mounts a one-file FUSE filesystem whose file "disk" is the device and
//     attaches a loop device to that file, giving the host a /dev/loopN (these hosts have no
//     nbd kernel module).
//
// Neither export owns the device: closing an export flushes it but leaves it open.
package export
