package tempest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/stretchr/testify/require"
)

// scenarioReport is one line of the e2e cluster's report.
type scenarioReport struct {
	name         string
	sent, failed int64
	stuck        int
	fioErrors    int
	recover      time.Duration // -1: not applicable
	note         string
	pass         bool
}

type clusterScenario struct {
	name string
	run  func(c *cluster, t *testing.T, r *scenarioReport)
}

var clusterScenarios = []clusterScenario{
	{"agents-refuse-unauthenticated-calls", scenarioAgentAuth},
	{"create-attach-write-detach", scenarioAcrossHosts},
	{"kill-manager-mid-create", func(c *cluster, t *testing.T, r *scenarioReport) { scenarioKillManager(c, t, r, "create_volume") }},
	{"kill-manager-mid-extend", func(c *cluster, t *testing.T, r *scenarioReport) { scenarioKillManager(c, t, r, "extend_volume") }},
	{"kill-manager-mid-snapshot", func(c *cluster, t *testing.T, r *scenarioReport) { scenarioKillManager(c, t, r, "create_snapshot") }},
	{"kill-manager-mid-attach", func(c *cluster, t *testing.T, r *scenarioReport) { scenarioKillManager(c, t, r, "attach_volume") }},
	{"pause-manager-mid-extend-then-resume", scenarioPauseManager},
	{"kill-dpv-under-fio-verify", scenarioKillDPV},
	{"drop-rabbitmq-and-mariadb-connections", scenarioDropConnections},
	{"rolling-restart-api-under-load", scenarioRollingAPI},
}

// runScenario runs one scenario and fills its report, also when the scenario fails half-way.
func (c *cluster) runScenario(t *testing.T, sc clusterScenario, r *scenarioReport) {
	*r = scenarioReport{name: sc.name, recover: -1}
	sent0, failed0 := c.counter.snapshot()
	c.counter.mu.Lock()
	first := len(c.counter.failures)
	c.counter.mu.Unlock()
	defer func() {
		sent, failed := c.counter.snapshot()
		r.sent, r.failed = sent-sent0, failed-failed0
		c.counter.mu.Lock()
		for _, f := range c.counter.failures[first:] {
			t.Logf("failed request: %s", f)
		}
		c.counter.mu.Unlock()
		var names []string
		r.stuck, names = c.stuck(t, 90*time.Second)
		if r.stuck > 0 {
			t.Errorf("stuck after 90 s: %v", names)
		}
		if g := c.garbage(t); len(g) > 0 {
			t.Errorf("garbage on the dpvs: %v", g)
			r.note = strings.TrimSpace(r.note + fmt.Sprintf(" garbage: %d", len(g)))
		}
		r.pass = !t.Failed()
	}()
	sc.run(c, t, r)
}

func printReports(rs []scenarioReport) {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\tresult\trequests\tfailed\tstuck\tfio verify errors\ttime to recover\tnote")
	for _, r := range rs {
		res, rec := "PASS", "-"
		if !r.pass {
			res = "FAIL"
		}
		if r.recover >= 0 {
			rec = r.recover.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.name, res, r.sent, r.failed, r.stuck, r.fioErrors, rec, r.note)
	}
	w.Flush()
	fmt.Fprintf(os.Stdout, "\n== e2e cluster report ==\n%s\n", b.String())
}

// scenarioAcrossHosts: a volume created through one api copy or the other, its legs on two dpv
// hosts, attached on the compute host, written and verified with fio, detached, attached again
// and verified again.
func scenarioAcrossHosts(c *cluster, t *testing.T, r *scenarioReport) {
	vol := c.createVolume(t, "across", 1)
	att, dev := c.attach(t, vol)
	out, err := c.fio(dev, "--size=64M").CombinedOutput()
	r.fioErrors += verifyErrors(string(out))
	require.NoError(t, err, "fio write+verify: %s", out)
	c.detach(t, vol, att)
	att, dev = c.attach(t, vol)
	out, err = c.fio(dev, "--size=64M", "--verify_only").CombinedOutput()
	r.fioErrors += verifyErrors(string(out))
	require.NoError(t, err, "fio verify after re-attach: %s", out)
	c.detach(t, vol, att)
	var dpvs []string
	rows, err := c.db.Query(`SELECT dpv_id FROM legs WHERE owner_id = ? AND status <> 'deleted'`, vol)
	require.NoError(t, err)
	for rows.Next() {
		var d string
		require.NoError(t, rows.Scan(&d))
		dpvs = append(dpvs, d)
	}
	rows.Close()
	require.Len(t, dpvs, 2)
	require.NotEqual(t, dpvs[0], dpvs[1], "the mirrors sit on two dpv hosts")
	r.note = "legs on " + strings.Join(dpvs, "+")
}

// workflowOf returns the owner and state of the newest workflow of kind on a volume.
func (c *cluster) workflowOf(volumeID, kind string) (owner, state string) {
	_ = c.db.QueryRow(`SELECT owner, state FROM workflows WHERE volume_id = ? AND kind = ? ORDER BY created_at DESC LIMIT 1`,
		volumeID, kind).Scan(&owner, &state)
	return owner, state
}

// scenarioKillManager starts an operation, kills -9 the volume manager that claimed its workflow
// as soon as the claim shows in the database, and checks the volume (and snapshot) settle in a
// final state — done by the other manager after the stale time, or rolled back with a message —
// with nothing left behind on the dpvs. The killed manager is started again afterwards.
func scenarioKillManager(c *cluster, t *testing.T, r *scenarioReport, kind string) {
	ctx := context.Background()
	var vol, snap, att string
	attached := make(chan error, 1)
	switch kind {
	case "create_volume":
		v, err := volumes.Create(ctx, c.client, volumes.CreateOpts{Size: 2, Name: "kill-create", VolumeType: c.volType}, nil).Extract()
		require.NoError(t, err)
		vol = v.ID
	case "extend_volume":
		vol = c.createVolume(t, "kill-extend", 1)
		require.NoError(t, volumes.ExtendSize(ctx, c.client, vol, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr())
	case "create_snapshot":
		vol = c.createVolume(t, "kill-snapshot", 1)
		s, err := snapshots.Create(ctx, c.client, snapshots.CreateOpts{VolumeID: vol, Name: "kill-snapshot", Force: true}).Extract()
		require.NoError(t, err)
		snap = s.ID
	case "attach_volume":
		vol = c.createVolume(t, "kill-attach", 1)
		a, err := attachments.Create(ctx, c.client, attachments.CreateOpts{VolumeUUID: vol, InstanceUUID: uuid.NewString()}).Extract()
		require.NoError(t, err)
		att = a.ID
		go func() {
			_, err := attachments.Update(ctx, c.client, att, attachments.UpdateOpts{Connector: ihostConnector()}).Extract()
			attached <- err
		}()
	}
	// Catch the claim: poll the workflow row until a manager owns it and runs it.
	var owner, state string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		owner, state = c.workflowOf(vol, kind)
		if owner != "" && state == "running" || state == "done" || state == "failed" {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	require.NotEmpty(t, owner, "no manager claimed the %s workflow (state %q)", kind, state)
	killed := time.Now()
	c.kill9(owner)
	_, after := c.workflowOf(vol, kind)
	mid := after == "running"
	r.note = fmt.Sprintf("killed %s; workflow %s at the kill", owner, after)
	defer c.restart(owner)

	if kind == "attach_volume" {
		// Nova's flow: the update returns the connection once the workflow is done (by the
		// manager that took over), then Nova completes the attachment.
		err := <-attached
		if err == nil {
			err = attachments.Complete(ctx, c.client, att).ExtractErr()
		}
		if err != nil {
			r.note += fmt.Sprintf("; attachment update answered %v", err)
		}
	}
	st, reason := c.waitSettled(t, vol, 90*time.Second)
	if snap != "" {
		for time.Since(killed) < 90*time.Second && isTransitional(c.snapshotState(snap)) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	r.recover = time.Since(killed)
	_, final := c.workflowOf(vol, kind)
	r.note += fmt.Sprintf("; volume %s, workflow %s", st, final)
	if !mid {
		r.note += " (it had finished before the kill landed)"
	}
	require.False(t, isTransitional(st), "volume %s stuck in %s", vol, st)
	if strings.HasPrefix(st, "error") {
		require.NotEmpty(t, reason, "an error state carries a message")
		r.note += ": " + reason
	}
	if snap != "" {
		require.False(t, isTransitional(c.snapshotState(snap)), "snapshot stuck")
	}
	if att != "" && st == "in-use" {
		c.detach(t, vol, att)
	}
}

// scenarioKillDPV kills -9 a dpv (its agent and its tgtd) holding one mirror leg of an attached
// volume while fio writes and verifies through the compute host; the dpv comes back after 6 s
// and the host's connector resyncs its leg. fio must report no error.
func scenarioKillDPV(c *cluster, t *testing.T, r *scenarioReport) {
	vol := c.createVolume(t, "kill-dpv", 1)
	att, dev := c.attach(t, vol)
	var victim string
	require.NoError(t, c.db.QueryRow(`SELECT dpv_id FROM legs WHERE owner_id = ? AND status <> 'deleted' ORDER BY mirror_idx LIMIT 1`, vol).Scan(&victim))
	var out bytes.Buffer
	fio := c.fio(dev, "--size=160M")
	fio.Stdout, fio.Stderr = &out, &out
	require.NoError(t, fio.Start())
	time.Sleep(time.Second)
	killed := time.Now()
	c.kill9(victim)
	c.killTgtd(victim)
	seen := map[string]bool{}
	for time.Since(killed) < 6*time.Second {
		for st := range c.legHealth(vol) {
			seen[st] = true
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.restart(victim)
	ferr := fio.Wait()
	r.fioErrors = verifyErrors(out.String())
	require.NoError(t, ferr, "fio through the dpv failure:\n%s", out.String())
	deadline := time.Now().Add(120 * time.Second)
	for {
		h := c.legHealth(vol)
		if h["ok"] == 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "legs not back in sync 120 s after the kill: %v", h)
		time.Sleep(250 * time.Millisecond)
	}
	r.recover = time.Since(killed)
	r.note = fmt.Sprintf("killed %s; leg states seen while down: %v", victim, keys(seen))
	c.detach(t, vol, att)
	att, dev = c.attach(t, vol)
	o, err := c.fio(dev, "--size=160M", "--verify_only").CombinedOutput()
	r.fioErrors += verifyErrors(string(o))
	require.NoError(t, err, "fio verify after re-attach: %s", o)
	c.detach(t, vol, att)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// load runs workers that create a volume, wait for it and delete it, until stop is closed; it
// returns the ids of volumes it created and the time each became available.
type loadRun struct {
	mu        stdsync.Mutex
	created   []string
	available map[string]time.Time
	errs      []string
	wg        stdsync.WaitGroup
	stop      chan struct{}
	stopOnce  stdsync.Once
	ops       atomic.Int64
}

func (c *cluster) startLoad(t *testing.T, workers int) *loadRun {
	l := &loadRun{available: map[string]time.Time{}, stop: make(chan struct{})}
	ctx := context.Background()
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				_, _ = volumes.List(c.client, volumes.ListOpts{Limit: 5}).AllPages(ctx)
				v, err := volumes.Create(ctx, c.client, volumes.CreateOpts{Size: 1, Name: fmt.Sprintf("load-%d-%d", w, i), VolumeType: c.volType}, nil).Extract()
				if err != nil {
					l.fail(err)
					time.Sleep(200 * time.Millisecond)
					continue
				}
				l.mu.Lock()
				l.created = append(l.created, v.ID)
				l.mu.Unlock()
				for j := 0; j < 600; j++ {
					got, err := volumes.Get(ctx, c.client, v.ID).Extract()
					if err == nil && !isTransitional(got.Status) {
						l.mu.Lock()
						l.available[v.ID] = time.Now()
						l.mu.Unlock()
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err := volumes.Delete(ctx, c.client, v.ID, nil).ExtractErr(); err != nil {
					l.fail(err)
				}
				l.ops.Add(1)
			}
		}(w)
	}
	return l
}

func (l *loadRun) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err.Error())
	l.mu.Unlock()
}

// end stops the workers and waits for them; safe to call again (deferred by the scenarios so
// a failing one stops its load too).
func (l *loadRun) end() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// scenarioDropConnections cuts every connection of every process to RabbitMQ, then to MariaDB,
// under a create/delete load; the processes reconnect and every volume settles.
func scenarioDropConnections(c *cluster, t *testing.T, r *scenarioReport) {
	l := c.startLoad(t, 3)
	defer l.end()
	time.Sleep(4 * time.Second)
	dropped := time.Now()
	nr := c.rabbitF.DropAll()
	time.Sleep(2 * time.Second)
	nm := c.mysqlF.DropAll()
	// Recovered: a volume created after both drops became available.
	var recovered time.Duration = -1
	deadline := time.Now().Add(90 * time.Second)
	for recovered < 0 && time.Now().Before(deadline) {
		l.mu.Lock()
		for _, at := range l.available {
			if at.After(dropped.Add(2*time.Second)) && (recovered < 0 || at.Sub(dropped) < recovered) {
				recovered = at.Sub(dropped)
			}
		}
		l.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	l.end()
	r.recover = recovered
	r.note = fmt.Sprintf("cut %d rabbitmq and %d mariadb connections; %d create+delete rounds; client errors: %d", nr, nm, l.ops.Load(), len(l.errs))
	if len(l.errs) > 0 {
		t.Logf("client errors: %v", l.errs)
	}
	require.GreaterOrEqual(t, recovered, time.Duration(0), "no volume became available after the drops")
	for _, id := range l.created {
		st, reason := c.waitSettled(t, id, 90*time.Second)
		require.False(t, isTransitional(st), "volume %s stuck in %s (%s)", id, st, reason)
	}
}

// scenarioRollingAPI restarts both api copies one after the other (SIGTERM, wait until it has
// stopped, start it again, wait until it answers) under a create/list/delete load through the
// balancer: no client request may fail.
func scenarioRollingAPI(c *cluster, t *testing.T, r *scenarioReport) {
	_, failed0 := c.counter.snapshot()
	l := c.startLoad(t, 3)
	defer l.end()
	time.Sleep(3 * time.Second)
	start := time.Now()
	for _, n := range []string{"api1", "api2"} {
		c.stop(n)
		time.Sleep(time.Second)
		c.restart(n)
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := httpGet("http://" + nodeIP(n) + ":8776/")
			if err == nil && resp < 500 { // the version document answers 300
				break
			}
			require.True(t, time.Now().Before(deadline), "%s did not come back:\n%s", n, c.logTail(n, 20))
			time.Sleep(100 * time.Millisecond)
		}
	}
	r.recover = time.Since(start)
	time.Sleep(3 * time.Second)
	l.end()
	r.note = fmt.Sprintf("%d create+delete rounds during the restarts (time = both restarts)", l.ops.Load())
	c.counter.mu.Lock()
	failures := append([]string(nil), c.counter.failures...)
	c.counter.mu.Unlock()
	_, failed := c.counter.snapshot()
	require.Zero(t, failed-failed0, "failed requests during the rolling restart: %v", failures)
	require.Empty(t, l.errs, "client errors during the rolling restart")
}

func httpGet(url string) (int, error) {
	hc := httpClient(2 * time.Second)
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// scenarioAgentAuth: the dpv agents and the connector daemon answer only HTTPS with a client
// certificate from the cluster's CA, and only signed requests: a plain-HTTP call, a call
// without a client certificate and an unsigned call over mutual TLS are refused.
func scenarioAgentAuth(c *cluster, t *testing.T, r *scenarioReport) {
	for _, base := range []string{"https://" + nodeIP("dpv1") + ":8801/v1/legs", "https://" + nodeIP("ihost1") + ":8810/v1/health/x"} {
		plain := strings.Replace(base, "https://", "http://", 1)
		resp, err := httpClient(5 * time.Second).Get(plain)
		if err == nil {
			resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to a TLS port: %s", plain)
		}
		noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: c.agentTLS.RootCAs, MinVersion: tls.VersionTLS12}}}
		resp, err = noCert.Get(base)
		if err == nil {
			resp.Body.Close()
		}
		require.Error(t, err, "no client certificate: %s", base)
		unsigned := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c.agentTLS}}
		resp, err = unsigned.Get(base)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "unsigned: %s", base)
	}
	var legs struct{ Legs []any }
	require.NoError(t, c.agentGet("https://"+nodeIP("dpv1")+":8801/v1/legs", &legs), "signed over mutual TLS")
	r.note = "plain HTTP, no client certificate and unsigned calls refused"
}

// scenarioPauseManager freezes (SIGSTOP) the volume manager running an extend of a 2-mirror volume,
// lets the other manager take the workflow over and finish it, then thaws the first one: it
// resumes with its old epoch, so the agents refuse its calls and it writes nothing. The volume
// ends available at the new size with exactly its legs on the dpvs.
func scenarioPauseManager(c *cluster, t *testing.T, r *scenarioReport) {
	ctx := context.Background()
	vol := c.createVolume(t, "pause-extend", 1)
	require.NoError(t, volumes.ExtendSize(ctx, c.client, vol, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr())
	var owner, state string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		owner, state = c.workflowOf(vol, "extend_volume")
		if owner != "" && state == "running" || state == "done" || state == "failed" {
			break
		}
	}
	require.NotEmpty(t, owner)
	p := c.procs[owner]
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGSTOP))
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	_, atPause := c.workflowOf(vol, "extend_volume")
	var newOwner string
	for time.Since(paused) < 60*time.Second {
		newOwner, state = c.workflowOf(vol, "extend_volume")
		if state == "done" || state == "failed" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.recover = time.Since(paused)
	require.Equal(t, "done", state, "the other manager finished the extend")
	require.NotEqual(t, owner, newOwner)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGCONT))
	resumed = true
	time.Sleep(5 * time.Second) // the thawed manager goes on with what it was doing
	st, reason := c.volumeState(vol)
	require.Equal(t, "available", st, reason)
	var size int
	require.NoError(t, c.db.QueryRow(`SELECT size FROM volumes WHERE id = ?`, vol).Scan(&size))
	require.Equal(t, 3, size)
	finalOwner, final := c.workflowOf(vol, "extend_volume")
	require.Equal(t, "done", final, "the thawed manager did not rewrite the workflow")
	require.Equal(t, newOwner, finalOwner)
	b, _ := os.ReadFile(filepath.Join(c.dir, owner+".log"))
	how := "did nothing visible"
	switch {
	case strings.Contains(string(b), "stale volume epoch"):
		how = "its agent calls were refused (stale epoch)"
	case strings.Contains(string(b), `err="workflow claim lost"`):
		how = "its workflow write was refused (claim lost)"
	case strings.Contains(string(b), "taken over by another manager"):
		how = "it found its claim gone before raising the epoch"
	}
	r.note = fmt.Sprintf("froze %s (workflow %s), %s finished it; after the thaw %s", owner, atPause, newOwner, how)
}
