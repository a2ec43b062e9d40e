package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// result is one measured phase: throughput and latency of a closed loop of fixed connections.
type result struct {
	Name       string  `json:"name"`
	Volumes    int     `json:"volumes"`
	Conns      int     `json:"connections"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	Seconds    float64 `json:"seconds"`
	RPS        float64 `json:"requests_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	CPUPer1k   float64 `json:"cpu_s_per_1000_requests"`
	APICPUPer1 float64 `json:"api_cpu_s_per_1000_requests"`
	// CPUPer1kProc is CPUPer1k by watched process (the create fill only).
	CPUPer1kProc map[string]float64 `json:"cpu_s_per_1000_requests_by_process,omitempty"`
	Unit         string             `json:"unit,omitempty"` // "requests" unless the phase counts something else
	Note         string             `json:"note,omitempty"`
	FirstError   string             `json:"first_error,omitempty"`
}

// op is one unit of work of a worker: it returns an error when the unit failed. Workers count
// one request per op unless the op says otherwise through its return.
type op func(ctx context.Context, c *http.Client, worker int) error

// newWorkerClient returns an HTTP client with exactly one kept-alive connection, so n workers
// hold n connections for the whole phase (what wrk's -c means).
func newWorkerClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true,
			ResponseHeaderTimeout: 60 * time.Second},
		Timeout: 120 * time.Second,
	}
}

// drive runs conns workers, each looping fn, for d, and measures every call.
func drive(ctx context.Context, name string, conns int, d time.Duration, fn op) result {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	firstErr := ""
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newWorkerClient()
			defer c.CloseIdleConnections()
			local := make([]time.Duration, 0, 4096)
			lerrs := 0
			var lfirst string
			for ctx.Err() == nil {
				t0 := time.Now()
				err := fn(context.WithoutCancel(ctx), c, w)
				if err != nil {
					lerrs++
					if lfirst == "" {
						lfirst = err.Error()
					}
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += lerrs
			if firstErr == "" {
				firstErr = lfirst
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	r := result{Name: name, Conns: conns, Requests: len(lat), Errors: errs, Seconds: el, FirstError: firstErr}
	if el > 0 {
		r.RPS = float64(len(lat)) / el
	}
	r.P50ms, r.P99ms = percentile(lat, 0.50), percentile(lat, 0.99)
	return r
}

func percentile(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := int(float64(len(lat)-1) * p)
	return float64(lat[i].Microseconds()) / 1000
}

// get issues a GET and reads the whole body; any status but want is an error.
func get(ctx context.Context, c *http.Client, url, token string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
