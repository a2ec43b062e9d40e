package tempest

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"
)

// clusterNodes are the hosts of the e2e cluster and the last octet of their address.
var clusterNodes = map[string]int{
	"api1": 11, "api2": 12, "sched": 13, "vol1": 14, "vol2": 15,
	"dpv1": 21, "dpv2": 22, "dpv3": 23, "ihost1": 31,
}

func nodeIP(name string) string { return fmt.Sprintf("10.77.0.%d", clusterNodes[name]) }

// clusterProc is one dlvm process running in a node's namespace.
type clusterProc struct {
	name string
	args []string
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{}
}

// cluster is the running e2e cluster.
type cluster struct {
	t        *testing.T
	bin      string
	dir      string
	db       *sql.DB // the cluster's database, seen from the host
	procs    map[string]*clusterProc
	client   *gophercloud.ServiceClient
	counter  *countingTransport
	mysqlF   *forwarder
	rabbitF  *forwarder
	secret   string
	tgt      map[string]int // dpv -> tgtd portal and control port
	agentTLS *tls.Config    // the driver's client certificate for agents (mutual TLS)
	volType  string
}

// TestE2ECluster builds a small cluster on this machine — 2 api, 1 scheduler, 2 volume managers,
// 3 dpvs each with its own tgtd, 1 compute host's connector, every one in its own network
// namespace with its own address — on the host's MariaDB and RabbitMQ (reached through TCP
// forwarders on the bridge), behind a load balancer, and runs the failure scenarios of
// scripts/e2e-cluster.sh, printing for each the requests sent and failed, volumes stuck, fio
// verify errors and the time to recover. Opt-in: DLVM_E2E_CLUSTER=1 (make e2e-cluster), as root.
func TestE2ECluster(t *testing.T) {
	if os.Getenv("DLVM_E2E_CLUSTER") != "1" {
		t.Skip("opt-in: make e2e-cluster (DLVM_E2E_CLUSTER=1)")
	}
	require.Zero(t, os.Geteuid(), "needs root: network namespaces, tgtd, loop devices, FUSE")
	for _, tool := range []string{"ip", "fio", "tgtd", "tgtadm", "rabbitmqctl"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is not installed", tool)
	}
	c := startCluster(t)
	var reports []scenarioReport
	only := regexp.MustCompile(os.Getenv("DLVM_E2E_SCENARIOS")) // "" matches all
	for _, sc := range clusterScenarios {
		if !only.MatchString(sc.name) {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			r := &scenarioReport{}
			defer func() { reports = append(reports, *r) }() // also when the scenario fails
			c.runScenario(t, sc, r)
		})
	}
	t.Run("garbage-free after deleting everything", func(t *testing.T) { c.deleteAllAndCheckEmpty(t) })
	printReports(reports)
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: binary(t), dir: t.TempDir(), procs: map[string]*clusterProc{}, tgt: map[string]int{}}
	if d := os.Getenv("DLVM_E2E_DIR"); d != "" { // kept after the run, for the logs
		require.NoError(t, os.RemoveAll(d))
		require.NoError(t, os.MkdirAll(d, 0o700))
		c.dir = d
	}
	setupClusterNet(t, clusterNodes)
	// MariaDB and RabbitMQ listen on the host's loopback; the namespaces reach them through
	// forwarders on the bridge address.
	c.mysqlF = newForwarder(t, clusterHostIP+":3306", "127.0.0.1:3306")
	c.rabbitF = newForwarder(t, clusterHostIP+":5672", "127.0.0.1:5672")

	dbURL := mariaDB(t)
	name := dbURL[strings.LastIndex(dbURL, "/")+1:]
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName, cfg.ParseTime = "tcp", "127.0.0.1:3306", "root", name, true
	var err error
	c.db, err = sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { c.db.Close() })

	// A RabbitMQ vhost of its own: other dlvm processes on this broker (other test runs) must
	// neither receive this cluster's casts and heartbeats nor send it theirs.
	vhost := "dlvm-e2e-" + name
	for _, args := range [][]string{{"add_vhost", vhost}, {"set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"}} {
		out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
		require.NoError(t, err, "rabbitmqctl %v: %s", args, out)
	}
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "delete_vhost", vhost).Run() })

	c.secret = "e2e-cluster-shared-secret-" + name
	secretFile := filepath.Join(c.dir, "agent-secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(c.secret+"\n"), 0o600))
	common := fmt.Sprintf(`[DEFAULT]
host = %%[1]s
my_ip = %%[2]s
state_path = %[1]s/%%[1]s
transport_url = rabbit://guest:guest@%[2]s:5672/%[5]s
auth_strategy = noauth
osapi_volume_listen = %%[2]s
osapi_volume_listen_port = 8776
enabled_backends = dlvm-1
dpv_heartbeat_interval = 1
dpv_heartbeat_timeout = 10
workflow_sweep_interval = 2
workflow_stale_after = 10
quota_volumes = -1
quota_snapshots = -1
quota_gigabytes = -1
log_file = %[1]s/%%[1]s.log
[database]
connection = mysql+pymysql://root@%[2]s:3306/%[3]s
[dlvm-1]
volume_backend_name = dlvm-1
[agent]
shared_secret_file = %[4]s
`, c.dir, clusterHostIP, name, secretFile, vhost)
	// Mutual TLS between managers and agents, with the operator's CA, on top of the secret.
	pki := newClusterPKI(t, filepath.Join(c.dir, "pki"))
	c.agentTLS = pki.clientTLS(t)
	conf := func(node, extra string) string {
		require.NoError(t, os.MkdirAll(filepath.Join(c.dir, node), 0o700))
		pki.issue(t, node, net.ParseIP(nodeIP(node)), false)
		p := filepath.Join(c.dir, node+".conf")
		require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf(common, node, nodeIP(node))+pki.agentSection(node)+extra), 0o600))
		return p
	}
	for _, n := range []string{"api1", "api2", "sched", "vol1", "vol2", "ihost1"} {
		conf(n, "")
	}
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("dpv%d", i)
		c.tgt[n] = freeTgtPort(t, 1)
		conf(n, fmt.Sprintf("[dpv]\nname = %[1]s\ndvg = dlvm-1\nlisten = %[2]s\nport = 8801\nadvertise_url = http://%[2]s:8801\n"+
			"location = rack-%[3]d\npool_type = file\npool_dir = %[4]s/%[1]s/pool\ntarget_ip_address = %[2]s\ntarget_port = %[5]d\n",
			n, nodeIP(n), i, c.dir, c.tgt[n]))
	}
	out, err := exec.Command(c.bin, "db", "sync", "--config-file", filepath.Join(c.dir, "api1.conf")).CombinedOutput()
	require.NoError(t, err, "dlvm db sync: %s", out)

	for _, n := range []string{"api1", "api2"} {
		c.start(n, "api")
	}
	c.start("sched", "scheduler")
	c.start("vol1", "volume")
	c.start("vol2", "volume")
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("dpv%d", i)
		t.Cleanup(func() { c.killTgtd(n) }) // registered before the agent's: runs after it stops
		c.start(n, "dpv-agent")
	}
	c.start("ihost1", "connector", "--host", "ihost1", "--listen", nodeIP("ihost1")+":8810",
		"--advertise-url", "http://"+nodeIP("ihost1")+":8810", "--engine", "userspace",
		"--data-dir", filepath.Join(c.dir, "ihost1", "connector"), "--initiator", clusterInitiator)

	lb := newBalancer(nodeIP("api1")+":8776", nodeIP("api2")+":8776")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: lb}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	lbURL := "http://" + l.Addr().String()

	c.counter = &countingTransport{base: &http.Transport{MaxIdleConnsPerHost: 16}}
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Transport: c.counter, Timeout: 150 * time.Second}}
	pc.SetToken("admin:e2e")
	ep := lbURL + "/v3/e2e/"
	c.client = &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: ep, ResourceBase: ep, Type: "block-storage", Microversion: "3.70"}

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(lbURL + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "the api copies did not answer in 60 s")
		time.Sleep(200 * time.Millisecond)
	}
	waitPools(t, c.client, 3)
	// The compute host's connector reports itself (every 10 s) before anything attaches there.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var url string
		_ = c.db.QueryRow(`SELECT url FROM ihosts WHERE host = 'ihost1'`).Scan(&url)
		if url != "" {
			break
		}
		require.True(t, time.Now().Before(deadline), "ihost1's connector did not report in 30 s:\n%s", c.logTail("ihost1", 20))
		time.Sleep(200 * time.Millisecond)
	}
	vt, err := volumetypes.Create(context.Background(), c.client, volumetypes.CreateOpts{Name: "mirrored",
		ExtraSpecs: map[string]string{"dlvm:mirrors": "2"}}).Extract()
	require.NoError(t, err)
	c.volType = vt.Name
	return c
}

const clusterInitiator = "iqn.2026-11.dev.dlvm.e2e:ihost1"

// start runs `dlvm <sub> --config-file <node>.conf <extra>` in the node's namespace.
func (c *cluster) start(node, sub string, extra ...string) {
	c.t.Helper()
	args := append([]string{"netns", "exec", clusterNSPref + node, c.bin, sub, "--config-file", filepath.Join(c.dir, node+".conf")}, extra...)
	p := &clusterProc{name: node, args: args}
	if old, ok := c.procs[node]; ok {
		p.args = old.args
	}
	c.procs[node] = p
	c.launch(p)
	c.t.Cleanup(func() { c.stop(node) })
}

func (c *cluster) launch(p *clusterProc) {
	c.t.Helper()
	out, err := os.OpenFile(filepath.Join(c.dir, p.name+".out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(c.t, err)
	// `ip netns exec` execs the command: the pid is dlvm's.
	p.cmd = exec.Command("ip", p.args...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.out, p.done = out, make(chan struct{})
	require.NoError(c.t, p.cmd.Start(), p.name)
	go func(done chan struct{}) { _ = p.cmd.Wait(); out.Close(); close(done) }(p.done)
}

// kill9 kills a node's dlvm process at once, as a crash would.
func (c *cluster) kill9(node string) {
	p := c.procs[node]
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends a node's process with SIGTERM (graceful), SIGKILL after 20 s.
func (c *cluster) stop(node string) {
	p := c.procs[node]
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// restart launches a stopped node's process again with the same arguments.
func (c *cluster) restart(node string) {
	c.t.Helper()
	p := c.procs[node]
	<-p.done
	c.launch(p)
}

// killTgtd kills the tgtd a dpv agent started in its namespace (tgtd ignores SIGTERM), found by
// its control port, by pid.
func (c *cluster) killTgtd(dpv string) {
	out, _ := exec.Command("pgrep", "-f", fmt.Sprintf("^tgtd .*-C %d$", c.tgt[dpv])).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// logTail is the end of a node's log, for failure messages.
func (c *cluster) logTail(node string, n int) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, node+".log"))
	o, _ := os.ReadFile(filepath.Join(c.dir, node+".out"))
	return tail(string(b), n) + "\n" + tail(string(o), 10)
}
