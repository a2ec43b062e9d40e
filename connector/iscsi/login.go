package iscsi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Login failures. A *LoginError wraps one of them.
var (
	// ErrAuth: the target refused our credentials (status 0x0201), or asked for CHAP when we
	// have none.
	ErrAuth = errors.New("iscsi: authentication failed")
	// ErrForbidden: the initiator is not allowed to reach the target (0x0202, ACL).
	ErrForbidden = errors.New("iscsi: initiator not authorized")
	// ErrNotFound: the target does not exist on this portal (0x0203, 0x0204).
	ErrNotFound = errors.New("iscsi: target not found")
	// ErrLogin: any other refused or failed login.
	ErrLogin = errors.New("iscsi: login failed")
)

// LoginError is a Login Response with a non-zero status (RFC 7143 §11.13.5).
type LoginError struct {
	Class, Detail uint8
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("%v (status class 0x%02x detail 0x%02x)", e.Unwrap(), e.Class, e.Detail)
}

// Unwrap maps the status to one of the package's login errors.
func (e *LoginError) Unwrap() error {
	switch {
	case e.Class == 2 && e.Detail == 1:
		return ErrAuth
	case e.Class == 2 && e.Detail == 2:
		return ErrForbidden
	case e.Class == 2 && (e.Detail == 3 || e.Detail == 4):
		return ErrNotFound
	}
	return ErrLogin
}

// loginResult is what a successful login leaves for the full feature phase.
type loginResult struct {
	p         params
	tsih      uint16
	expStatSN uint32
	expCmdSN  uint32
	maxCmdSN  uint32
}

const loginITT = 0x4c4f4749 // any tag works during login; "LOGI" reads well in captures

// login runs the login phase on a fresh connection (RFC 7143 §6.3): security negotiation
// (CHAP or none), operational negotiation, then full feature phase. ctx bounds the whole
// exchange.
func login(ctx context.Context, nc net.Conn, t Target, isid [6]byte, cmdSN uint32) (loginResult, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
		defer func() { _ = nc.SetDeadline(time.Time{}) }()
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	r := bufio.NewReaderSize(nc, 64<<10)
	res := loginResult{p: defaultParams()}
	var expStatSN uint32
	csg, nsg, transit := uint8(stageSecurity), uint8(stageOperation), true
	keys := []kv{
		{"InitiatorName", t.InitiatorIQN},
		{"TargetName", t.IQN},
		{"SessionType", "Normal"},
	}
	chap := t.CHAPUser != ""
	if chap {
		keys = append(keys, kv{"AuthMethod", "CHAP,None"})
		transit = false
	} else {
		keys = append(keys, kv{"AuthMethod", "None"})
	}
	offered := map[string]bool{}
	sentCHAPA := false
	sentOp := false

	for range 16 {
		for _, k := range keys {
			offered[k.k] = true
		}
		req := &pdu{data: encodeText(keys)}
		req.h.setOpcode(opLoginReq, true)
		f := csg << 2
		if transit {
			f |= loginFlagTrans | nsg
		}
		req.h[1] = f
		copy(req.h[8:14], isid[:])
		req.h.put16(14, 0) // TSIH 0: a new session (or reinstatement of ours at ERL 0)
		req.h.put32(16, loginITT)
		req.h.put32(24, cmdSN)
		req.h.put32(28, expStatSN)
		if err := writePDU(nc, req); err != nil {
			return res, ctxErr(ctx, err)
		}

		var (
			resp  *pdu
			reply []kv
		)
		for { // gather a response split over several PDUs (C bit)
			p, err := readPDU(r, 1<<20)
			if err != nil {
				return res, ctxErr(ctx, err)
			}
			if p.h.opcode() != opLoginResp {
				return res, fmt.Errorf("%w: opcode 0x%02x during login", errPDU, p.h.opcode())
			}
			if class, detail := p.h[36], p.h[37]; class != 0 {
				return res, &LoginError{Class: class, Detail: detail}
			}
			kvs, err := parseText(p.data)
			if err != nil {
				return res, err
			}
			reply = append(reply, kvs...)
			resp = p
			expStatSN = p.h.u32(24) + 1
			if p.h.flags()&loginFlagCont == 0 {
				break
			}
			cont := &pdu{}
			cont.h = req.h
			cont.h.put32(28, expStatSN)
			cont.data = nil
			if err := writePDU(nc, cont); err != nil {
				return res, ctxErr(ctx, err)
			}
		}

		rf := resp.h.flags()
		rcsg, rnsg, rtransit := (rf>>2)&3, rf&3, rf&loginFlagTrans != 0
		res.tsih = resp.h.u16(14)
		res.expStatSN = expStatSN
		res.expCmdSN, res.maxCmdSN = resp.h.u32(28), resp.h.u32(32)
		if rtransit && rnsg == stageFullFeatur {
			for _, k := range reply {
				if err := res.p.apply(k.k, k.v); err != nil {
					return res, err
				}
			}
			if !sentOp {
				// Skipped operational negotiation: defaults apply.
				res.p = defaultParams()
			}
			return res, res.p.check()
		}

		keys = nil
		switch rcsg {
		case stageSecurity:
			got := map[string]string{}
			for _, k := range reply {
				got[k.k] = k.v
			}
			switch {
			case got["AuthMethod"] == "CHAP" && !chap:
				return res, fmt.Errorf("%w: target requires CHAP", ErrAuth)
			case got["AuthMethod"] == "CHAP" && !sentCHAPA:
				keys = []kv{{"CHAP_A", chapMD5}}
				sentCHAPA, transit = true, false
			case got["CHAP_C"] != "":
				if got["CHAP_A"] != chapMD5 {
					return res, fmt.Errorf("%w: target chose CHAP_A=%s", ErrAuth, got["CHAP_A"])
				}
				r, err := chapResponse(got["CHAP_I"], got["CHAP_C"], t.CHAPSecret)
				if err != nil {
					return res, fmt.Errorf("%w: %v", ErrAuth, err)
				}
				keys = []kv{{"CHAP_N", t.CHAPUser}, {"CHAP_R", r}}
				nsg, transit = stageOperation, true
			default:
				nsg, transit = stageOperation, true
			}
			if rtransit {
				csg = rnsg
			}
		case stageOperation:
			csg = stageOperation
		default:
			return res, fmt.Errorf("%w: login response in stage %d", errPDU, rcsg)
		}
		if csg == stageOperation {
			if !sentOp {
				keys = operationalOffer()
				sentOp = true
			} else {
				for _, k := range reply {
					if err := res.p.apply(k.k, k.v); err != nil {
						return res, err
					}
					if a, ok := answerFor(k.k, k.v, offered); ok {
						keys = append(keys, a)
					}
				}
			}
			nsg, transit = stageFullFeatur, true
		}
	}
	return res, fmt.Errorf("%w: login did not converge", ErrLogin)
}

// ctxErr prefers the context's error when the context ended the exchange.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %v", ctx.Err(), err)
	}
	return err
}
