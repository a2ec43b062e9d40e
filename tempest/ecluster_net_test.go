package tempest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The e2e cluster's network: a bridge on the host (clusterHostIP) and one network namespace
// per node, joined to the bridge by a veth pair, with its own address.
const (
	clusterBridge = "dlvme0"
	clusterNSPref = "dlvme-"
	clusterHostIP = "10.77.0.1"
	clusterPrefix = "/24"
)

// ip runs the ip command and fails the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
}

// cleanClusterNet removes what an earlier run may have left: our namespaces and the bridge
// (deleting a namespace deletes its veth end, and with it the pair).
func cleanClusterNet() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, clusterNSPref) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
	_ = exec.Command("ip", "link", "del", clusterBridge).Run()
}

// setupClusterNet creates the bridge and one namespace per node (name -> last octet); each
// namespace has lo and its veth end up with address 10.77.0.<octet>.
func setupClusterNet(t *testing.T, nodes map[string]int) {
	t.Helper()
	cleanClusterNet()
	t.Cleanup(cleanClusterNet)
	ip(t, "link", "add", clusterBridge, "type", "bridge")
	ip(t, "addr", "add", clusterHostIP+clusterPrefix, "dev", clusterBridge)
	ip(t, "link", "set", clusterBridge, "up")
	for name, octet := range nodes {
		ns := clusterNSPref + name
		host, peer := fmt.Sprintf("dlvmeh%d", octet), fmt.Sprintf("dlvmen%d", octet)
		ip(t, "netns", "add", ns)
		ip(t, "link", "add", host, "type", "veth", "peer", "name", peer)
		ip(t, "link", "set", peer, "netns", ns)
		ip(t, "link", "set", host, "master", clusterBridge, "up")
		ip(t, "-n", ns, "addr", "add", fmt.Sprintf("10.77.0.%d%s", octet, clusterPrefix), "dev", peer)
		ip(t, "-n", ns, "link", "set", peer, "up")
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
}

// forwarder relays TCP connections from a host-side address the namespaces reach to a service
// listening on the host's loopback (MariaDB, RabbitMQ). DropAll cuts every open connection, as
// a network blip or a server restart would.
type forwarder struct {
	l      net.Listener
	target string

	mu    stdsync.Mutex
	conns map[net.Conn]struct{}
}

func newForwarder(t *testing.T, listen, target string) *forwarder {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	require.NoError(t, err)
	f := &forwarder{l: l, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { l.Close(); f.DropAll() })
	go f.serve()
	return f
}

func (f *forwarder) serve() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		go f.relay(c)
	}
}

func (f *forwarder) track(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
}

func (f *forwarder) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.conns, c)
		c.Close()
	}
}

func (f *forwarder) relay(c net.Conn) {
	u, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	f.track(c, u)
	defer f.untrack(c, u)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(u, c)
	go pipe(c, u)
	<-done
}

// DropAll closes every relayed connection (both sides) and returns how many pairs it cut.
func (f *forwarder) DropAll() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.conns) / 2
	for c := range f.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a polite close
		}
		c.Close()
		delete(f.conns, c)
	}
	return n
}

// balancer is the load balancer in front of the API copies, as an operator runs HAProxy: each
// request goes to the next backend on a fresh connection, and a backend that refuses the
// connection (stopped, restarting) is skipped for the next one. A GET or HEAD whose connection
// closed with no response (a backend that stopped with the connection still in its accept
// queue) goes to the next backend too, as HAProxy's retry-on empty-response does for idempotent
// requests; any other request a backend accepted is never sent twice.
type balancer struct {
	backends []string // host:port
	next     atomic.Uint64
	tr       *http.Transport
}

func newBalancer(backends ...string) *balancer {
	return &balancer{backends: backends, tr: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext, ResponseHeaderTimeout: 120 * time.Second}}
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp *http.Response
	first := b.next.Add(1) // round robin over requests; a request's retries go on from its own pick
	for try := 0; try < 4*len(b.backends); try++ {
		be := b.backends[(first+uint64(try))%uint64(len(b.backends))]
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", be
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		resp, err = b.tr.RoundTrip(out)
		idempotent := r.Method == http.MethodGet || r.Method == http.MethodHead
		if err == nil || !(refused(err) || idempotent) {
			break
		}
		if try >= len(b.backends) {
			time.Sleep(250 * time.Millisecond) // every backend down: wait for one to come back
		}
	}
	if err != nil {
		http.Error(w, "balancer: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// refused says the backend did not take the connection: nothing was sent.
func refused(err error) bool {
	var ne *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &ne) && ne.Op == "dial")
}

// countingTransport counts client requests and those that failed (transport error or 5xx).
type countingTransport struct {
	base         http.RoundTripper
	sent, failed atomic.Int64
	mu           stdsync.Mutex
	failures     []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.sent.Add(1)
	resp, err := c.base.RoundTrip(r)
	if err != nil || resp.StatusCode >= 500 {
		c.failed.Add(1)
		msg := fmt.Sprint(err)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			msg = resp.Status + " " + string(b)
		}
		c.mu.Lock()
		c.failures = append(c.failures, fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, msg))
		c.mu.Unlock()
	}
	return resp, err
}

// snapshot returns the counters, for differences around a scenario.
func (c *countingTransport) snapshot() (int64, int64) { return c.sent.Load(), c.failed.Load() }

func httpClient(timeout time.Duration) *http.Client { return &http.Client{Timeout: timeout} }
