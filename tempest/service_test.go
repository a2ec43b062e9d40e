package tempest

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/stretchr/testify/require"
)

// service is a running `dlvm all-in-one` started by a test.
type service struct {
	dataDir  string
	apiURL   string
	authURL  string
	env      map[string]string // from the openrc it printed
	cmd      *exec.Cmd
	tgtBase  int // first local dpv's tgtd port (portal = control port); dpv-N uses tgtBase+N-1
	connPort int // the local connector daemon's port
	// directAPI makes clients talk to apiURL instead of the catalog's block-storage endpoint
	// (a shared Keystone's catalog names a fixed port).
	directAPI bool
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeTgtPort picks a port usable both as a tgtd iSCSI portal and as its control port (tgtd takes
// control ports up to 32767): free on loopback and with no tgtd control socket of that number.
func freeTgtPort(t *testing.T, span int) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		p := 20000 + rand.IntN(12000)
		ok := true
		for j := 0; j < span && ok; j++ {
			if _, err := os.Stat(fmt.Sprintf("/var/run/tgtd/socket.%d", p+j)); err == nil {
				ok = false
			}
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+j))
			if err != nil {
				ok = false
			} else {
				l.Close()
			}
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port range for tgtd")
	return 0
}

// binary returns the dlvm binary: $DLVM_BIN, or one built into a temp dir.
// connectorURL is the all-in-one's local connector daemon.
func (s *service) connectorURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.connPort) }

// agentSecret is the shared secret all-in-one generated in its data dir for agent calls.
func (s *service) agentSecret(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "agent-secret"))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

func binary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("DLVM_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		require.NoError(t, err)
		return abs
	}
	out := filepath.Join(t.TempDir(), "dlvm")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/dlvm")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run(), "building dlvm")
	return out
}

// allInOneDPVs is the all-in-one's default dpv_count (dpv-1..3 in backend dlvm-1, dpv-4..5 in
// dlvm-2); each needs an agent port and a tgtd port.
const allInOneDPVs = 5

// startService runs `dlvm all-in-one` on a fresh data dir and free ports (extraArgs are added to
// its command line), waits until its API answers and its openrc exists, and stops it (SIGTERM)
// when the test ends. A free port picked here can be taken by a parallel test before dlvm binds
// it: when dlvm exits early saying so, it is started again on other ports (twice at most).
func startService(t *testing.T, extraArgs ...string) *service {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, log := tryStartService(t, extraArgs)
		if s != nil {
			return s
		}
		if attempt < 3 && strings.Contains(log, "address already in use") {
			t.Logf("dlvm found a port taken; starting it again on other ports")
			continue
		}
		t.Fatalf("dlvm did not come up in 60 s:\n%s", tail(log, 60))
	}
}

// tryStartService is one attempt of startService: the service, or nil and dlvm's log.
func tryStartService(t *testing.T, extraArgs []string) (*service, string) {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	api, id, dpv := freePort(t), freePort(t), freePort(t)
	for dpv+allInOneDPVs > 65535 {
		dpv = freePort(t)
	}
	s := &service{dataDir: dir, apiURL: fmt.Sprintf("http://127.0.0.1:%d", api), authURL: fmt.Sprintf("http://127.0.0.1:%d/v3", id),
		tgtBase: freeTgtPort(t, allInOneDPVs), connPort: freePort(t)}
	logf, err := os.Create(filepath.Join(dir, "dlvm.log"))
	require.NoError(t, err)
	s.cmd = exec.Command(bin, "all-in-one", "--data-dir", dir, "--api-port", fmt.Sprint(api),
		"--identity-port", fmt.Sprint(id), "--dpv-base-port", fmt.Sprint(dpv), "--target-base-port", fmt.Sprint(s.tgtBase),
		"--connector-port", fmt.Sprint(s.connPort))
	s.cmd.Args = append(s.cmd.Args, extraArgs...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	require.NoError(t, s.cmd.Start())
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	readLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "dlvm.log"))
		return string(b)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			t.Errorf("dlvm did not stop within 15 s of SIGINT")
		}
		logf.Close()
		if t.Failed() {
			t.Logf("dlvm log:\n%s", tail(readLog(), 60))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.apiURL + "/")
		if err == nil {
			resp.Body.Close()
			if _, err := os.Stat(filepath.Join(dir, "openrc")); err == nil {
				break
			}
		}
		select {
		case <-exited:
			return nil, readLog()
		default:
		}
		if time.Now().After(deadline) {
			return nil, readLog()
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.env = readOpenrc(t, filepath.Join(dir, "openrc"))
	return s, ""
}

func readOpenrc(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		env[k] = strings.Trim(v, `"'`)
	}
	require.NotEmpty(t, env["OS_AUTH_URL"], "openrc has OS_AUTH_URL")
	return env
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// client authenticates as user/password in project and returns a block-storage v3 client and the
// project id.
func (s *service) client(t *testing.T, user, password, project string) (*gophercloud.ServiceClient, string) {
	t.Helper()
	ctx := context.Background()
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: s.env["OS_AUTH_URL"], Username: user, Password: password,
		DomainName: "Default", TenantName: project,
	})
	require.NoError(t, err)
	bs, err := openstack.NewBlockStorageV3(pc, gophercloud.EndpointOpts{Region: "RegionOne"})
	require.NoError(t, err)
	p, err := pc.GetAuthResult().(tokens.CreateResult).ExtractProject()
	require.NoError(t, err)
	if s.directAPI {
		bs.Endpoint = s.apiURL + "/v3/" + p.ID + "/"
		bs.ResourceBase = bs.Endpoint
	}
	return bs, p.ID
}

// legFiles lists the leg image files of every local dpv.
func (s *service) legFiles(t *testing.T) map[string]bool {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.dataDir, "dpv-*", "legs", "*.img"))
	require.NoError(t, err)
	out := map[string]bool{}
	for _, p := range m {
		out[p] = true
	}
	return out
}
