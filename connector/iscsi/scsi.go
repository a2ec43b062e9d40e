package iscsi

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// SCSI status codes (SAM-5).
const (
	statusGood           = 0x00
	statusCheckCondition = 0x02
	statusBusy           = 0x08
	statusTaskSetFull    = 0x28
)

// Sense keys (SPC-4) the initiator acts on.
const (
	senseUnitAttention = 0x06
)

// CDB opcodes.
const (
	cdbTestUnitReady = 0x00
	cdbInquiry       = 0x12
	cdbSyncCache10   = 0x35
	cdbUnmap         = 0x42
	cdbRead16        = 0x88
	cdbWrite16       = 0x8a
	cdbServiceIn16   = 0x9e
	saReadCapacity16 = 0x10
)

// defaultMaxXfer is the largest READ/WRITE we issue unless the Block Limits VPD says less.
const defaultMaxXfer = 1 << 20

// SenseError is a SCSI command that ended with a status other than GOOD. It wraps
// blockdev.ErrIO: the LUN could not do the I/O.
type SenseError struct {
	Status         byte
	Key, ASC, ASCQ byte
}

func (e *SenseError) Error() string {
	if e.Status == statusCheckCondition {
		return fmt.Sprintf("iscsi: CHECK CONDITION sense key 0x%x asc 0x%02x ascq 0x%02x", e.Key, e.ASC, e.ASCQ)
	}
	return fmt.Sprintf("iscsi: SCSI status 0x%02x", e.Status)
}

func (e *SenseError) Unwrap() error { return blockdev.ErrIO }

// newSenseError decodes fixed (0x70/0x71) or descriptor (0x72/0x73) format sense data.
func newSenseError(status byte, sense []byte) *SenseError {
	e := &SenseError{Status: status}
	if len(sense) < 2 {
		return e
	}
	switch sense[0] & 0x7f {
	case 0x70, 0x71:
		e.Key = sense[2] & 0x0f
		if len(sense) >= 14 {
			e.ASC, e.ASCQ = sense[12], sense[13]
		}
	case 0x72, 0x73:
		if len(sense) >= 4 {
			e.Key, e.ASC, e.ASCQ = sense[1]&0x0f, sense[2], sense[3]
		}
	}
	return e
}

func inquiryCDB(evpd bool, page byte, alloc uint16) (c [16]byte) {
	c[0] = cdbInquiry
	if evpd {
		c[1] = 1
		c[2] = page
	}
	binary.BigEndian.PutUint16(c[3:], alloc)
	return c
}

func readCapacity16CDB() (c [16]byte) {
	c[0] = cdbServiceIn16
	c[1] = saReadCapacity16
	binary.BigEndian.PutUint32(c[10:], 32)
	return c
}

func rw16CDB(write bool, lba uint64, blocks uint32) (c [16]byte) {
	c[0] = cdbRead16
	if write {
		c[0] = cdbWrite16
	}
	binary.BigEndian.PutUint64(c[2:], lba)
	binary.BigEndian.PutUint32(c[10:], blocks)
	return c
}

func syncCache10CDB() (c [16]byte) {
	c[0] = cdbSyncCache10 // LBA 0, 0 blocks: the whole medium
	return c
}

func unmapCDB(paramLen int) (c [16]byte) {
	c[0] = cdbUnmap
	binary.BigEndian.PutUint16(c[7:], uint16(paramLen))
	return c
}

// unmapParams builds the UNMAP parameter list for (lba, blocks) extents.
func unmapParams(ext [][2]uint64) []byte {
	b := make([]byte, 8+16*len(ext))
	binary.BigEndian.PutUint16(b[0:], uint16(len(b)-2))
	binary.BigEndian.PutUint16(b[2:], uint16(16*len(ext)))
	for i, e := range ext {
		d := b[8+16*i:]
		binary.BigEndian.PutUint64(d, e[0])
		binary.BigEndian.PutUint32(d[8:], uint32(e[1]))
	}
	return b
}

// command runs a CDB with an optional data buffer (read or write).
func (s *Session) command(cdb [16]byte, read, write bool, buf []byte) (*task, error) {
	t := &task{cdb: cdb, read: read, write: write, buf: buf}
	return t, s.exec(t)
}

// probe checks the LUN after login: TEST UNIT READY (absorbing the unit attentions of a new
// nexus), a direct-access device, its capacity, and the Block Limits / Logical Block
// Provisioning VPD pages when the device has them.
func (s *Session) probe() error {
	if _, err := s.command([16]byte{cdbTestUnitReady}, false, false, nil); err != nil {
		return fmt.Errorf("test unit ready: %w", err)
	}
	inq := make([]byte, 96)
	if _, err := s.command(inquiryCDB(false, 0, uint16(len(inq))), true, false, inq); err != nil {
		return fmt.Errorf("inquiry: %w", err)
	}
	if q, typ := inq[0]>>5, inq[0]&0x1f; q != 0 || typ != 0 {
		return fmt.Errorf("%w: LUN %d is not a direct-access block device (qualifier %d, type 0x%02x)",
			blockdev.ErrIO, s.target.LUN, q, typ)
	}
	if err := s.readCapacity(); err != nil {
		return err
	}
	s.maxXfer = defaultMaxXfer / int(s.blockSize) * int(s.blockSize)
	pages := map[byte]bool{}
	if b, err := s.vpd(0x00); err == nil && len(b) >= 4 {
		n := int(binary.BigEndian.Uint16(b[2:]))
		for _, p := range b[4:min(len(b), 4+n)] {
			pages[p] = true
		}
	}
	lbpu := true
	if pages[0xb2] {
		if b, err := s.vpd(0xb2); err == nil && len(b) >= 6 {
			lbpu = b[5]&0x80 != 0
		}
	}
	if pages[0xb0] {
		if b, err := s.vpd(0xb0); err == nil && len(b) >= 28 {
			if mx := int64(binary.BigEndian.Uint32(b[8:])) * s.blockSize; mx > 0 && mx < int64(s.maxXfer) {
				s.maxXfer = int(mx)
			}
			s.unmapMax = binary.BigEndian.Uint32(b[20:])
			s.unmapDescs = int(binary.BigEndian.Uint32(b[24:]))
			s.unmap = lbpu && s.unmapMax > 0 && s.unmapDescs > 0
			s.unmapDescs = min(s.unmapDescs, 64)
		}
	}
	return nil
}

func (s *Session) vpd(page byte) ([]byte, error) {
	b := make([]byte, 255)
	t, err := s.command(inquiryCDB(true, page, uint16(len(b))), true, false, b)
	if err != nil {
		return nil, err
	}
	b = b[:len(b)-int(min(t.residual, uint32(len(b))))]
	if len(b) < 4 || b[1] != page {
		return nil, fmt.Errorf("VPD page 0x%02x: bad reply", page)
	}
	return b, nil
}

func (s *Session) readCapacity() error {
	b := make([]byte, 32)
	if _, err := s.command(readCapacity16CDB(), true, false, b); err != nil {
		return fmt.Errorf("read capacity(16): %w", err)
	}
	last, bs := binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint32(b[8:])
	if bs == 0 || bs%512 != 0 || bs > 1<<16 {
		return fmt.Errorf("%w: block size %d", blockdev.ErrIO, bs)
	}
	if s.blockSize != 0 && s.blockSize != int64(bs) {
		return fmt.Errorf("%w: block size changed from %d to %d", blockdev.ErrIO, s.blockSize, bs)
	}
	if s.blockSize == 0 {
		s.blockSize = int64(bs)
	}
	s.size.Store(int64(last+1) * int64(bs))
	return nil
}

// refreshCapacity re-reads the capacity after a CAPACITY DATA HAS CHANGED unit attention (an
// online extend). Run without blocking the command that saw it.
func (s *Session) refreshCapacity() {
	go func() {
		if err := s.readCapacity(); err != nil {
			s.log.Warn("iscsi re-reading capacity failed", "err", err)
			return
		}
		s.log.Info("iscsi capacity changed", "size", s.Size())
	}()
}

// Rescan re-reads the LUN's capacity now (after the leg was extended on its dpv), so Size
// reports the new size. tgtd does not always raise CAPACITY DATA HAS CHANGED for a grown backing
// file, so an extend must not wait for that unit attention.
func (s *Session) Rescan(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.readCapacity() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
