package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// fullReport is the JSON file make bench writes: the machine, every layout's figures, and each
// figure of the issue checked against its target.
type fullReport struct {
	Machine machine      `json:"machine"`
	Written time.Time    `json:"written"`
	Envs    []*envReport `json:"envs"`
	Targets []check      `json:"targets"`
}

type machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemMiB   int64  `json:"mem_mib"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Hostname string `json:"hostname"`
	Load     string `json:"loadavg_at_end"`
}

// check is one target of the issue against the figure measured.
type check struct {
	Env    string  `json:"env"`
	What   string  `json:"what"`
	Target string  `json:"target"`
	Got    float64 `json:"got"`
	Unit   string  `json:"unit"`
	Pass   bool    `json:"pass"`
}

func reportCmd(args []string) error {
	fs := flag.NewFlagSet("dlvm-bench report", flag.ContinueOnError)
	out := fs.String("out", "bench.json", "combined JSON file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep := fullReport{Machine: describeMachine(), Written: time.Now().UTC()}
	for _, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var e envReport
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rep.Envs = append(rep.Envs, &e)
		rep.Targets = append(rep.Targets, targets(&e)...)
	}
	m := rep.Machine
	fmt.Printf("\nmachine: %s, %d cores, %d MiB, Linux %s, %s; load average at the end: %s\n", m.CPU, m.Cores, m.MemMiB, m.Kernel, m.Go, m.Load)
	for _, e := range rep.Envs {
		printEnv(os.Stdout, e)
	}
	printTargets(os.Stdout, rep.Targets)
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nJSON: %s\n", *out)
	return nil
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Fscanf(f, "MemTotal: %d kB", &kb)
		m.MemMiB = kb / 1024
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

func phase(st stage, name string) (result, bool) {
	for _, r := range st.Phases {
		if r.Name == name {
			return r, true
		}
	}
	return result{}, false
}

// targets checks the "done when" figures, which are stated for 100 volumes (and the
// limit=100 list at 10,000 against the 100-volume list).
func targets(e *envReport) []check {
	var out []check
	var s100, s10k *stage
	for i := range e.Stages {
		switch e.Stages[i].Volumes {
		case 100:
			s100 = &e.Stages[i]
		case 10000:
			s10k = &e.Stages[i]
		}
	}
	add := func(what, target, unit string, got float64, pass bool) {
		out = append(out, check{Env: e.Env, What: what, Target: target, Got: got, Unit: unit, Pass: pass})
	}
	if s100 != nil {
		if r, ok := phase(*s100, "GET volumes/detail"); ok {
			add("volumes/detail, 100 volumes", ">= 1500", "requests/s", r.RPS, r.RPS >= 1500)
			add("volumes/detail p99, 100 volumes", "< 50", "ms", r.P99ms, r.P99ms < 50)
		}
		if r, ok := phase(*s100, "GET volumes/{id}"); ok {
			add("one-volume GET, 100 volumes", ">= 5000", "requests/s", r.RPS, r.RPS >= 5000)
			add("one-volume GET p99, 100 volumes", "< 50", "ms", r.P99ms, r.P99ms < 50)
		}
		add("creates to available, first 100", ">= 200", "volumes/s", s100.Fill.RPS, s100.Fill.RPS >= 200)
		if s10k != nil {
			base, ok1 := phase(*s100, "GET volumes/detail")
			r, ok2 := phase(*s10k, "GET volumes/detail?limit=100")
			if ok1 && ok2 && r.RPS > 0 {
				ratio := base.RPS / r.RPS
				add("detail?limit=100 at 10,000 vs detail at 100 (slowdown, same run)", "<= 2", "x", ratio, ratio <= 2)
			}
		}
	}
	for _, m := range e.Memory {
		if m.Name == "api" || m.Name == "all-in-one" {
			add("peak RSS of "+m.Name+" process", "< 100", "MiB", m.PeakMiB, m.PeakMiB < 100)
		}
	}
	return out
}

func printEnv(w io.Writer, e *envReport) {
	fmt.Fprintf(w, "\n== %s: %s\n", e.Env, e.Description)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "volumes\tphase\tconns\trate/s\tp50 ms\tp99 ms\tcpu s/1k\tapi cpu s/1k\tvs baseline\terrors\t")
	b := e.Baseline
	fmt.Fprintf(tw, "-\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.3f\t%.3f\t1.00\t%d\t\n", b.Name, b.Conns, b.RPS, b.P50ms, b.P99ms, b.CPUPer1k, b.APICPUPer1, b.Errors)
	for _, st := range e.Stages {
		rows := append([]result{st.Fill}, st.Phases...)
		for _, r := range rows {
			name := r.Name
			if r.Unit != "" && r.Unit != "requests" {
				name += " (" + r.Unit + ")"
			}
			vs := "-"
			if b.RPS > 0 && r.Unit == "" {
				vs = fmt.Sprintf("%.2f", r.RPS/b.RPS)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%.2f\t%.2f\t%.3f\t%.3f\t%s\t%d\t\n", st.Volumes, name, r.Conns, r.RPS, r.P50ms, r.P99ms, r.CPUPer1k, r.APICPUPer1, vs, r.Errors)
		}
		if st.Legs > 0 {
			fmt.Fprintf(tw, "%d\tleg files on the dpvs\t\t%d\t\t\t\t\t\t\t\n", st.Volumes, st.Legs)
		}
		if st.DBFilled > 0 {
			fmt.Fprintf(tw, "%d\tvolumes inserted into the DB, no legs (API fill too slow)\t\t%d\t\t\t\t\t\t\t\n", st.Volumes, st.DBFilled)
		}
	}
	tw.Flush()
	for _, t := range e.Token {
		fmt.Fprintf(w, "token validation (%d fresh tokens): first use p50 %.2f ms p99 %.2f ms; cached p50 %.2f ms p99 %.2f ms (first/cached %.1fx)\n",
			t.Samples, t.FirstP50ms, t.FirstP99ms, t.CachedP50, t.CachedP99, t.Ratio)
	}
	for _, m := range e.Memory {
		fmt.Fprintf(w, "peak RSS %-12s %6.1f MiB (now %.1f MiB)\n", m.Name, m.PeakMiB, m.RSSMiB)
	}
	for _, n := range e.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func printTargets(w io.Writer, cs []check) {
	fmt.Fprintln(w, "\n== targets of the issue (figures with 100 volumes unless said)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range cs {
		mark := "MISS"
		if c.Pass {
			mark = "ok"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f %s\ttarget %s\t%s\n", c.Env, c.What, c.Got, c.Unit, c.Target, mark)
	}
	tw.Flush()
}
