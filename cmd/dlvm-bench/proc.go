package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// proc is one dlvm process the bench watches, by its pid.
type proc struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
}

// procStats is what /proc says about one process at one moment.
type procStats struct {
	CPUSeconds float64 // user + system, its own and that of the children it waited for (tgtadm...)
	RSSKiB     int64   // VmRSS
	PeakKiB    int64   // VmHWM: the peak resident set since the process started
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func readProc(pid int) (procStats, error) {
	var s procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// the command name may hold spaces; the fields after its closing parenthesis are fixed
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 15 {
		return s, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)  // field 14 of stat: utime
	st, _ := strconv.ParseInt(f[12], 10, 64)  // field 15: stime
	cut, _ := strconv.ParseInt(f[13], 10, 64) // 16: cutime, children waited for
	cst, _ := strconv.ParseInt(f[14], 10, 64) // 17: cstime
	s.CPUSeconds = float64(ut+st+cut+cst) / clockTicks
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			s.RSSKiB = n
		case "VmHWM":
			s.PeakKiB = n
		}
	}
	return s, sc.Err()
}

// cpuMeter measures the CPU seconds the watched processes spend between start and stop.
type cpuMeter struct {
	procs []proc
	api   int // index of the API process in procs, -1 if none is named "api"
	t0    []float64
	last  []float64 // CPU seconds of each process between the last start and stop
}

func newCPUMeter(procs []proc) *cpuMeter {
	m := &cpuMeter{procs: procs, api: -1}
	for i, p := range procs {
		if p.Name == "api" || p.Name == "all-in-one" {
			m.api = i
		}
	}
	return m
}

func (m *cpuMeter) start() {
	m.t0 = make([]float64, len(m.procs))
	for i, p := range m.procs {
		if s, err := readProc(p.PID); err == nil {
			m.t0[i] = s.CPUSeconds
		}
	}
}

// stop returns the CPU seconds spent by all watched processes and by the API process alone;
// perProc then gives each process's share.
func (m *cpuMeter) stop() (total, api float64) {
	m.last = make([]float64, len(m.procs))
	for i, p := range m.procs {
		s, err := readProc(p.PID)
		if err != nil {
			continue
		}
		d := s.CPUSeconds - m.t0[i]
		m.last[i] = d
		total += d
		if i == m.api {
			api = d
		}
	}
	return total, api
}

// perProc returns each watched process's CPU seconds between the last start and stop, divided
// by n and times 1,000 (seconds per 1,000 requests), by process name; nil when n is 0.
func (m *cpuMeter) perProc(n int) map[string]float64 {
	if n == 0 || m.last == nil {
		return nil
	}
	out := make(map[string]float64, len(m.procs))
	for i, p := range m.procs {
		out[p.Name] = m.last[i] / float64(n) * 1000
	}
	return out
}

// memory reports each watched process's current and peak resident set, in MiB.
func memory(procs []proc) []memFigure {
	var out []memFigure
	for _, p := range procs {
		s, err := readProc(p.PID)
		if err != nil {
			out = append(out, memFigure{Name: p.Name, PID: p.PID, Error: err.Error()})
			continue
		}
		out = append(out, memFigure{Name: p.Name, PID: p.PID, RSSMiB: float64(s.RSSKiB) / 1024, PeakMiB: float64(s.PeakKiB) / 1024})
	}
	return out
}

type memFigure struct {
	Name    string  `json:"name"`
	PID     int     `json:"pid"`
	RSSMiB  float64 `json:"rss_mib"`
	PeakMiB float64 `json:"peak_rss_mib"`
	Error   string  `json:"error,omitempty"`
}
