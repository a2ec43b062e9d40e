package iscsi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testInitiator = "iqn.2024-01.org.dlvm:test-initiator"

// tgtdConfig describes the one target a test tgtd serves.
type tgtdConfig struct {
	size       int64  // LUN size in bytes; default 64 MiB
	chapUser   string // empty: no CHAP account bound
	chapSecret string
	allow      string // initiator allowed by the ACL; default testInitiator
	thin       bool   // thin_provisioning=1: UNMAP supported, punches holes
	// iSCSI session parameters set on the target (tgtadm --op update --name K --value V).
	params [][2]string
}

// tgtd is a real tgtd on its own portal and control port, serving one target with LUN 1 on a
// sparse file.
type tgtd struct {
	t    testing.TB
	cfg  tgtdConfig
	port int
	ctl  int
	file string
	iqn  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

func startTgtd(t testing.TB, cfg tgtdConfig) *tgtd {
	t.Helper()
	if _, err := exec.LookPath("tgtd"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and tgtd")
	}
	if cfg.size == 0 {
		cfg.size = 64 << 20
	}
	if cfg.allow == "" {
		cfg.allow = testInitiator
	}
	// Not t.TempDir: tgtadm's --params parsing breaks on the commas of subtest names.
	dir, err := os.MkdirTemp("", "dlvm-iscsi-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	d := &tgtd{t: t, cfg: cfg, file: filepath.Join(dir, "lun1.img"),
		iqn: fmt.Sprintf("iqn.2024-01.org.dlvm.test:lun-%d", rand.IntN(1e9))}
	f, err := os.Create(d.file)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(cfg.size))
	require.NoError(t, f.Close())
	d.log, err = os.Create(filepath.Join(dir, "tgtd.log"))
	require.NoError(t, err)
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			b, _ := os.ReadFile(d.log.Name())
			t.Logf("tgtd log:\n%s", b)
		}
		d.log.Close()
	})
	for attempt := 0; ; attempt++ {
		d.port, d.ctl = freePort(t), 1000+rand.IntN(31000) // tgtd accepts up to 32767
		if err := d.start(); err == nil {
			return d
		} else if attempt == 5 {
			require.NoError(t, err)
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs tgtd on d's ports and (re)creates the target.
func (d *tgtd) start() error {
	cmd := exec.Command("tgtd", "-f", "--iscsi", fmt.Sprintf("portal=127.0.0.1:%d", d.port),
		"-C", strconv.Itoa(d.ctl))
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d.mu.Lock()
	d.cmd, d.exited = cmd, exited
	d.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("tgtd exited at start (control port %d)", d.ctl)
		default:
		}
		if d.adm("--mode", "sys", "--op", "show") == nil {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.port)); err == nil {
				c.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			d.kill()
			return fmt.Errorf("tgtd did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	steps := [][]string{
		{"--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", "1", "--targetname", d.iqn},
		{"--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid", "1", "--lun", "1", "-b", d.file},
		{"--lld", "iscsi", "--mode", "target", "--op", "bind", "--tid", "1", "--initiator-name", d.cfg.allow},
	}
	if d.cfg.thin {
		steps = append(steps, []string{"--lld", "iscsi", "--mode", "logicalunit", "--op", "update",
			"--tid", "1", "--lun", "1", "--params", "thin_provisioning=1"})
	}
	for _, p := range d.cfg.params {
		steps = append(steps, []string{"--lld", "iscsi", "--mode", "target", "--op", "update",
			"--tid", "1", "--name", p[0], "--value", p[1]})
	}
	if d.cfg.chapUser != "" {
		steps = append(steps,
			[]string{"--lld", "iscsi", "--mode", "account", "--op", "new", "--user", d.cfg.chapUser, "--password", d.cfg.chapSecret},
			[]string{"--lld", "iscsi", "--mode", "account", "--op", "bind", "--tid", "1", "--user", d.cfg.chapUser})
	}
	for _, s := range steps {
		if err := d.adm(s...); err != nil {
			d.kill()
			return err
		}
	}
	return nil
}

func (d *tgtd) adm(args ...string) error {
	out, err := exec.Command("tgtadm", append([]string{"-C", strconv.Itoa(d.ctl)}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tgtadm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// kill stops tgtd with SIGKILL (no clean logout) and waits for it to be gone.
func (d *tgtd) kill() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		d.t.Errorf("tgtd pid %d did not exit", cmd.Process.Pid)
	}
}

func (d *tgtd) target() Target {
	return Target{
		Portal:       fmt.Sprintf("127.0.0.1:%d", d.port),
		IQN:          d.iqn,
		LUN:          1,
		InitiatorIQN: testInitiator,
		CHAPUser:     d.cfg.chapUser,
		CHAPSecret:   d.cfg.chapSecret,
	}
}

// dial logs in to d with test options and closes the session at the end of the test.
func dial(t testing.TB, d *tgtd, o Options) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, d.target(), o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
