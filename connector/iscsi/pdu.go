package iscsi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PDU opcodes (RFC 7143 §11.2.1.2).
const (
	opNOPOut      = 0x00
	opSCSICmd     = 0x01
	opLoginReq    = 0x03
	opDataOut     = 0x05
	opLogoutReq   = 0x06
	opNOPIn       = 0x20
	opSCSIResp    = 0x21
	opTaskMgmtRsp = 0x22
	opLoginResp   = 0x23
	opTextResp    = 0x24
	opDataIn      = 0x25
	opLogoutResp  = 0x26
	opR2T         = 0x31
	opAsync       = 0x32
	opReject      = 0x3f
)

const (
	bhsLen = 48
	// immediateBit marks an immediate PDU in byte 0 of the BHS.
	immediateBit = 0x40
	// flagFinal is the F bit of byte 1.
	flagFinal = 0x80
	// reservedTag is the "no tag" value for ITT and TTT.
	reservedTag = 0xffffffff
	// maxDataSegment bounds what we accept in one PDU's data segment (24-bit field; we
	// declare far less, so anything bigger is garbage).
	maxDataSegment = 1 << 24
)

// SCSI Command flags (byte 1).
const (
	cmdFlagRead   = 0x40
	cmdFlagWrite  = 0x20
	cmdAttrSimple = 0x01
)

// Data-In / SCSI Response flags (byte 1).
const (
	dataInStatus    = 0x01
	flagUnderflow   = 0x02
	loginFlagTrans  = 0x80
	loginFlagCont   = 0x40
	stageSecurity   = 0
	stageOperation  = 1
	stageFullFeatur = 3
)

var errPDU = errors.New("iscsi: malformed PDU")

// bhs is a Basic Header Segment. Accessors read and write the fields shared by most PDUs; the
// offsets of the opcode-specific ones are named at their use.
type bhs [bhsLen]byte

func (h *bhs) opcode() uint8      { return h[0] & 0x3f }
func (h *bhs) immediate() bool    { return h[0]&immediateBit != 0 }
func (h *bhs) flags() uint8       { return h[1] }
func (h *bhs) ahsLen() int        { return int(h[4]) * 4 }
func (h *bhs) dataLen() int       { return int(h[5])<<16 | int(h[6])<<8 | int(h[7]) }
func (h *bhs) itt() uint32        { return h.u32(16) }
func (h *bhs) u32(off int) uint32 { return binary.BigEndian.Uint32(h[off:]) }
func (h *bhs) u16(off int) uint16 { return binary.BigEndian.Uint16(h[off:]) }

func (h *bhs) setOpcode(op uint8, immediate bool) {
	h[0] = op & 0x3f
	if immediate {
		h[0] |= immediateBit
	}
}

func (h *bhs) setDataLen(n int) {
	h[5], h[6], h[7] = byte(n>>16), byte(n>>8), byte(n)
}

func (h *bhs) put32(off int, v uint32) { binary.BigEndian.PutUint32(h[off:], v) }
func (h *bhs) put16(off int, v uint16) { binary.BigEndian.PutUint16(h[off:], v) }

// setLUN encodes a LUN in bytes 8..15 (SAM-5 peripheral addressing below 256, flat space up to
// 16383).
func (h *bhs) setLUN(lun uint64) { binary.BigEndian.PutUint64(h[8:], encodeLUN(lun)) }

func encodeLUN(lun uint64) uint64 {
	if lun < 256 {
		return lun << 48
	}
	return (0x4000 | (lun & 0x3fff)) << 48
}

// pdu is one PDU to send or one received: header plus data segment (unpadded, no digests: we
// negotiate HeaderDigest=None and DataDigest=None).
type pdu struct {
	h    bhs
	data []byte
}

// padLen is the number of pad bytes after a data segment of n bytes.
func padLen(n int) int { return (4 - n%4) % 4 }

var zeroPad [4]byte

// writePDU writes p to w, filling in DataSegmentLength.
func writePDU(w io.Writer, p *pdu) error {
	p.h.setDataLen(len(p.data))
	p.h[4] = 0
	if _, err := w.Write(p.h[:]); err != nil {
		return err
	}
	if len(p.data) == 0 {
		return nil
	}
	if _, err := w.Write(p.data); err != nil {
		return err
	}
	if n := padLen(len(p.data)); n > 0 {
		if _, err := w.Write(zeroPad[:n]); err != nil {
			return err
		}
	}
	return nil
}

// readHeader reads a BHS and skips any AHS. The data segment is left for the caller (see
// readData), so Data-In can land directly in the caller's buffer.
func readHeader(r io.Reader, h *bhs) error {
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	if n := h.ahsLen(); n > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return err
		}
	}
	if h.dataLen() > maxDataSegment {
		return fmt.Errorf("%w: data segment of %d bytes", errPDU, h.dataLen())
	}
	return nil
}

// readData reads the data segment announced by h into dst (len(dst) must equal h.dataLen())
// and consumes the padding.
func readData(r io.Reader, h *bhs, dst []byte) error {
	if len(dst) != h.dataLen() {
		return fmt.Errorf("%w: data length mismatch", errPDU)
	}
	if _, err := io.ReadFull(r, dst); err != nil {
		return err
	}
	if n := padLen(len(dst)); n > 0 {
		var pad [4]byte
		if _, err := io.ReadFull(r, pad[:n]); err != nil {
			return err
		}
	}
	return nil
}

// readPDU reads one whole PDU, data segment included, limited to maxData bytes of data.
func readPDU(r io.Reader, maxData int) (*pdu, error) {
	p := &pdu{}
	if err := readHeader(r, &p.h); err != nil {
		return nil, err
	}
	n := p.h.dataLen()
	if n > maxData {
		return nil, fmt.Errorf("%w: data segment of %d bytes exceeds %d", errPDU, n, maxData)
	}
	if n > 0 {
		p.data = make([]byte, n)
	}
	if err := readData(r, &p.h, p.data); err != nil {
		return nil, err
	}
	return p, nil
}

// scsiCmdPDU builds a SCSI Command PDU. CmdSN and ExpStatSN are filled when it is sent.
func scsiCmdPDU(lun uint64, itt uint32, cdb []byte, read, write bool, edtl uint32, final bool, imm []byte) *pdu {
	p := &pdu{data: imm}
	p.h.setOpcode(opSCSICmd, false)
	f := uint8(cmdAttrSimple)
	if final {
		f |= flagFinal
	}
	if read {
		f |= cmdFlagRead
	}
	if write {
		f |= cmdFlagWrite
	}
	p.h[1] = f
	p.h.setLUN(lun)
	p.h.put32(16, itt)
	p.h.put32(20, edtl)
	copy(p.h[32:48], cdb)
	return p
}

// dataOutPDU builds a Data-Out PDU for a burst (ttt = reservedTag for unsolicited data).
func dataOutPDU(lun uint64, itt, ttt, dataSN, offset uint32, final bool, data []byte) *pdu {
	p := &pdu{data: data}
	p.h.setOpcode(opDataOut, false)
	if final {
		p.h[1] = flagFinal
	}
	p.h.setLUN(lun)
	p.h.put32(16, itt)
	p.h.put32(20, ttt)
	p.h.put32(36, dataSN)
	p.h.put32(40, offset)
	return p
}

// nopOutPDU builds an immediate NOP-Out: a ping (itt set, ttt reserved) or the answer to a
// target's NOP-In (itt reserved, ttt and lun copied, data echoed).
func nopOutPDU(itt, ttt uint32, lunField uint64, data []byte) *pdu {
	p := &pdu{data: data}
	p.h.setOpcode(opNOPOut, true)
	p.h[1] = flagFinal
	binary.BigEndian.PutUint64(p.h[8:], lunField)
	p.h.put32(16, itt)
	p.h.put32(20, ttt)
	return p
}

// logoutPDU builds an immediate Logout Request closing the session (reason 0).
func logoutPDU(itt uint32) *pdu {
	p := &pdu{}
	p.h.setOpcode(opLogoutReq, true)
	p.h[1] = flagFinal
	p.h.put32(16, itt)
	return p
}

// seqLT reports a < b in 32-bit serial number arithmetic (RFC 1982), as CmdSN comparisons use.
func seqLT(a, b uint32) bool { return a != b && int32(a-b) < 0 }

// seqLE reports a <= b in serial number arithmetic.
func seqLE(a, b uint32) bool { return a == b || int32(a-b) < 0 }
