package iscsi

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// chapMD5 is the CHAP_A value for MD5 (RFC 1994, RFC 7143 §12.1.3).
const chapMD5 = "5"

// decodeCHAPBinary decodes a CHAP binary value: "0x" hex or "0b" base64 (RFC 7143 §6.1).
func decodeCHAPBinary(s string) ([]byte, error) {
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		h := s[2:]
		if len(h)%2 == 1 {
			h = "0" + h
		}
		return hex.DecodeString(h)
	case strings.HasPrefix(s, "0b") || strings.HasPrefix(s, "0B"):
		return base64.StdEncoding.DecodeString(s[2:])
	}
	return nil, fmt.Errorf("iscsi: CHAP value %q is neither hex nor base64", s)
}

// chapResponse computes CHAP_R for identifier id (decimal text), challenge (CHAP_C) and secret:
// MD5(id || secret || challenge), hex encoded.
func chapResponse(id, challenge, secret string) (string, error) {
	n, err := strconv.ParseUint(id, 0, 8)
	if err != nil {
		return "", fmt.Errorf("iscsi: bad CHAP_I %q", id)
	}
	c, err := decodeCHAPBinary(challenge)
	if err != nil {
		return "", err
	}
	if len(c) == 0 {
		return "", fmt.Errorf("iscsi: empty CHAP_C")
	}
	h := md5.New()
	h.Write([]byte{byte(n)})
	h.Write([]byte(secret))
	h.Write(c)
	return "0x" + hex.EncodeToString(h.Sum(nil)), nil
}
