package agentauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func signedRequest(t *testing.T, ctx context.Context, body []byte, secret string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent/v1/legs/x?offset=4", bytes.NewReader(body))
	require.NoError(t, err)
	SetEpoch(req)
	Sign(req, body, []byte(secret))
	return req
}

func TestVerifier(t *testing.T) {
	now := time.Now()
	v := NewVerifier([]byte("k"), VerifierOptions{Window: time.Minute, Now: func() time.Time { return now }})
	body := []byte("payload")
	ctx := WithEpoch(context.Background(), "vol", 7)

	tests := []struct {
		name   string
		mutate func(r *http.Request)
		ok     bool
	}{
		{"valid", func(*http.Request) {}, true},
		{"no signature", func(r *http.Request) { r.Header.Del(HeaderSignature) }, false},
		{"garbage signature", func(r *http.Request) { r.Header.Set(HeaderSignature, "zz") }, false},
		{"method changed", func(r *http.Request) { r.Method = http.MethodDelete }, false},
		{"query changed", func(r *http.Request) { r.URL.RawQuery = "offset=5" }, false},
		{"epoch changed", func(r *http.Request) { r.Header.Set(HeaderEpoch, "8") }, false},
		{"volume changed", func(r *http.Request) { r.Header.Set(HeaderVolume, "other") }, false},
		{"body changed", func(r *http.Request) { r.Body = http.NoBody }, false},
		{"old timestamp", func(r *http.Request) {
			r.Header.Set(HeaderTimestamp, "1")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signedRequest(t, ctx, body, "k")
			tt.mutate(req)
			err := v.Check(req)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnauthenticated)
		})
	}

	t.Run("replay within the window", func(t *testing.T) {
		req := signedRequest(t, ctx, body, "k")
		require.NoError(t, v.Check(req))
		req.Body = http.NoBody
		req2 := signedRequest(t, ctx, body, "k")
		req2.Header = req.Header.Clone()
		require.ErrorIs(t, v.Check(req2), ErrUnauthenticated)
	})
	t.Run("clock skew", func(t *testing.T) {
		req := signedRequest(t, ctx, body, "k")
		now = now.Add(2 * time.Minute)
		defer func() { now = now.Add(-2 * time.Minute) }()
		require.ErrorIs(t, v.Check(req), ErrUnauthenticated)
	})
	t.Run("nonces are forgotten after the window", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			require.NoError(t, v.Check(signedRequest(t, ctx, body, "k")))
		}
		now = now.Add(10 * time.Minute)
		defer func() { now = now.Add(-10 * time.Minute) }()
		// A fresh request triggers the purge.
		req, err := http.NewRequest(http.MethodGet, "http://agent/v1/info", nil)
		require.NoError(t, err)
		req.Header.Set(HeaderTimestamp, itoa(now.UnixMilli()))
		req.Header.Set(HeaderNonce, "n")
		req.Header.Set(HeaderSignature, "00")
		require.Error(t, v.Check(req))
		require.NoError(t, v.remember("n2", now))
		require.Len(t, v.seen, 1)
	})
	require.Nil(t, NewVerifier(nil, VerifierOptions{}), "no secret, no verifier")
	require.NoError(t, (*Verifier)(nil).Check(&http.Request{}))
}

func itoa(n int64) string { return big.NewInt(n).String() }

func TestFence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epochs.json")
	f, err := OpenFence(path)
	require.NoError(t, err)
	require.NoError(t, f.Admit("v", 2))
	require.NoError(t, f.Admit("v", 2))
	require.ErrorIs(t, f.Admit("v", 1), ErrStaleEpoch)
	require.NoError(t, f.Admit("v", 5))
	require.NoError(t, f.Admit("w", 0))
	g, err := OpenFence(path)
	require.NoError(t, err)
	require.Equal(t, int64(5), g.Highest("v"))
	require.ErrorIs(t, g.Admit("v", 4), ErrStaleEpoch)

	require.NoError(t, os.WriteFile(path, []byte("{"), 0o600))
	_, err = OpenFence(path)
	require.Error(t, err)
}

// writeCert writes a certificate signed by parent (self-signed when parent is nil) and returns
// it with its key.
func writeCert(t *testing.T, dir, name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: isCA, BasicConstraintsValid: true}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, key
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", true, nil, nil)
	writeCert(t, dir, "agent", false, ca, caKey)
	writeCert(t, dir, "manager", false, ca, caKey)
	writeCert(t, dir, "rogue", false, nil, nil) // self-signed: not from the CA
	files := func(name string) TLSFiles {
		return TLSFiles{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	}
	stc, err := ServerTLS(files("agent"))
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	srv.TLS = stc
	srv.StartTLS()
	defer srv.Close()

	get := func(f TLSFiles) error {
		ctc, err := ClientTLS(f)
		require.NoError(t, err)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ctc}}
		resp, err := hc.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			require.Equal(t, 204, resp.StatusCode)
		}
		return err
	}
	require.NoError(t, get(files("manager")))
	require.Error(t, get(files("rogue")), "a client certificate from another CA is refused")
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	_, err = noCert.Get(srv.URL)
	require.Error(t, err, "no client certificate is refused")

	_, err = ServerTLS(TLSFiles{CAFile: "x"})
	require.Error(t, err)
	require.False(t, TLSFiles{CAFile: "x"}.Enabled())
}

// TestFenceLog: epochs go to the append log, survive a reopen with or without a compaction in
// between, a torn last line is dropped, and a fence file of the old format (snapshot only) is
// read as it is.
func TestFenceLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "epochs.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"old":7}`), 0o600)) // written by an older agent
	f, err := OpenFence(path)
	require.NoError(t, err)
	require.Equal(t, int64(7), f.Highest("old"))
	require.ErrorIs(t, f.Admit("old", 6), ErrStaleEpoch)
	for i := int64(1); i <= compactAfter+10; i++ {
		require.NoError(t, f.Admit(fmt.Sprintf("v%d", i%3), i))
	}
	require.Less(t, f.logged, 20, "the log was compacted into the snapshot")
	require.NoError(t, f.Admit("late", 3))

	// a crash in the middle of a write: a partial line at the end
	lf, err := os.OpenFile(path+".log", os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = lf.WriteString("torn 99")
	require.NoError(t, err)
	require.NoError(t, lf.Close())

	g, err := OpenFence(path)
	require.NoError(t, err)
	require.Equal(t, int64(7), g.Highest("old"))
	require.Equal(t, int64(compactAfter+10), g.Highest(fmt.Sprintf("v%d", (compactAfter+10)%3)))
	require.Equal(t, int64(3), g.Highest("late"))
	require.Zero(t, g.Highest("torn"), "a partial line was never admitted")
	require.ErrorIs(t, g.Admit("late", 2), ErrStaleEpoch)
	require.NoError(t, g.Admit("next", 1)) // appended after the cut partial line

	h, err := OpenFence(path)
	require.NoError(t, err)
	require.Equal(t, int64(1), h.Highest("next"))
	require.Equal(t, int64(3), h.Highest("late"))

	require.NoError(t, os.WriteFile(path+".log", []byte("garbage\n"), 0o600))
	_, err = OpenFence(path)
	require.Error(t, err)
}
