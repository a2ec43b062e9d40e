package target

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// maxControlPort is the largest control port tgtd accepts.
const maxControlPort = 32767

// Daemon timing.
var (
	tgtdStartTimeout = 10 * time.Second
	tgtdPollEvery    = 50 * time.Millisecond
)

// ping asks tgtd for its targets; nil when it answers.
func (t *Tgt) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.opts.PingTimeout)
	defer cancel()
	_, err := t.adm(ctx, "--mode", "target", "--op", "show")
	return err
}

// EnsureDaemon adopts the tgtd answering on the control port or, when none does, starts one:
// `tgtd -f --iscsi portal=<Listen> -C <ControlPort>` as a child in its own process group (so it
// outlives this process and a later agent adopts it), its output logged, and waits until it
// answers. Idempotent.
func (t *Tgt) EnsureDaemon(ctx context.Context) error {
	t.dmu.Lock()
	defer t.dmu.Unlock()
	if err := t.ping(ctx); err == nil {
		if t.cmd == nil {
			t.log.Info("tgtd adopted", "control_port", t.opts.ControlPort)
		}
		return nil
	}
	return t.startLocked(ctx)
}

// Started reports whether this Tgt runs its own tgtd (rather than one it adopted).
func (t *Tgt) Started() bool {
	t.dmu.Lock()
	defer t.dmu.Unlock()
	return t.cmd != nil
}

// DaemonPID is the pid of the tgtd this Tgt started, 0 when none.
func (t *Tgt) DaemonPID() int {
	t.dmu.Lock()
	defer t.dmu.Unlock()
	if t.cmd == nil {
		return 0
	}
	return t.cmd.Process.Pid
}

// startLocked starts tgtd, killing first a child of ours that no longer answers. dmu is held.
func (t *Tgt) startLocked(ctx context.Context) error {
	if t.cmd != nil {
		t.killLocked()
	}
	if t.opts.Listen == "" {
		return model.Errorf(model.ErrInvalid, "tgt: no portal to listen on")
	}
	if t.opts.ControlPort < 0 || t.opts.ControlPort > maxControlPort {
		return model.Errorf(model.ErrInvalid, "tgt: control port %d is not in 0..%d", t.opts.ControlPort, maxControlPort)
	}
	port := strconv.Itoa(t.opts.ControlPort)
	cmd := exec.Command(t.opts.Daemon, "-f", "--iscsi", "portal="+t.opts.Listen, "-C", port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start tgtd: %w", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return model.Wrap(model.ErrUnavailable, err, "cannot start the iSCSI target daemon")
	}
	_ = w.Close()
	log := t.log.With("control_port", t.opts.ControlPort, "pid", cmd.Process.Pid)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			log.Info("tgtd", "line", sc.Text())
		}
		_ = r.Close()
	}()
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		log.Warn("tgtd exited", "err", err)
		close(exited)
	}()
	t.cmd, t.exited = cmd, exited
	deadline := time.NewTimer(tgtdStartTimeout)
	defer deadline.Stop()
	for {
		if err := t.ping(ctx); err == nil {
			log.Info("tgtd started", "portal", t.opts.Listen)
			return nil
		}
		select {
		case <-exited:
			t.cmd, t.exited = nil, nil
			return model.Errorf(model.ErrUnavailable, "tgtd on control port %d exited at start (another tgtd holds the port?)", t.opts.ControlPort)
		case <-ctx.Done():
			t.killLocked()
			return ctx.Err()
		case <-deadline.C:
			t.killLocked()
			return model.Errorf(model.ErrUnavailable, "tgtd on control port %d did not answer within %s", t.opts.ControlPort, tgtdStartTimeout)
		case <-time.After(tgtdPollEvery):
		}
	}
}

// killLocked kills the process group of our tgtd and waits for it. dmu is held.
func (t *Tgt) killLocked() {
	if t.cmd == nil {
		return
	}
	if err := syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.log.Warn("kill tgtd", "pid", t.cmd.Process.Pid, "err", err)
	}
	<-t.exited
	t.cmd, t.exited = nil, nil
}

// Stop kills the tgtd this Tgt started (tgtd ignores SIGTERM and keeps no state a kill could
// lose: writes go straight to the backing store); its targets are gone with it. A tgtd that
// was adopted is left running. Idempotent.
func (t *Tgt) Stop() {
	t.dmu.Lock()
	defer t.dmu.Unlock()
	t.killLocked()
}

// Watch checks tgtd every interval until ctx ends. When tgtd dies or fails to answer twice in
// a row, Watch starts it again (killing an unanswering child of ours first) and then calls
// onRestart, which should re-export everything (the new tgtd has no targets). A failed restart
// is logged and retried at the next tick. Run it in its own goroutine.
func (t *Tgt) Watch(ctx context.Context, interval time.Duration, onRestart func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	fails := 0
	for {
		t.dmu.Lock()
		exited := t.exited // nil (blocks forever) when we run no child
		t.dmu.Unlock()
		died := false
		select {
		case <-ctx.Done():
			return
		case <-exited:
			died = true
		case <-tick.C:
		}
		if !died {
			if t.ping(ctx) == nil {
				fails = 0
				continue
			}
			if ctx.Err() != nil {
				return
			}
			if fails++; fails < 2 {
				continue
			}
		}
		t.log.Warn("tgtd is gone, restarting it", "control_port", t.opts.ControlPort, "exited", died)
		t.dmu.Lock()
		err := t.startLocked(ctx)
		t.dmu.Unlock()
		if err != nil {
			t.log.Error("restart tgtd", "control_port", t.opts.ControlPort, "err", err)
			continue
		}
		fails = 0
		if onRestart != nil {
			onRestart()
		}
	}
}
