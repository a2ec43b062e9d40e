package agentauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles name the PEM files of mutual TLS between managers and agents: the operator's CA
// that signs every party's certificate, and this party's certificate and key.
type TLSFiles struct {
	CAFile   string
	CertFile string
	KeyFile  string
}

// Enabled reports whether mutual TLS is configured (all three files given).
func (f TLSFiles) Enabled() bool { return f.CAFile != "" && f.CertFile != "" && f.KeyFile != "" }

func (f TLSFiles) load() (*x509.CertPool, tls.Certificate, error) {
	if !f.Enabled() {
		return nil, tls.Certificate{}, errors.New("agentauth: mutual TLS needs ca_file, cert_file and key_file")
	}
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("agentauth: ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, tls.Certificate{}, fmt.Errorf("agentauth: ca_file %s holds no PEM certificate", f.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("agentauth: cert_file/key_file: %w", err)
	}
	return pool, cert, nil
}

// ServerTLS is the listener side: it presents this party's certificate and requires a client
// certificate signed by the CA.
func ServerTLS(f TLSFiles) (*tls.Config, error) {
	pool, cert, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}, nil
}

// ClientTLS is the calling side: it trusts only the CA and presents this party's certificate.
func ClientTLS(f TLSFiles) (*tls.Config, error) {
	pool, cert, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}
