package tempest

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// cpuShare is where the CPU of one fio job went, in microseconds per I/O: the whole machine
// (every non-idle, non-iowait tick of /proc/stat, kernel threads and fio included) and each
// process group of the cpuMeter.
type cpuShare struct {
	AllUs   float64            `json:"machine_us_per_io"`
	ProcsUs map[string]float64 `json:"process_us_per_io"`
}

func (c cpuShare) String() string {
	parts := []string{fmt.Sprintf("machine %.0f", c.AllUs)}
	for _, k := range slices.Sorted(maps.Keys(c.ProcsUs)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, c.ProcsUs[k]))
	}
	return "CPU µs/IO: " + strings.Join(parts, ", ")
}

// cpuMeter samples the CPU ticks of the machine and of process groups (by command name, plus
// fixed pids) around a job.
type cpuMeter struct {
	groups map[string][]int
	t0     map[string]float64
	all0   float64
}

// newCPUMeter watches every process whose comm is one of names, and the named pids.
func newCPUMeter(names []string, pids map[string]int) *cpuMeter {
	m := &cpuMeter{groups: map[string][]int{}}
	for k, pid := range pids {
		m.groups[k] = append(m.groups[k], pid)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil {
			continue
		}
		if c := strings.TrimSpace(string(b)); slices.Contains(names, c) {
			m.groups[c] = append(m.groups[c], pid)
		}
	}
	return m
}

func (m *cpuMeter) start() {
	m.t0 = map[string]float64{}
	for k, pids := range m.groups {
		m.t0[k] = procTicks(pids)
	}
	m.all0 = machineBusyTicks()
}

// stop returns the shares of the ios done since start.
func (m *cpuMeter) stop(ios float64) cpuShare {
	s := cpuShare{ProcsUs: map[string]float64{}}
	if ios <= 0 {
		return s
	}
	s.AllUs = (machineBusyTicks() - m.all0) / clockHz / ios * 1e6
	for k, pids := range m.groups {
		s.ProcsUs[k] = (procTicks(pids) - m.t0[k]) / clockHz / ios * 1e6
	}
	return s
}

// clockHz is USER_HZ, 100 on every Linux this runs on.
const clockHz = 100

// procTicks is the user+system ticks of pids (threads included).
func procTicks(pids []int) float64 {
	var sum float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		sum += ut + st
	}
	return sum
}

// machineBusyTicks is the first line of /proc/stat without idle and iowait.
func machineBusyTicks() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var busy float64
	for i, v := range strings.Fields(line)[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		busy += x
	}
	return busy
}
