package etc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// Load reads and parses the configuration file at path (see Parse).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("etc: read config: %w", err)
	}
	return Parse(data)
}

// Parse parses a cinder.conf-style file over the production defaults, fills derived options,
// and validates the result. All option errors are returned at once, joined; each is an
// *OptionError. Unknown keys and sections become Config.Warnings. When options are invalid the
// Config is returned with the error, so its Warnings (a misspelt key often explains a missing
// one) can be logged; a syntax error returns a nil Config.
func Parse(data []byte) (*Config, error) {
	return parseOver(productionBase(), data)
}

// LoadAllInOne reads the file at path and parses it with ParseAllInOne.
func LoadAllInOne(dataDir, path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("etc: read config: %w", err)
	}
	return ParseAllInOne(dataDir, data)
}

// ParseAllInOne is Parse over the all-in-one defaults of Default(dataDir) instead of the
// production ones: what the file does not set keeps its all-in-one value. The [dlvm-1] backend
// exists without a section in the file.
func ParseAllInOne(dataDir string, data []byte) (*Config, error) {
	return parseOver(allInOneBase(dataDir), data)
}

// OptionError is one invalid option.
type OptionError struct {
	Section string // "DEFAULT", "database", a backend name, ...
	Key     string // "" when the error concerns the whole section
	Reason  string // what is wrong; never contains secrets
}

func (e *OptionError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("[%s] %s", e.Section, e.Reason)
	}
	return fmt.Sprintf("[%s] %s: %s", e.Section, e.Key, e.Reason)
}

func optErr(section, key, format string, args ...any) *OptionError {
	return &OptionError{Section: section, Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Section names.
const (
	secDefault  = "DEFAULT" // ini.DefaultSection
	secDatabase = "database"
	secKeystone = "keystone_authtoken"
	secBuiltin  = "builtin_identity"
	secDPV      = "dpv"
	secAllInOne = "all_in_one"
	secNova     = "nova"
	secBackup   = "backup"
	secAgent    = "agent"
)

// fixedSections are the sections that are not backends.
var fixedSections = []string{secDefault, secDatabase, secKeystone, secBuiltin, secDPV, secAllInOne, secNova, secBackup, secAgent}

func isFixedSection(name string) bool {
	for _, s := range fixedSections {
		if s == name {
			return true
		}
	}
	return false
}

// parseOver parses data onto base, resolves derived options and validates.
func parseOver(base *Config, data []byte) (*Config, error) {
	p, err := newParser(data)
	if err != nil {
		return nil, err
	}
	c := base
	p.read(c)
	c.resolve()
	c.Warnings = p.warnings()
	return c, errors.Join(append(p.errs, c.Validate())...)
}

// rawSection is one section as written: keys in file order, the last value of each key, and
// every non-empty value of repeated keys.
type rawSection struct {
	keys []string
	last map[string]string
	all  map[string][]string
}

// parser reads typed options out of the raw sections and records which keys it knows, so that
// the rest can be reported as unknown and the sample can be checked against it.
type parser struct {
	order []string               // sections in file order
	raw   map[string]*rawSection // by section name
	known map[string]map[string]bool
	notes []string // warnings about known keys (accepted but unused)
	errs  []error
}

func newParser(data []byte) (*parser, error) {
	opts := ini.LoadOptions{
		AllowPythonMultilineValues: true, // indented continuation lines
		IgnoreInlineComment:        true, // oslo keeps "#" and ";" inside values (passwords)
	}
	// Loaded twice: without shadows a repeated key keeps its last value, empty or not (oslo's
	// rule for single-valued options); with shadows every value of a multi-valued option is
	// kept (ini drops the empty ones, which multi-valued options ignore anyway).
	f, err := ini.LoadSources(opts, data)
	if err != nil {
		return nil, fmt.Errorf("etc: parse config: %w", err)
	}
	opts.AllowShadows, opts.AllowDuplicateShadowValues = true, true
	shadowed, err := ini.LoadSources(opts, data)
	if err != nil {
		return nil, fmt.Errorf("etc: parse config: %w", err)
	}
	p := &parser{raw: map[string]*rawSection{}, known: map[string]map[string]bool{}}
	for _, s := range f.Sections() {
		rs := &rawSection{last: map[string]string{}, all: map[string][]string{}}
		for _, k := range s.Keys() {
			rs.keys = append(rs.keys, k.Name())
			rs.last[k.Name()] = k.Value()
			rs.all[k.Name()] = shadowed.Section(s.Name()).Key(k.Name()).ValueWithShadows()
		}
		if s.Name() == secDefault && len(rs.keys) == 0 {
			continue // ini always has a DEFAULT section
		}
		p.order = append(p.order, s.Name())
		p.raw[s.Name()] = rs
	}
	return p, nil
}

// read parses every known section onto c, keeping c's values where the file is silent.
func (p *parser) read(c *Config) {
	d := &c.Default
	r := p.section(secDefault)
	r.str("host", &d.Host)
	r.str("my_ip", &d.MyIP)
	r.str("state_path", &d.StatePath)
	r.str("transport_url", &d.TransportURL)
	r.str("control_exchange", &d.ControlExchange)
	r.str("auth_strategy", &d.AuthStrategy)
	r.str("osapi_volume_listen", &d.Listen)
	r.integer("osapi_volume_listen_port", &d.ListenPort)
	r.str("public_endpoint", &d.PublicEndpoint)
	r.list("enabled_backends", &d.EnabledBackends)
	r.str("default_volume_type", &d.DefaultVolumeType)
	r.str("storage_availability_zone", &d.StorageAvailabilityZone)
	r.str("default_availability_zone", &d.DefaultAvailabilityZone)
	r.boolean("debug", &d.Debug)
	r.path("log_file", &d.LogFile, d.StatePath)
	r.str("pprof_listen", &d.PprofListen)
	r.integer("quota_volumes", &d.Quotas.Volumes)
	r.integer("quota_snapshots", &d.Quotas.Snapshots)
	r.integer("quota_gigabytes", &d.Quotas.Gigabytes)
	r.integer("quota_backups", &d.Quotas.Backups)
	r.integer("quota_backup_gigabytes", &d.Quotas.BackupGigabytes)
	r.integer("quota_groups", &d.Quotas.Groups)
	r.integer("per_volume_size_limit", &d.Quotas.PerVolumeSizeLimit)
	r.integer("dlvm_default_mirrors", &d.Layout.Mirrors)
	r.integer("dlvm_default_stripes", &d.Layout.Stripes)
	r.integer("dlvm_default_stripe_chunk_kib", &d.Layout.StripeChunkKiB)
	r.duration("workflow_sweep_interval", &d.WorkflowSweepInterval)
	r.duration("workflow_stale_after", &d.WorkflowStaleAfter)
	r.duration("message_ttl", &d.MessageTTL)
	r.duration("dpv_heartbeat_interval", &d.DPVHeartbeatInterval)
	r.duration("dpv_heartbeat_timeout", &d.DPVHeartbeatTimeout)
	r.duration("report_interval", &d.ReportInterval)
	r.duration("service_down_time", &d.ServiceDownTime)
	r.duration("leg_replace_after", &d.LegReplaceAfter)
	r.str("agent_token", &d.AgentToken)

	db := &c.Database
	r = p.section(secDatabase)
	r.path("connection", &db.Connection, d.StatePath)
	r.integer("max_pool_size", &db.MaxPoolSize)
	r.accept("max_overflow", "") // Cinder operators carry it; meaningless for database/sql

	k := &c.KeystoneAuthtoken
	r = p.section(secKeystone)
	r.str("www_authenticate_uri", &k.WWWAuthenticateURI)
	r.str("auth_url", &k.AuthURL)
	r.str("auth_type", &k.AuthType)
	r.str("username", &k.Username)
	r.str("password", &k.Password)
	r.str("project_name", &k.ProjectName)
	r.str("user_domain_name", &k.UserDomainName)
	r.str("project_domain_name", &k.ProjectDomainName)
	r.str("region_name", &k.RegionName)
	r.accept("memcached_servers", "accepted but unused: dlvm caches validated tokens in process")
	r.duration("token_cache_time", &k.TokenCacheTime)
	r.duration("http_connect_timeout", &k.HTTPConnectTimeout)
	r.str("jws_public_key_repository", &k.JWSPublicKeyRepository)
	r.boolean("service_token_roles_required", &k.ServiceTokenRolesRequired)

	b := &c.BuiltinIdentity
	r = p.section(secBuiltin)
	r.str("listen", &b.Listen)
	r.integer("port", &b.Port)
	r.str("public_url", &b.PublicURL)
	r.path("key_file", &b.KeyFile, d.StatePath)
	r.duration("token_expiration", &b.TokenExpiration)
	var users []string
	if r.multi("users", &users) {
		b.Users = r.users(users)
	}

	p.readBackends(c)

	v := &c.DPV
	r = p.section(secDPV)
	r.str("name", &v.Name)
	r.str("dvg", &v.DVG)
	r.str("listen", &v.Listen)
	r.integer("port", &v.Port)
	r.str("advertise_url", &v.AdvertiseURL)
	r.str("location", &v.Location)
	r.str("pool_type", &v.PoolType)
	r.path("pool_dir", &v.PoolDir, d.StatePath)
	r.str("volume_group", &v.VolumeGroup)
	r.str("thin_pool", &v.ThinPool)
	r.str("target_helper", &v.TargetHelper)
	r.str("target_ip_address", &v.TargetIPAddress)
	r.integer("target_port", &v.TargetPort)
	r.str("iscsi_target_prefix", &v.ISCSITargetPrefix)

	a := &c.AllInOne
	r = p.section(secAllInOne)
	r.integer("dpv_count", &a.DPVCount)
	r.integer("dpv_base_port", &a.DPVBasePort)
	r.integer("target_base_port", &a.TargetBasePort)
	r.integer("dpv_size_gb", &a.DPVSizeGB)

	n := &c.Nova
	r = p.section(secNova)
	r.str("auth_url", &n.AuthURL)
	r.str("username", &n.Username)
	r.str("password", &n.Password)
	r.str("project_name", &n.ProjectName)
	r.str("user_domain_name", &n.UserDomainName)
	r.str("project_domain_name", &n.ProjectDomainName)
	r.str("region_name", &n.RegionName)
	r.str("endpoint_type", &n.EndpointType)

	bk := &c.Backup
	r = p.section(secBackup)
	r.str("backup_driver", &bk.Driver)
	r.path("backup_posix_path", &bk.PosixPath, d.StatePath)
	r.integer("backup_file_size", &bk.FileSize)
	r.str("backup_container", &bk.Container)

	ag := &c.Agent
	r = p.section(secAgent)
	r.path("ca_file", &ag.CAFile, d.StatePath)
	r.path("cert_file", &ag.CertFile, d.StatePath)
	r.path("key_file", &ag.KeyFile, d.StatePath)
	r.path("shared_secret_file", &ag.SharedSecretFile, d.StatePath)
	r.duration("replay_window", &ag.ReplayWindow)
}

// readBackends builds c.Backends in enabled_backends order. A backend with no section keeps the
// base's section of that name if there is one (all-in-one's dlvm-1); otherwise it is left out and
// Validate reports it.
func (p *parser) readBackends(c *Config) {
	base := c.Backends
	c.Backends = nil
	seen := map[string]bool{}
	for _, name := range c.Default.EnabledBackends {
		if seen[name] || name == "" || isFixedSection(name) {
			continue // Validate reports it
		}
		seen[name] = true
		be := newBackend(name)
		found := false
		for _, bb := range base {
			if bb.Name == name {
				be, found = bb, true
			}
		}
		if _, ok := p.raw[name]; !ok && !found {
			continue
		}
		r := p.section(name)
		r.str("volume_backend_name", &be.VolumeBackendName)
		r.str("dvg_name", &be.DVGName)
		r.str("availability_zone", &be.AvailabilityZone)
		r.float("max_over_subscription_ratio", &be.MaxOverSubscriptionRatio)
		r.integer("reserved_percentage", &be.ReservedPercentage)
		r.boolean("thin_provisioning_support", &be.ThinProvisioningSupport)
		c.Backends = append(c.Backends, be)
	}
}

// warnings lists, in file order, unknown sections, unknown keys of known sections, then the
// notes about accepted-but-unused keys.
func (p *parser) warnings() []string {
	var w []string
	for _, s := range p.order {
		known, ok := p.known[s]
		if !ok {
			w = append(w, fmt.Sprintf("[%s]: unknown section (not a dlvm section nor in enabled_backends), ignored", s))
			continue
		}
		for _, k := range p.raw[s].keys {
			if !known[k] {
				w = append(w, fmt.Sprintf("[%s] %s: unknown option, ignored", s, k))
			}
		}
	}
	return append(w, p.notes...)
}

// sectionReader reads the options of one section.
type sectionReader struct {
	p    *parser
	name string
	raw  *rawSection // nil when the file has no such section
}

func (p *parser) section(name string) *sectionReader {
	if p.known[name] == nil {
		p.known[name] = map[string]bool{}
	}
	return &sectionReader{p: p, name: name, raw: p.raw[name]}
}

// all marks key as known and returns every non-empty value written for it.
func (r *sectionReader) all(key string) []string {
	r.p.known[r.name][key] = true
	if r.raw == nil {
		return nil
	}
	return r.raw.all[key]
}

// value marks key as known and returns the last value written for it (oslo: the last one wins).
func (r *sectionReader) value(key string) (string, bool) {
	r.p.known[r.name][key] = true
	if r.raw == nil {
		return "", false
	}
	v, ok := r.raw.last[key]
	return strings.TrimSpace(v), ok
}

func (r *sectionReader) fail(key, format string, args ...any) {
	r.p.errs = append(r.p.errs, optErr(r.name, key, format, args...))
}

func (r *sectionReader) str(key string, dst *string) {
	if v, ok := r.value(key); ok {
		*dst = v
	}
}

// path is str with $state_path expanded.
func (r *sectionReader) path(key string, dst *string, statePath string) {
	if v, ok := r.value(key); ok {
		*dst = expandStatePath(v, statePath)
	}
}

// list is a comma-separated list (oslo ListOpt); blanks are dropped.
func (r *sectionReader) list(key string, dst *[]string) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	*dst = out
}

// multi collects every line of every occurrence of key (oslo MultiStrOpt, plus indented
// continuation lines); blank lines are dropped. It reports whether the key was present.
func (r *sectionReader) multi(key string, dst *[]string) bool {
	vs := r.all(key)
	if len(vs) == 0 {
		return false
	}
	out := []string{}
	for _, v := range vs {
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	*dst = out
	return true
}

func (r *sectionReader) boolean(key string, dst *bool) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		*dst = true
	case "false", "no", "off", "0":
		*dst = false
	default:
		r.fail(key, "invalid boolean %q (want true or false)", v)
	}
}

func (r *sectionReader) integer(key string, dst *int) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(key, "invalid integer %q", v)
		return
	}
	*dst = n
}

func (r *sectionReader) float(key string, dst *float64) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.fail(key, "invalid number %q", v)
		return
	}
	*dst = f
}

// duration is integer seconds (oslo style); a Go duration such as "1m30s" is accepted too.
func (r *sectionReader) duration(key string, dst *time.Duration) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n <= int64(1<<62/time.Second) {
		*dst = time.Duration(n) * time.Second
		return
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		*dst = d
		return
	}
	r.fail(key, "invalid duration %q (want integer seconds, e.g. 30)", v)
}

// accept marks key as known but unused; note, when set, is a warning given if the key is present.
func (r *sectionReader) accept(key, note string) {
	if _, ok := r.value(key); ok && note != "" {
		r.p.notes = append(r.p.notes, fmt.Sprintf("[%s] %s: %s", r.name, key, note))
	}
}

// users parses [builtin_identity] users entries; a bad entry is reported by its 1-based index,
// and with the user name when there is one, never with its password.
func (r *sectionReader) users(entries []string) []IdentityUser {
	var out []IdentityUser
	for i, e := range entries {
		u, err := ParseIdentityUser(e)
		if err != nil {
			r.fail("users", "entry %d: %v", i+1, err)
			continue
		}
		out = append(out, u)
	}
	return out
}

// ParseIdentityUser parses one [builtin_identity] users entry,
// name:password_or_bcrypt_hash:project:role1+role2. The password may itself contain colons.
// Errors name the user, never the password.
func ParseIdentityUser(entry string) (IdentityUser, error) {
	const want = "want name:password:project:role1+role2"
	f := strings.Split(entry, ":")
	if len(f) < 4 {
		return IdentityUser{}, fmt.Errorf("%d fields (%s)", len(f), want)
	}
	u := IdentityUser{
		Name:     strings.TrimSpace(f[0]),
		Password: strings.Join(f[1:len(f)-2], ":"),
		Project:  strings.TrimSpace(f[len(f)-2]),
	}
	switch {
	case u.Name == "":
		return u, fmt.Errorf("empty user name (%s)", want)
	case strings.ContainsAny(u.Name, " \t/"):
		return u, fmt.Errorf("user %q: name contains a space or a slash", u.Name)
	case u.Password == "":
		return u, fmt.Errorf("user %q: empty password", u.Name)
	case u.PasswordIsHash() && len(u.Password) != 60:
		return u, fmt.Errorf("user %q: malformed bcrypt hash (want 60 characters)", u.Name)
	case u.Project == "":
		return u, fmt.Errorf("user %q: empty project", u.Name)
	}
	for _, role := range strings.Split(f[len(f)-1], "+") {
		role = strings.TrimSpace(role)
		if role == "" {
			return u, fmt.Errorf("user %q: empty role (want role1+role2)", u.Name)
		}
		u.Roles = append(u.Roles, role)
	}
	return u, nil
}

// expandStatePath replaces $state_path and ${state_path} with statePath and $$ with $; other $
// sequences are kept as written.
func expandStatePath(v, statePath string) string {
	if !strings.Contains(v, "$") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		rest := v[i:]
		switch {
		case strings.HasPrefix(rest, "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(rest, "${state_path}"):
			b.WriteString(statePath)
			i += len("${state_path}") - 1
		case strings.HasPrefix(rest, "$state_path") && !isIdentByte(rest, len("$state_path")):
			b.WriteString(statePath)
			i += len("$state_path") - 1
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

func isIdentByte(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// knownKeys is the set of keys the parser reads, by section; a backend's keys are listed under
// backend (the sample's example backend section).
func knownKeys(backend string) map[string]map[string]bool {
	p, err := newParser([]byte("[DEFAULT]\nenabled_backends = " + backend + "\n[" + backend + "]\n"))
	if err != nil {
		panic(err)
	}
	p.read(productionBase())
	return p.known
}
