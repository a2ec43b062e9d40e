package etc

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DefaultStatePath is [DEFAULT] state_path outside the all-in-one mode.
const DefaultStatePath = "/var/lib/dlvm"

// DefaultBackend is the first backend section the all-in-one mode enables.
const DefaultBackend = "dlvm-1"

// AllInOneBackends are the backend sections the all-in-one mode enables: two backends, so
// multi-backend scheduling, retype and migration between backends work out of the box.
var AllInOneBackends = []string{DefaultBackend, "dlvm-2"}

// Default returns the configuration `dlvm all-in-one` runs on when given no file: state under
// dataDir (which should be absolute), SQLite at dataDir/dlvm.sqlite, the in-process bus, the
// built-in identity, the API on 127.0.0.1 and two backends, dlvm-1 and dlvm-2 (the local dpvs
// are dealt to them, see AllInOneSection.DPVsOf). Derived options
// (key_file, pool_dir, availability zones, ...) are filled in. It passes Validate when dataDir is
// absolute.
func Default(dataDir string) *Config {
	c := allInOneBase(dataDir)
	c.resolve()
	return c
}

// hostname is os.Hostname, or "localhost" when the kernel will not say.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// productionBase is every option's own default, before derived options are filled in.
func productionBase() *Config {
	return &Config{
		Default: DefaultSection{
			Host:                    hostname(),
			MyIP:                    "127.0.0.1",
			StatePath:               DefaultStatePath,
			TransportURL:            "inproc://",
			ControlExchange:         "dlvm",
			AuthStrategy:            AuthKeystone,
			Listen:                  "0.0.0.0",
			ListenPort:              8776,
			DefaultVolumeType:       "__DEFAULT__",
			StorageAvailabilityZone: "nova",
			Quotas: QuotaDefaults{
				Volumes: 10, Snapshots: 10, Gigabytes: 1000, Backups: 10,
				BackupGigabytes: 1000, Groups: 10, PerVolumeSizeLimit: -1,
			},
			Layout:                LayoutDefaults{Mirrors: 2, Stripes: 1, StripeChunkKiB: 512},
			WorkflowSweepInterval: 10 * time.Second,
			WorkflowStaleAfter:    60 * time.Second,
			MessageTTL:            2592000 * time.Second,
			DPVHeartbeatInterval:  5 * time.Second,
			DPVHeartbeatTimeout:   30 * time.Second,
			ReportInterval:        10 * time.Second,
			ServiceDownTime:       60 * time.Second,
			LegReplaceAfter:       10 * time.Minute,
		},
		KeystoneAuthtoken: KeystoneAuthtokenSection{
			AuthType:           "password",
			UserDomainName:     "Default",
			ProjectDomainName:  "Default",
			TokenCacheTime:     300 * time.Second,
			HTTPConnectTimeout: 10 * time.Second,
		},
		BuiltinIdentity: BuiltinIdentitySection{
			Listen:          "127.0.0.1",
			Port:            5000,
			TokenExpiration: 86400 * time.Second,
			Users: []IdentityUser{
				{Name: "admin", Password: "admin", Project: "admin", Roles: []string{"admin", "member", "reader"}},
				{Name: "demo", Password: "demo", Project: "demo", Roles: []string{"member", "reader"}},
			},
		},
		DPV: DPVSection{
			Listen:            "127.0.0.1",
			Port:              8801,
			PoolType:          PoolFile,
			TargetHelper:      TargetTgtadm,
			TargetPort:        3260,
			ISCSITargetPrefix: "iqn.2010-10.org.openstack:",
		},
		AllInOne: AllInOneSection{DPVCount: 5, DPVBasePort: 8801, DPVSizeGB: 100, TargetBasePort: 13261},
		Backup:   BackupSection{Driver: BackupDriverPosix, FileSize: 4 << 20, Container: "backups"},
		Nova: NovaSection{
			UserDomainName:    "Default",
			ProjectDomainName: "Default",
			EndpointType:      "public",
		},
		Agent: AgentSection{ReplayWindow: 120 * time.Second},
	}
}

// allInOneBase is productionBase with the all-in-one mode's own defaults.
func allInOneBase(dataDir string) *Config {
	c := productionBase()
	c.Default.StatePath = dataDir
	c.Default.AuthStrategy = AuthBuiltin
	c.Default.Listen = "127.0.0.1"
	c.Default.EnabledBackends = append([]string(nil), AllInOneBackends...)
	c.Database.Connection = "sqlite:///" + filepath.Join(dataDir, "dlvm.sqlite")
	for _, b := range AllInOneBackends {
		c.Backends = append(c.Backends, newBackend(b))
	}
	return c
}

// newBackend is a backend section's defaults; names and zone are filled in by resolve.
func newBackend(name string) BackendSection {
	return BackendSection{
		Name:                     name,
		MaxOverSubscriptionRatio: 20.0,
		ReservedPercentage:       0,
		ThinProvisioningSupport:  true,
	}
}

// resolve fills the options whose default derives from other options, where left empty.
func (c *Config) resolve() {
	d := &c.Default
	if d.DefaultAvailabilityZone == "" {
		d.DefaultAvailabilityZone = d.StorageAvailabilityZone
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		if b.VolumeBackendName == "" {
			b.VolumeBackendName = b.Name
		}
		if b.DVGName == "" {
			b.DVGName = b.Name
		}
		if b.AvailabilityZone == "" {
			b.AvailabilityZone = d.StorageAvailabilityZone
		}
	}
	if c.BuiltinIdentity.KeyFile == "" {
		c.BuiltinIdentity.KeyFile = filepath.Join(d.StatePath, "identity", "jws.pem")
	}
	p := &c.DPV
	if p.Name == "" {
		p.Name = d.Host
	}
	if p.DVG == "" && len(d.EnabledBackends) > 0 {
		p.DVG = d.EnabledBackends[0]
	}
	if p.PoolType == PoolFile && p.PoolDir == "" {
		p.PoolDir = filepath.Join(d.StatePath, "pool")
	}
	if c.Backup.PosixPath == "" {
		c.Backup.PosixPath = filepath.Join(d.StatePath, "backup")
	}
	if p.TargetIPAddress == "" {
		p.TargetIPAddress = d.MyIP
	}
	if p.AdvertiseURL == "" {
		host := p.Listen
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = d.MyIP
		}
		p.AdvertiseURL = "http://" + net.JoinHostPort(host, strconv.Itoa(p.Port))
	}
}
