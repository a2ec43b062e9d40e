package iscsi

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSCSICommandEncoding(t *testing.T) {
	cdb := rw16CDB(true, 0x0102030405060708, 8)
	p := scsiCmdPDU(1, 0xabcd, cdb[:], false, true, 4096, true, []byte{1, 2, 3})
	p.h.put32(24, 7)  // CmdSN
	p.h.put32(28, 99) // ExpStatSN
	var b bytes.Buffer
	require.NoError(t, writePDU(&b, p))
	raw := b.Bytes()
	require.Len(t, raw, 48+4, "3 data bytes padded to 4")
	want := "01a10000" + "00000003" + // opcode, F|W|SIMPLE, AHS 0, DSL 3
		"0001000000000000" + // LUN 1
		"0000abcd" + "00001000" + "00000007" + "00000063" + // ITT, EDTL, CmdSN, ExpStatSN
		"8a000102030405060708000000080000" + // WRITE(16)
		"01020300"
	require.Equal(t, want, hex.EncodeToString(raw))

	got, err := readPDU(bufio.NewReader(&b), 1<<20)
	require.NoError(t, err)
	require.EqualValues(t, opSCSICmd, got.h.opcode())
	require.EqualValues(t, 0xabcd, got.h.itt())
	require.Equal(t, []byte{1, 2, 3}, got.data)
}

func TestDecodeTargetPDUs(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		op   uint8
		itt  uint32
		data []byte
		fn   func(t *testing.T, h *bhs)
	}{
		{
			name: "Data-In with status and underflow",
			hex: "25830000" + "00000002" + "0001000000000000" + "00000005" + "ffffffff" +
				"00000010" + "00000020" + "00000040" + "00000000" + "00000200" + "00000100" + "abcd0000",
			op: opDataIn, itt: 5, data: []byte{0xab, 0xcd},
			fn: func(t *testing.T, h *bhs) {
				require.NotZero(t, h.flags()&dataInStatus)
				require.EqualValues(t, 0x100, residual(h))
				require.EqualValues(t, 0x200, h.u32(40)) // buffer offset
			},
		},
		{
			name: "R2T",
			hex: "31800000" + "00000000" + "0001000000000000" + "00000009" + "00000077" +
				"00000010" + "00000020" + "00000040" + "00000000" + "00010000" + "00040000",
			op: opR2T, itt: 9,
			fn: func(t *testing.T, h *bhs) {
				require.EqualValues(t, 0x77, h.u32(20))
				require.EqualValues(t, 0x40000, h.u32(44))
			},
		},
		{
			name: "NOP-In ping from target with AHS skipped",
			hex: "20800000" + "01000000" + "0000000000000000" + "ffffffff" + "00000003" +
				"00000010" + "00000020" + "00000040" + "000000000000000000000000" + "deadbeef",
			op: opNOPIn, itt: reservedTag,
			fn: func(t *testing.T, h *bhs) { require.EqualValues(t, 4, h.ahsLen()) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := hex.DecodeString(tc.hex)
			require.NoError(t, err)
			p, err := readPDU(bytes.NewReader(raw), 1<<20)
			require.NoError(t, err)
			require.Equal(t, tc.op, p.h.opcode())
			require.Equal(t, tc.itt, p.h.itt())
			require.Equal(t, tc.data, p.data)
			tc.fn(t, &p.h)
		})
	}
}

func TestReadPDUErrors(t *testing.T) {
	short, _ := hex.DecodeString("2500000000000010")
	_, err := readPDU(bytes.NewReader(short), 1<<20)
	require.Error(t, err)
	var big bhs
	big.setOpcode(opDataIn, false)
	big.setDataLen(1 << 21)
	_, err = readPDU(bytes.NewReader(big[:]), 1<<20)
	require.ErrorIs(t, err, errPDU)
}

func TestSerialArithmetic(t *testing.T) {
	tests := []struct {
		a, b   uint32
		lt, le bool
	}{
		{1, 2, true, true},
		{2, 2, false, true},
		{3, 2, false, false},
		{0xfffffff0, 5, true, true}, // wrapped
		{5, 0xfffffff0, false, false},
	}
	for _, tc := range tests {
		require.Equal(t, tc.lt, seqLT(tc.a, tc.b), "%d<%d", tc.a, tc.b)
		require.Equal(t, tc.le, seqLE(tc.a, tc.b), "%d<=%d", tc.a, tc.b)
	}
}

func TestLUNEncoding(t *testing.T) {
	require.Equal(t, uint64(0x0001)<<48, encodeLUN(1))
	require.Equal(t, uint64(0x4123)<<48, encodeLUN(0x123))
}

func TestSense(t *testing.T) {
	fixed := make([]byte, 18)
	fixed[0], fixed[2], fixed[12], fixed[13] = 0x70, 0x06, 0x29, 0x00
	e := newSenseError(statusCheckCondition, fixed)
	require.Equal(t, SenseError{Status: 2, Key: 6, ASC: 0x29}, *e)
	desc := []byte{0x72, 0x05, 0x24, 0x01, 0, 0, 0, 0}
	e = newSenseError(statusCheckCondition, desc)
	require.Equal(t, SenseError{Status: 2, Key: 5, ASC: 0x24, ASCQ: 1}, *e)
	require.Equal(t, SenseError{Status: 8}, *newSenseError(8, nil))
}
