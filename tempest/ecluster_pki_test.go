package tempest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clusterPKI is the operator's CA of the e2e cluster and a certificate per node (its address as
// IP SAN), for mutual TLS between managers and agents.
type clusterPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newClusterPKI(t *testing.T, dir string) *clusterPKI {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	p := &clusterPKI{dir: dir, serial: 1}
	p.ca, p.caKey = p.issue(t, "ca", nil, true)
	return p
}

// issue writes NAME.crt and NAME.key; ip may be nil.
func (p *clusterPKI) issue(t *testing.T, name string, ip net.IP, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: "dlvm-e2e " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	parent, parentKey := tmpl, key
	if p.ca != nil {
		parent, parentKey = p.ca, p.caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p.file(name, "crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(p.file(name, "key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, key
}

func (p *clusterPKI) file(name, ext string) string { return filepath.Join(p.dir, name+"."+ext) }

// agentSection is the [agent] TLS options of a node.
func (p *clusterPKI) agentSection(node string) string {
	return "ca_file = " + p.file("ca", "crt") + "\ncert_file = " + p.file(node, "crt") + "\nkey_file = " + p.file(node, "key") + "\n"
}

// clientTLS is the test driver's own client certificate, to read agents as a manager does.
func (p *clusterPKI) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	p.issue(t, "driver", nil, false)
	cert, err := tls.LoadX509KeyPair(p.file("driver", "crt"), p.file("driver", "key"))
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(p.ca)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: roots}
}
