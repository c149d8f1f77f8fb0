// Open-loop HTTP/1.1 load generator: the same method as bench/lib/open-loop.ts (request i falls
// due at start + i/rate whatever the target does; its latency counts from when it was due, so a
// stalled target is charged for every request it delayed), in Go so that the generator's own
// pauses are small next to the millisecond the latency bench must resolve: no JavaScript
// event loop shared by every connection, a garbage collector whose pauses are sub-millisecond.
// Written here rather than taken from a packaged tool: Debian has no open-loop generator (wrk2
// is not packaged) and wrk's -R does not exist; this is the Node generator's logic line for line.
//
// Connections: -connections keep-alive connections opened before the first request, one request
// at a time each. A request that falls due when every connection is busy waits, in order, for the
// first one free (the wait is part of its latency and counted in waitedForConnection). A failed
// connection is replaced; the request on it counts as an error.
//
// Usage: open-loop -url http://127.0.0.1:<port> -request <file of request bytes> -rate <req/s>
//   -duration <s> [-connections 64] [-timeout-ms 10000] [-late-ms 1] [-samples <file>]
// Prints one JSON object (counts, CPU, schedule origin) on stdout. With -samples, writes every
// request's latency then every request's send lag (ms, float64 little-endian, NaN when the
// request failed or was not sent), so the caller computes percentiles as it does for its own
// generator.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type result struct {
	Scheduled           int      `json:"scheduled"`
	Completed           int64    `json:"completed"`
	Ok                  int64    `json:"ok"`
	Non2xx              int64    `json:"non2xx"`
	Errors              int64    `json:"errors"`
	Timeouts            int64    `json:"timeouts"`
	Late                int64    `json:"late"`
	WaitedForConnection int64    `json:"waitedForConnection"`
	ConnectionsOpened   int64    `json:"connectionsOpened"`
	StartEpochMs        float64  `json:"startEpochMs"`
	IntervalMs          float64  `json:"intervalMs"`
	LastResponseMs      float64  `json:"lastResponseMs"`
	WallSeconds         float64  `json:"wallSeconds"`
	CPUSeconds          float64  `json:"cpuSeconds"`
	ErrorSamples        []string `json:"errorSamples"`
}

type generator struct {
	addr       string
	request    []byte
	interval   time.Duration
	scheduled  int
	timeout    time.Duration
	lateMs     float64
	t0         time.Time
	latency    []float64
	sendLag    []float64
	due        chan int
	mu         sync.Mutex
	idle       int // connections waiting for a request and not yet promised one
	queued     int // due requests waiting for a connection
	lastResp   int64
	stopping   int32
	sent       int64
	res        result
	errMu      sync.Mutex
	errSamples []string
}

func (g *generator) noteError(msg string) {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	if len(g.errSamples) >= 5 {
		return
	}
	for _, s := range g.errSamples {
		if s == msg {
			return
		}
	}
	g.errSamples = append(g.errSamples, msg)
}

func (g *generator) dial() (net.Conn, *bufio.Reader, error) {
	atomic.AddInt64(&g.res.ConnectionsOpened, 1)
	c, err := net.DialTimeout("tcp", g.addr, g.timeout)
	if err != nil {
		return nil, nil, err
	}
	c.(*net.TCPConn).SetNoDelay(true)
	return c, bufio.NewReaderSize(c, 64*1024), nil
}

// schedule makes each request due at t0 + i·interval, sleeping between due times (sends every
// request already due at once when it wakes late, as the Node generator does).
func (g *generator) schedule() {
	for i := 0; i < g.scheduled; i++ {
		at := g.t0.Add(time.Duration(i) * g.interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		g.mu.Lock()
		if g.idle > 0 {
			g.idle--
		} else {
			g.queued++
			g.res.WaitedForConnection++
		}
		g.mu.Unlock()
		g.due <- i
	}
	close(g.due)
}

// free marks a connection free: it takes the oldest waiting request if there is one (already
// counted as waiting), otherwise it becomes idle.
func (g *generator) free() {
	g.mu.Lock()
	if g.queued > 0 {
		g.queued--
	} else {
		g.idle++
	}
	g.mu.Unlock()
}

var errUnframeable = errors.New("neither Content-Length nor chunked")

func chunked(resp *http.Response) bool {
	for _, te := range resp.TransferEncoding {
		if te == "chunked" {
			return true
		}
	}
	return false
}

func msSince(t0 time.Time, t time.Time) float64 { return float64(t.Sub(t0).Nanoseconds()) / 1e6 }

// connection carries requests one at a time on one keep-alive connection. A connection that fails
// or that the server closes is replaced at once (as the Node generator does); while it cannot be
// reopened, the requests it would have carried wait for the others.
func (g *generator) connection(conn net.Conn, br *bufio.Reader, wg *sync.WaitGroup) {
	defer wg.Done()
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		if conn == nil {
			var err error
			if conn, br, err = g.dial(); err != nil {
				g.noteError("reconnect failed: " + err.Error())
				if atomic.LoadInt32(&g.stopping) != 0 {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		g.free()
		i, ok := <-g.due
		if !ok {
			return
		}
		now := time.Now()
		dueAt := float64(i) * float64(g.interval.Nanoseconds()) / 1e6
		lag := msSince(g.t0, now) - dueAt
		g.sendLag[i] = lag
		if lag >= g.lateMs {
			atomic.AddInt64(&g.res.Late, 1)
		}
		atomic.AddInt64(&g.sent, 1)
		conn.SetDeadline(now.Add(g.timeout))
		_, err := conn.Write(g.request)
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(br, nil)
			if err == nil && resp.ContentLength < 0 && !chunked(resp) {
				// A body delimited by the connection's close is not a keep-alive response.
				err = errUnframeable
			} else if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		if err != nil {
			atomic.AddInt64(&g.res.Errors, 1)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				atomic.AddInt64(&g.res.Timeouts, 1)
				g.noteError(fmt.Sprintf("no complete response within %d ms", g.timeout.Milliseconds()))
			} else if err == errUnframeable {
				g.noteError("response could not be framed: " + err.Error())
			} else if err == io.EOF || err == io.ErrUnexpectedEOF {
				g.noteError("connection closed by the server")
			} else {
				g.noteError("connection error: " + err.Error())
			}
			conn.Close()
			conn = nil
			continue
		}
		end := time.Now()
		g.latency[i] = msSince(g.t0, end) - dueAt
		atomic.StoreInt64(&g.lastResp, end.Sub(g.t0).Nanoseconds())
		atomic.AddInt64(&g.res.Completed, 1)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			atomic.AddInt64(&g.res.Ok, 1)
		} else {
			atomic.AddInt64(&g.res.Non2xx, 1)
		}
		if resp.Close {
			conn.Close()
			conn = nil
		}
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "open-loop: getrusage failed:", err)
		os.Exit(1)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "open-loop: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	target := flag.String("url", "", "http://127.0.0.1:<port> of the target")
	requestFile := flag.String("request", "", "file holding the request's bytes (head and body)")
	rate := flag.Float64("rate", 0, "requests per second offered")
	duration := flag.Float64("duration", 0, "seconds over which requests fall due")
	connections := flag.Int("connections", 64, "keep-alive connections")
	timeoutMs := flag.Int("timeout-ms", 10000, "a response not complete this long after its request was sent is a timeout")
	lateMs := flag.Float64("late-ms", 1, "a request sent this many ms or more after it was due counts as late")
	samplesFile := flag.String("samples", "", "file to write latency and send-lag samples to")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fail("-url must be an http://host:port URL, got %q", *target)
	}
	if !(*rate > 0) || math.IsInf(*rate, 0) {
		fail("-rate must be a positive number of requests per second, got %v", *rate)
	}
	if !(*duration > 0) {
		fail("-duration must be positive, got %v", *duration)
	}
	if *connections < 1 {
		fail("-connections must be a positive integer, got %d", *connections)
	}
	request, err := os.ReadFile(*requestFile)
	if err != nil || len(request) == 0 {
		fail("-request must name a file with the request's bytes: %v", err)
	}
	scheduled := int(math.Max(1, math.Floor(*rate**duration)))
	g := &generator{
		addr:      u.Host,
		request:   request,
		interval:  time.Duration(float64(time.Second) / *rate),
		scheduled: scheduled,
		timeout:   time.Duration(*timeoutMs) * time.Millisecond,
		lateMs:    *lateMs,
		latency:   make([]float64, scheduled),
		sendLag:   make([]float64, scheduled),
		due:       make(chan int, scheduled),
	}
	for i := range g.latency {
		g.latency[i] = math.NaN()
		g.sendLag[i] = math.NaN()
	}
	conns := make([]net.Conn, *connections)
	readers := make([]*bufio.Reader, *connections)
	for i := range conns {
		if conns[i], readers[i], err = g.dial(); err != nil {
			fail("cannot connect to %s: %v", u.Host, err)
		}
	}
	var wg sync.WaitGroup
	cpuBefore := cpuSeconds()
	g.t0 = time.Now()
	for i := range conns {
		wg.Add(1)
		go g.connection(conns[i], readers[i], &wg)
	}
	go g.schedule()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	// Requests that never got a connection (every connection lost) end with the schedule plus the timeout.
	limit := time.Duration(scheduled)*g.interval + g.timeout + 200*time.Millisecond
	select {
	case <-finished:
	case <-time.After(limit):
		unsent := int64(scheduled) - atomic.LoadInt64(&g.sent)
		if unsent > 0 {
			g.noteError(fmt.Sprintf("%d requests never sent: no connection became free", unsent))
			atomic.AddInt64(&g.res.Errors, unsent)
		}
	}
	atomic.StoreInt32(&g.stopping, 1)
	g.res.WallSeconds = time.Since(g.t0).Seconds()
	g.res.CPUSeconds = cpuSeconds() - cpuBefore
	g.res.Scheduled = scheduled
	g.res.StartEpochMs = float64(g.t0.UnixNano()) / 1e6
	g.res.IntervalMs = float64(g.interval.Nanoseconds()) / 1e6
	g.res.LastResponseMs = float64(atomic.LoadInt64(&g.lastResp)) / 1e6
	g.errMu.Lock()
	g.res.ErrorSamples = append([]string{}, g.errSamples...)
	g.errMu.Unlock()
	if *samplesFile != "" {
		f, err := os.Create(*samplesFile)
		if err != nil {
			fail("cannot write samples: %v", err)
		}
		w := bufio.NewWriter(f)
		// After a timeout above, connections may still write samples; a copy under no lock is what
		// the caller gets, as the Node generator's arrays at the same moment.
		if err := binary.Write(w, binary.LittleEndian, g.latency); err != nil {
			fail("cannot write samples: %v", err)
		}
		if err := binary.Write(w, binary.LittleEndian, g.sendLag); err != nil {
			fail("cannot write samples: %v", err)
		}
		if err := w.Flush(); err != nil {
			fail("cannot write samples: %v", err)
		}
		f.Close()
	}
	out, _ := json.Marshal(g.res)
	fmt.Println(string(out))
}
