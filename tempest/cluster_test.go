package tempest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/stretchr/testify/require"
)

// TestDistributedServices runs dlvm the way the README's production section describes: `dlvm db
// sync`, then `dlvm api`, `dlvm scheduler`, `dlvm volume` and three `dlvm dpv-agent` as separate
// processes, on the MariaDB at 127.0.0.1:3306 and the RabbitMQ at 127.0.0.1:5672, with the API
// validating tokens against a real upstream Keystone — and drives the same lifecycle through it.
// It needs the Keystone that scripts/test.sh starts (KEYSTONE_FERNET_URL and friends).
func TestDistributedServices(t *testing.T) {
	ks := os.Getenv("KEYSTONE_FERNET_URL")
	if ks == "" {
		if os.Getenv("DLVM_REQUIRE_KEYSTONE") == "1" {
			t.Fatal("KEYSTONE_FERNET_URL is not set (keystone/testdata/start-test-keystones.sh)")
		}
		t.Skip("no real Keystone: run through make test, or keystone/testdata/start-test-keystones.sh")
	}
	dbURL := mariaDB(t)
	bin := binary(t)
	dir := t.TempDir()
	api := freePort(t)
	rabbit := os.Getenv("DLVM_TEST_RABBIT_URL")
	if rabbit == "" {
		rabbit = "rabbit://guest:guest@127.0.0.1:5672/"
	}
	rabbit = strings.Replace(rabbit, "amqp://", "rabbit://", 1)

	common := fmt.Sprintf(`[DEFAULT]
host = %%s
state_path = %[1]s
transport_url = %[2]s
control_exchange = dlvm-cluster-test-%[8]s
auth_strategy = keystone
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = %[3]d
enabled_backends = dlvm-1
dpv_heartbeat_interval = 1
dpv_heartbeat_timeout = 10
workflow_sweep_interval = 2
workflow_stale_after = 20
log_file = %[1]s/%%s.log
[database]
connection = %[4]s
[keystone_authtoken]
www_authenticate_uri = %[5]s
auth_url = %[5]s
username = %[6]s
password = %[7]s
project_name = service
[dlvm-1]
volume_backend_name = dlvm-1
`, dir, rabbit, api, dbURL, ks, envOr("KEYSTONE_SERVICE_USER", "cinder"), os.Getenv("KEYSTONE_SERVICE_PASS"),
		fmt.Sprintf("%08x", rand.Uint32()))

	write := func(name, extra string) string {
		p := filepath.Join(dir, name+".conf")
		require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf(common, name, name)+extra), 0o600))
		return p
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		out, err := os.Create(filepath.Join(dir, name+".out"))
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start(), name)
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("%s did not stop within 15 s of SIGINT", name)
			}
			out.Close()
			if t.Failed() {
				for _, f := range []string{name + ".out", name + ".log"} {
					if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && len(b) > 0 {
						t.Logf("%s:\n%s", f, tail(string(b), 30))
					}
				}
			}
		})
		return cmd
	}

	apiConf := write("api", "")
	sync := exec.Command(bin, "db", "sync", "--config-file", apiConf)
	out, err := sync.CombinedOutput()
	require.NoError(t, err, "dlvm db sync: %s", out)

	run("api", "api", "--config-file", apiConf)
	run("scheduler", "scheduler", "--config-file", write("scheduler", ""))
	run("volume", "volume", "--config-file", write("volume", ""))
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("dpv-%d", i)
		tgt := freeTgtPort(t, 1)
		// A dpv agent leaves its tgtd serving when it stops (the next agent adopts it); the
		// test ends it. Registered first, so it runs after the agent has stopped.
		t.Cleanup(func() {
			_ = exec.Command("pkill", "-KILL", "-f", fmt.Sprintf("^tgtd .*-C %d$", tgt)).Run()
		})
		conf := write(name, fmt.Sprintf("[dpv]\nname = %s\ndvg = dlvm-1\nlisten = 127.0.0.1\nport = %d\npool_type = file\npool_dir = %s\ntarget_port = %d\n",
			name, freePort(t), filepath.Join(dir, name), tgt))
		run(name, "dpv-agent", "--config-file", conf)
	}

	s := &service{dataDir: dir, apiURL: fmt.Sprintf("http://127.0.0.1:%d", api), directAPI: true,
		env: map[string]string{"OS_AUTH_URL": ks + "/v3"}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.apiURL + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "dlvm api did not answer in 30 s")
		time.Sleep(100 * time.Millisecond)
	}
	c, project := s.client(t, "admin", envOr("KEYSTONE_ADMIN_PASS", "adminpass"), "admin")
	// The dpvs' first heartbeats travel through RabbitMQ to the volume manager before the
	// scheduler may place legs on them.
	waitPools(t, c, 3)
	for _, mv := range []string{"", "3.70"} {
		t.Run("microversion="+mv, func(t *testing.T) { lifecycle(t, s, c, project, mv) })
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// mariaDB creates an empty database on the test MariaDB for one test and drops it afterwards;
// it returns its Cinder-style URL.
func mariaDB(t *testing.T) string {
	t.Helper()
	base := envOr("DLVM_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")
	rest := base[strings.Index(base, "://")+3:]
	creds, hostpart, ok := strings.Cut(rest, "@")
	if !ok {
		creds, hostpart = "", rest
	}
	host, _, _ := strings.Cut(hostpart, "/")
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", host
	cfg.User, cfg.Passwd, _ = strings.Cut(creds, ":")
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	name := fmt.Sprintf("dlvm_e2e_%d", rand.Uint32())
	_, err = conn.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4")
	require.NoError(t, err, "MariaDB at %s", host)
	t.Cleanup(func() {
		_, _ = conn.Exec("DROP DATABASE IF EXISTS " + name)
		conn.Close()
	})
	return strings.TrimSuffix(base, "/") + "/" + name
}

// waitPools waits until get_pools reports n live dpvs in its dvgs.
func waitPools(t *testing.T, c *gophercloud.ServiceClient, n int) {
	t.Helper()
	var got int
	for i := 0; i < 150; i++ {
		req, err := http.NewRequest(http.MethodGet, c.ResourceBaseURL()+"scheduler-stats/get_pools?detail=True", nil)
		require.NoError(t, err)
		req.Header.Set("X-Auth-Token", c.ProviderClient.Token())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var body struct {
			Pools []struct {
				Capabilities struct {
					DPVs int `json:"dpvs"`
				} `json:"capabilities"`
			} `json:"pools"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		require.NoError(t, err)
		got = 0
		for _, p := range body.Pools {
			got += p.Capabilities.DPVs
		}
		if got >= n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("get_pools reports %d live dpvs, want %d", got, n)
}
