package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// envReport is everything one run measured on one service layout.
type envReport struct {
	Env         string         `json:"env"`
	Description string         `json:"description"`
	Started     time.Time      `json:"started"`
	Baseline    result         `json:"baseline_versions_get"`
	Stages      []stage        `json:"stages"`
	Token       []tokenFigures `json:"token_validation"`
	Memory      []memFigure    `json:"memory"`
	Notes       []string       `json:"notes,omitempty"`
}

// stage is the set of figures measured with a given number of volumes in the project.
type stage struct {
	Volumes int    `json:"volumes"`
	Fill    result `json:"create"` // POST /volumes until available, for the volumes added
	Legs    int    `json:"leg_files,omitempty"`
	// DBFilled volumes were inserted into the database (copies of an API-created one, no legs)
	// because the API fill ran out of its time budget.
	DBFilled int         `json:"db_filled,omitempty"`
	Phases   []result    `json:"phases"`
	Memory   []memFigure `json:"memory"`
}

type runOpts struct {
	env, desc                    string
	api, authURL                 string
	user, password, project      string
	procs                        []proc
	counts                       []int
	dur                          time.Duration
	conns, createConns, attConns int
	tokenSamples                 int
	legsGlob                     string
	fillBudget                   time.Duration
	dbFill                       string
	out                          string
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dlvm-bench run", flag.ContinueOnError)
	var o runOpts
	var procs, counts string
	fs.StringVar(&o.env, "env", "embedded", "a name for the service layout under test")
	fs.StringVar(&o.desc, "desc", "", "a sentence describing the layout")
	fs.StringVar(&o.api, "api", "http://127.0.0.1:8776", "the API root")
	fs.StringVar(&o.authURL, "auth-url", "http://127.0.0.1:5000/v3", "Keystone v3")
	fs.StringVar(&o.user, "user", "admin", "user (an admin: the bench creates a volume type)")
	fs.StringVar(&o.password, "password", "admin", "password")
	fs.StringVar(&o.project, "project", "admin", "project the volumes go to")
	fs.StringVar(&procs, "procs", "", "the dlvm processes to watch: name=pid,name=pid (one named api or all-in-one)")
	fs.StringVar(&counts, "counts", "100,1000,10000", "volume counts in the project, ascending")
	fs.DurationVar(&o.dur, "duration", 5*time.Second, "length of each measured phase")
	fs.IntVar(&o.conns, "connections", 8, "connections of the GET phases")
	fs.IntVar(&o.createConns, "create-connections", 16, "volumes being created at once")
	fs.IntVar(&o.attConns, "attach-connections", 4, "attach+detach cycles at once (one volume each)")
	fs.IntVar(&o.tokenSamples, "token-samples", 40, "fresh tokens for the first-use vs cached validation figure")
	fs.StringVar(&o.legsGlob, "legs-glob", "", "glob of the leg files of every dpv (counted after each fill)")
	fs.DurationVar(&o.fillBudget, "fill-budget", 0, "longest API fill per stage; the rest goes through --db-fill (0: no limit)")
	fs.StringVar(&o.dbFill, "db-fill", "", "command inserting volume rows: run with COUNT TEMPLATE_ID FIRST appended")
	fs.StringVar(&o.out, "out", "bench-part.json", "JSON file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, kv := range strings.Split(procs, ",") {
		if kv == "" {
			continue
		}
		name, pid, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil {
			return fmt.Errorf("--procs: bad %q", kv)
		}
		o.procs = append(o.procs, proc{Name: name, PID: n})
	}
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			return fmt.Errorf("--counts: bad %q", c)
		}
		o.counts = append(o.counts, n)
	}
	rep, err := run(ctx, o)
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if werr := os.WriteFile(o.out, append(b, '\n'), 0o644); werr != nil {
			return errors.Join(err, werr)
		}
		printEnv(os.Stdout, rep)
	}
	return err
}

func run(ctx context.Context, o runOpts) (*envReport, error) {
	rep := &envReport{Env: o.env, Description: o.desc, Started: time.Now().UTC()}
	hc := newWorkerClient()
	s := &session{authURL: o.authURL, user: o.user, password: o.password, project: o.project, base: strings.TrimSuffix(o.api, "/")}
	var err error
	if s.token, s.projectID, err = s.issueToken(ctx, hc); err != nil {
		return nil, err
	}
	cpu := newCPUMeter(o.procs)
	measure := func(name string, vols, conns int, fn op) result {
		cpu.start()
		r := drive(ctx, name, conns, o.dur, fn)
		total, api := cpu.stop()
		if r.Requests > 0 {
			r.CPUPer1k = total / float64(r.Requests) * 1000
			r.APICPUPer1 = api / float64(r.Requests) * 1000
		}
		r.Volumes = vols
		logf("%-28s %6d vols  %8.1f/s  p50 %6.2f ms  p99 %7.2f ms  errors %d %s", name, vols, r.RPS, r.P50ms, r.P99ms, r.Errors, r.FirstError)
		return r
	}

	// Baseline of this run: the unauthenticated version document, no database, same server.
	rep.Baseline = measure("GET / (baseline)", 0, o.conns, func(ctx context.Context, c *http.Client, _ int) error {
		return get(ctx, c, s.base+"/", "", http.StatusMultipleChoices)
	})

	// the first authenticated calls may wait for a cold Keystone: setup retries a few times
	if err := retry(ctx, func() error {
		return s.ensureType(ctx, hc, "bench-single", map[string]string{"dlvm:mirrors": "1"})
	}); err != nil {
		return rep, fmt.Errorf("volume type: %w", err)
	}
	// One single-leg volume per attach worker: its connection_info is plain iscsi, so the cycle
	// measures the control path (DB, bus, the dpv agent's tgtadm export) and no host assembly.
	attVols := make([]string, o.attConns)
	for i := range attVols {
		var id string
		err := retry(ctx, func() (err error) {
			id, err = s.createVolume(ctx, hc, fmt.Sprintf("bench-attach-%d", i), "bench-single")
			return err
		})
		if err == nil {
			err = s.waitStatus(ctx, hc, id, "available", 20*time.Millisecond, 2*time.Minute)
		}
		if err != nil {
			return rep, fmt.Errorf("attach volume: %w", err)
		}
		attVols[i] = id
	}
	have := len(attVols)
	oneID := attVols[0]
	for _, n := range o.counts {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		st := stage{Volumes: n}
		var tmpl string
		st.Fill, tmpl = fill(ctx, s, cpu, have, n, o.createConns, o.fillBudget)
		have += st.Fill.Requests
		logf("%-28s %6d vols  %8.1f volumes/s  p50 %6.0f ms  p99 %7.0f ms  errors %d %s", "POST /volumes -> available", n,
			st.Fill.RPS, st.Fill.P50ms, st.Fill.P99ms, st.Fill.Errors, st.Fill.FirstError)
		logf("%-28s %6d vols  CPU s per 1k volumes by process: %s", "POST /volumes -> available", n, fmtProcs(o.procs, st.Fill.CPUPer1kProc))
		if have < n && o.dbFill != "" && tmpl != "" && ctx.Err() == nil {
			args := append(strings.Fields(o.dbFill), strconv.Itoa(n-have), tmpl, strconv.Itoa(have+1))
			t0 := time.Now()
			if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
				return rep, fmt.Errorf("db fill: %v: %s", err, out)
			}
			logf("%-28s %6d vols  %d rows inserted into the database in %.1f s (no legs)", "DB fill", n, n-have, time.Since(t0).Seconds())
			st.DBFilled = n - have
			have = n
		}
		if have < n {
			rep.Stages = append(rep.Stages, st)
			return rep, fmt.Errorf("fill stopped at %d of %d volumes: %s", have, n, st.Fill.FirstError)
		}
		if o.legsGlob != "" {
			m, _ := filepath.Glob(o.legsGlob)
			st.Legs = len(m)
		}
		vols := s.volumes() + "/volumes"
		st.Phases = append(st.Phases,
			measure("GET volumes/detail", n, o.conns, func(ctx context.Context, c *http.Client, _ int) error {
				return get(ctx, c, vols+"/detail", s.token, http.StatusOK)
			}),
			measure("GET volumes/detail?limit=100", n, o.conns, func(ctx context.Context, c *http.Client, _ int) error {
				return get(ctx, c, vols+"/detail?limit=100", s.token, http.StatusOK)
			}),
			measure("GET volumes/{id}", n, o.conns, func(ctx context.Context, c *http.Client, _ int) error {
				return get(ctx, c, vols+"/"+oneID, s.token, http.StatusOK)
			}))
		var cycles atomic.Int64
		att := measure("attach+detach cycle", n, o.attConns, func(ctx context.Context, c *http.Client, w int) error {
			_, err := s.attachCycle(ctx, c, attVols[w], w, int(cycles.Add(1)))
			return err
		})
		att.Unit = "cycles"
		att.Note = "attachments API 3.44: create, update with an iscsi connector, os-complete, delete, poll until available; single-leg volumes"
		st.Phases = append(st.Phases, att)
		st.Memory = memory(o.procs)
		rep.Stages = append(rep.Stages, st)
	}
	rep.Token = tokenFirstUse(ctx, s, o.tokenSamples, oneID)
	rep.Memory = memory(o.procs)
	return rep, nil
}

// fill creates volumes through the API until the project holds want of them (it holds have),
// conns at a time, each polled until available, and measures the end-to-end rate.
func fill(ctx context.Context, s *session, cpu *cpuMeter, have, want, conns int, budget time.Duration) (result, string) {
	todo := int64(want - have)
	r := result{Name: "POST /volumes -> available", Volumes: want, Conns: conns, Unit: "volumes"}
	if todo <= 0 {
		return r, ""
	}
	var deadline time.Time
	if budget > 0 {
		deadline = time.Now().Add(budget)
	}
	var tmpl string
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	start := time.Now()
	cpu.start()
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newWorkerClient()
			for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
				i := next.Add(1)
				if i > todo {
					return
				}
				t0 := time.Now()
				id, err := s.createVolume(ctx, c, fmt.Sprintf("bench-%d", int64(have)+i), "")
				if err == nil {
					err = s.waitStatus(ctx, c, id, "available", 25*time.Millisecond, 5*time.Minute)
				}
				mu.Lock()
				if err != nil {
					r.Errors++
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
				} else {
					lat = append(lat, time.Since(t0))
					if tmpl == "" {
						tmpl = id
					}
				}
				mu.Unlock()
				if r.Errors > 20 {
					return
				}
			}
		}()
	}
	wg.Wait()
	total, api := cpu.stop()
	r.Seconds = time.Since(start).Seconds()
	r.Requests = len(lat)
	r.RPS = float64(len(lat)) / r.Seconds
	r.P50ms, r.P99ms = percentile(lat, 0.5), percentile(lat, 0.99)
	if r.Requests > 0 {
		r.CPUPer1k = total / float64(r.Requests) * 1000
		r.APICPUPer1 = api / float64(r.Requests) * 1000
		r.CPUPer1kProc = cpu.perProc(r.Requests)
	}
	r.Note = "per 1,000 volumes created (each: one POST and GETs every 25 ms until available)"
	return r, tmpl
}

// tokenFigures compares a token's first use (the API validates it: the built-in identity's
// signature check or a call to Keystone) with later uses of the same token (cached).
type tokenFigures struct {
	Samples    int     `json:"samples"`
	FirstP50ms float64 `json:"first_use_p50_ms"`
	FirstP99ms float64 `json:"first_use_p99_ms"`
	CachedP50  float64 `json:"cached_p50_ms"`
	CachedP99  float64 `json:"cached_p99_ms"`
	Ratio      float64 `json:"first_over_cached_p50"`
	Note       string  `json:"note"`
}

func tokenFirstUse(ctx context.Context, s *session, n int, volumeID string) []tokenFigures {
	c := newWorkerClient()
	var first, cached []time.Duration
	url := s.volumes() + "/volumes/" + volumeID
	for i := 0; i < n && ctx.Err() == nil; i++ {
		tok, _, err := s.issueToken(ctx, c)
		if err != nil {
			logf("token: %v", err)
			break
		}
		t0 := time.Now()
		if err := get(ctx, c, url, tok, http.StatusOK); err != nil {
			logf("token first use: %v", err)
			break
		}
		first = append(first, time.Since(t0))
		for j := 0; j < 5; j++ {
			t0 = time.Now()
			if err := get(ctx, c, url, tok, http.StatusOK); err != nil {
				break
			}
			cached = append(cached, time.Since(t0))
		}
	}
	f := tokenFigures{Samples: len(first), FirstP50ms: percentile(first, .5), FirstP99ms: percentile(first, .99),
		CachedP50: percentile(cached, .5), CachedP99: percentile(cached, .99),
		Note: "GET volumes/{id} with a freshly issued token, then five more times with it; one connection"}
	if f.CachedP50 > 0 {
		f.Ratio = f.FirstP50ms / f.CachedP50
	}
	logf("token first use p50 %.2f ms p99 %.2f ms, cached p50 %.2f ms p99 %.2f ms", f.FirstP50ms, f.FirstP99ms, f.CachedP50, f.CachedP99)
	return []tokenFigures{f}
}

// retry runs fn up to five times, two seconds apart, until it succeeds.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for i := 0; i < 5 && ctx.Err() == nil; i++ {
		if err = fn(); err == nil {
			return nil
		}
		logf("setup: %v (retrying)", err)
		time.Sleep(2 * time.Second)
	}
	return err
}

// fmtProcs prints "name=1.23" for each process, in procs order.
func fmtProcs(procs []proc, v map[string]float64) string {
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, " %s=%.2f", p.Name, v[p.Name])
	}
	return strings.TrimSpace(b.String())
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
}
