// Package blockdev is the one interface every layer of the connector's userspace engine speaks:
// an iSCSI leg, a mirror, a stripe, a file, and what the NBD and FUSE exports serve.
package blockdev

import (
	"errors"
	"io"
)

// Device is a fixed-size block device. ReadAt and WriteAt follow io.ReaderAt/io.WriterAt
// (a short count comes with an error); offsets and lengths need not be sector aligned unless a
// device says otherwise. Safe for concurrent use by several goroutines.
type Device interface {
	io.ReaderAt
	io.WriterAt
	// Size is the device's size in bytes.
	Size() int64
	// Flush makes every completed write durable (SCSI SYNCHRONIZE CACHE, fsync).
	Flush() error
	// Discard tells the device the range's contents are no longer needed (SCSI UNMAP, punch
	// hole); it reads back as zeros or as the old data, either is allowed.
	Discard(off, n int64) error
	// Close releases the device; further calls fail with ErrClosed. Idempotent.
	Close() error
}

// Errors a device reports.
var (
	ErrClosed     = errors.New("blockdev: device closed")
	ErrOutOfRange = errors.New("blockdev: access beyond the end of the device")
	// ErrIO means the device could not do the I/O (a dead leg); a mirror stops using it.
	ErrIO = errors.New("blockdev: I/O error")
)
