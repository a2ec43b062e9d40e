package iscsi

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// kv is one text key=value pair (RFC 7143 §6.1). Order matters on the wire, so pairs are kept
// in a slice rather than a map.
type kv struct{ k, v string }

// encodeText encodes pairs as NUL-terminated "key=value" strings.
func encodeText(pairs []kv) []byte {
	var b bytes.Buffer
	for _, p := range pairs {
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// parseText decodes a text data segment. Empty strings between NULs are skipped (some targets
// pad); a string without '=' is an error.
func parseText(data []byte) ([]kv, error) {
	var out []kv
	for _, s := range bytes.Split(data, []byte{0}) {
		if len(s) == 0 {
			continue
		}
		k, v, ok := strings.Cut(string(s), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: text key without value: %q", errPDU, s)
		}
		out = append(out, kv{k, v})
	}
	return out, nil
}

// params are the operational parameters of a session as negotiated at login. Fields start at
// the RFC 7143 defaults (§13) and are updated from the target's answers.
type params struct {
	// maxSendSegment is the target's MaxRecvDataSegmentLength: the most data we put in one PDU.
	maxSendSegment uint32
	// maxRecvSegment is our own declared MaxRecvDataSegmentLength.
	maxRecvSegment    uint32
	maxBurst          uint32
	firstBurst        uint32
	initialR2T        bool
	immediateData     bool
	maxOutstandingR2T uint32
	dataPDUInOrder    bool
	dataSeqInOrder    bool
	errorRecovery     uint32
	time2Wait         uint32
	time2Retain       uint32
}

// Values we offer.
const (
	offerMaxRecvSegment = 262144
	offerMaxBurst       = 1048576
	offerFirstBurst     = 262144
)

func defaultParams() params {
	return params{
		maxSendSegment:    8192,
		maxRecvSegment:    offerMaxRecvSegment,
		maxBurst:          262144,
		firstBurst:        65536,
		initialR2T:        true,
		immediateData:     true,
		maxOutstandingR2T: 1,
		dataPDUInOrder:    true,
		dataSeqInOrder:    true,
		errorRecovery:     0,
		time2Wait:         2,
		time2Retain:       20,
	}
}

// operationalOffer is what we propose in LoginOperationalNegotiation.
func operationalOffer() []kv {
	return []kv{
		{"HeaderDigest", "None"},
		{"DataDigest", "None"},
		{"MaxConnections", "1"},
		{"InitialR2T", "No"},
		{"ImmediateData", "Yes"},
		{"MaxRecvDataSegmentLength", strconv.Itoa(offerMaxRecvSegment)},
		{"MaxBurstLength", strconv.Itoa(offerMaxBurst)},
		{"FirstBurstLength", strconv.Itoa(offerFirstBurst)},
		{"DefaultTime2Wait", "0"},
		{"DefaultTime2Retain", "0"},
		{"MaxOutstandingR2T", "1"},
		{"DataPDUInOrder", "Yes"},
		{"DataSequenceInOrder", "Yes"},
		{"ErrorRecoveryLevel", "0"},
	}
}

// answerFor returns our reply to a key the target offered without our having offered it
// (a target-initiated negotiation), or ok=false when nothing is to be said (declarative keys
// and answers to our own offers).
func answerFor(key, value string, offered map[string]bool) (reply kv, ok bool) {
	if offered[key] {
		return kv{}, false
	}
	switch key {
	case "MaxRecvDataSegmentLength", "TargetAlias", "TargetPortalGroupTag", "TargetAddress",
		"TargetName", "AuthMethod", "CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R":
		return kv{}, false
	case "HeaderDigest", "DataDigest":
		return kv{key, "None"}, true
	case "MaxConnections", "MaxOutstandingR2T":
		return kv{key, "1"}, true
	case "ErrorRecoveryLevel", "DefaultTime2Retain", "DefaultTime2Wait":
		return kv{key, "0"}, true
	case "IFMarker", "OFMarker":
		return kv{key, "No"}, true
	case "InitialR2T", "ImmediateData", "DataPDUInOrder", "DataSequenceInOrder",
		"MaxBurstLength", "FirstBurstLength":
		// Accept the target's value; apply() records it.
		return kv{key, value}, true
	}
	return kv{key, "NotUnderstood"}, true
}

// apply records the target's answer (or declaration) for one key. Numeric keys negotiated by
// minimum take min(ours, theirs); booleans follow the OR (InitialR2T, DataPDUInOrder,
// DataSequenceInOrder) and AND (ImmediateData) rules of RFC 7143 §13. "Reject", "Irrelevant"
// and "NotUnderstood" leave the default in place.
func (p *params) apply(key, value string) error {
	switch value {
	case "Reject", "Irrelevant", "NotUnderstood":
		return nil
	}
	num := func(ours uint32, lo, hi uint64) (uint32, error) {
		n, err := strconv.ParseUint(value, 0, 32)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("iscsi: bad value %s=%q from target", key, value)
		}
		return min(ours, uint32(n)), nil
	}
	boolean := func() (bool, error) {
		switch value {
		case "Yes":
			return true, nil
		case "No":
			return false, nil
		}
		return false, fmt.Errorf("iscsi: bad value %s=%q from target", key, value)
	}
	var err error
	switch key {
	case "HeaderDigest", "DataDigest":
		if value != "None" {
			return fmt.Errorf("iscsi: target insists on %s=%s", key, value)
		}
	case "MaxRecvDataSegmentLength":
		p.maxSendSegment, err = num(1<<24-1, 512, 1<<24-1)
	case "MaxBurstLength":
		p.maxBurst, err = num(offerMaxBurst, 512, 1<<24-1)
	case "FirstBurstLength":
		p.firstBurst, err = num(offerFirstBurst, 512, 1<<24-1)
	case "MaxOutstandingR2T":
		p.maxOutstandingR2T, err = num(1, 1, 65535)
	case "ErrorRecoveryLevel":
		p.errorRecovery, err = num(0, 0, 2)
	case "DefaultTime2Retain":
		p.time2Retain, err = num(0, 0, 3600)
	case "DefaultTime2Wait":
		var n uint32
		n, err = num(3600, 0, 3600)
		p.time2Wait = n // max(ours=0, theirs)
	case "InitialR2T":
		var b bool
		b, err = boolean()
		p.initialR2T = b // OR with our "No": the target's value wins
	case "ImmediateData":
		var b bool
		b, err = boolean()
		p.immediateData = b // AND with our "Yes"
	case "DataPDUInOrder":
		var b bool
		b, err = boolean()
		p.dataPDUInOrder = b
	case "DataSequenceInOrder":
		var b bool
		b, err = boolean()
		p.dataSeqInOrder = b
	case "MaxConnections":
		_, err = num(1, 1, 65535)
	}
	return err
}

// check rejects parameter combinations this initiator does not implement.
func (p *params) check() error {
	if p.errorRecovery != 0 {
		return fmt.Errorf("iscsi: ErrorRecoveryLevel=%d not supported", p.errorRecovery)
	}
	if !p.dataPDUInOrder || !p.dataSeqInOrder {
		return fmt.Errorf("iscsi: out-of-order data not supported")
	}
	if p.firstBurst > p.maxBurst {
		p.firstBurst = p.maxBurst
	}
	return nil
}
