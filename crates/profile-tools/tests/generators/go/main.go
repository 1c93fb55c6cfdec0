// Command realprofiles writes one real Go profile per case, each taken while a workload with a
// known dominant cause ran. It is run once by ../generate.sh; the profiles and the manifest
// that names each one's expected first category live in ../../data/real/.
//
//	go run main.go -case cpu-sha256-writer -out /tmp/x.pb.gz
//
// Every case runs in its own process (generate.sh starts one per case) so that the CPU
// profiler, the block rate and the mutex fraction of one case never colour another.
package main

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/gob"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

var sink int

// cpuFor profiles `work` (run in `workers` goroutines) for d.
func cpuFor(out string, d time.Duration, workers int, work func(end time.Time)) {
	f, err := os.Create(out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); work(end) }()
	}
	wg.Wait()
	pprof.StopCPUProfile()
}

func writeProfile(name, out string) {
	f, err := os.Create(out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		log.Fatal(err)
	}
}

// --- CPU cases -----------------------------------------------------------------------------

type checksumWriter struct{ w io.Writer }

func (c checksumWriter) Write(p []byte) (int, error) { return c.w.Write(p) }

// sealSegments hashes payloads with SHA-256 through an io.Writer chain, as a content-addressed
// store would.
func sealSegments(end time.Time) {
	payload := bytes.Repeat([]byte("segment-data-"), 4096)
	for time.Now().Before(end) {
		h := sha256.New()
		w := checksumWriter{h}
		io.Copy(w, bytes.NewReader(payload))
		sink += int(h.Sum(nil)[0])
	}
}

// fingerprintUploads feeds SHA-1 and MD5 at once through io.MultiWriter.
func fingerprintUploads(end time.Time) {
	payload := bytes.Repeat([]byte{7, 1, 3}, 20000)
	for time.Now().Before(end) {
		a, b := sha1.New(), md5.New()
		mw := io.MultiWriter(a, b)
		mw.Write(payload)
		sink += int(a.Sum(nil)[0] + b.Sum(nil)[0])
	}
}

// verifyBlocks checksums blocks with CRC-32 (Castagnoli).
func verifyBlocks(end time.Time) {
	table := crc32.MakeTable(crc32.IEEE)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<12)
	for time.Now().Before(end) {
		sink += int(crc32.Checksum(payload, table))
	}
}

type trade struct {
	ID     int64             `json:"id"`
	Venue  string            `json:"venue"`
	Price  float64           `json:"price"`
	Qty    int64             `json:"qty"`
	Labels map[string]string `json:"labels"`
	Legs   []int64           `json:"legs"`
}

func sampleTrade(i int) trade {
	return trade{ID: int64(i), Venue: "XNAS", Price: 101.25 + float64(i%100), Qty: int64(i % 7), Labels: map[string]string{"desk": "a", "book": "b"}, Legs: []int64{1, 2, 3, 4}}
}

// publishTrades encodes trades as JSON for a feed.
func publishTrades(end time.Time) {
	for i := 0; time.Now().Before(end); i++ {
		b, _ := json.Marshal(sampleTrade(i))
		sink += len(b)
	}
}

// ingestEvents decodes generic JSON documents with a streaming decoder.
func ingestEvents(end time.Time) {
	var buf bytes.Buffer
	for i := 0; i < 200; i++ {
		json.NewEncoder(&buf).Encode(sampleTrade(i))
	}
	doc := buf.Bytes()
	for time.Now().Before(end) {
		dec := json.NewDecoder(bytes.NewReader(doc))
		for {
			var v map[string]interface{}
			if err := dec.Decode(&v); err != nil {
				break
			}
			sink += len(v)
		}
	}
}

// snapshotLedger encodes state with encoding/gob.
func snapshotLedger(end time.Time) {
	state := make([]trade, 64)
	for i := range state {
		state[i] = sampleTrade(i)
	}
	for time.Now().Before(end) {
		var buf bytes.Buffer
		gob.NewEncoder(&buf).Encode(state)
		sink += buf.Len()
	}
}

// routeRequest compiles its pattern on every call (the classic mistake).
func routeRequest(end time.Time) {
	for i := 0; time.Now().Before(end); i++ {
		re := regexp.MustCompile(`^/api/v[0-9]+/(orders|trades)/([a-z0-9-]+)(\?.*)?$`)
		if re.MatchString("/api/v1/orders/abc-" + strconv.Itoa(i%10)) {
			sink++
		}
	}
}

var logLine = regexp.MustCompile(`(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}).*?level=(\w+).*?msg="([^"]*)"`)

// scanLogs matches a precompiled pattern against many lines.
func scanLogs(end time.Time) {
	var sb strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&sb, "2024-01-02T10:11:%02d host app level=info user=%d msg=\"request served in %dms\"\n", i%60, i, i%90)
	}
	text := sb.String()
	for time.Now().Before(end) {
		sink += len(logLine.FindAllStringSubmatch(text, -1))
	}
}

// renderReport builds lines with fmt.Sprintf.
func renderReport(end time.Time) {
	for i := 0; time.Now().Before(end); i++ {
		s := fmt.Sprintf("%-12s %8.3f %+d %x %v", "ACME", float64(i)/7.0, i, i*31, []int{i, i + 1})
		sink += len(s)
	}
}

// parseQuotes converts numbers to and from text with strconv.
func parseQuotes(end time.Time) {
	for i := 0; time.Now().Before(end); i++ {
		s := strconv.FormatFloat(float64(i)*1.000123, 'f', 6, 64)
		f, _ := strconv.ParseFloat(s, 64)
		q := strconv.Quote(s)
		sink += int(f) + len(q)
	}
}

type node struct {
	next  *node
	value [6]int64
	name  string
}

// buildTrees allocates short-lived linked structures: the garbage collector does the work.
func buildTrees(end time.Time) {
	for time.Now().Before(end) {
		var head *node
		for i := 0; i < 2000; i++ {
			head = &node{next: head, name: "n"}
		}
		sink += int(head.value[0])
	}
}

// appendJournal writes small records and fsyncs each one.
func appendJournal(end time.Time, dir string) {
	f, err := os.Create(filepath.Join(dir, "journal.log"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	rec := bytes.Repeat([]byte("x"), 128)
	for time.Now().Before(end) {
		f.Write(rec)
		f.Sync()
	}
}

// copyChunks reads and writes a file in tiny chunks without buffering.
func copyChunks(end time.Time, dir string) {
	path := filepath.Join(dir, "chunks.bin")
	os.WriteFile(path, bytes.Repeat([]byte("y"), 1<<16), 0o644)
	small := make([]byte, 16)
	for time.Now().Before(end) {
		in, _ := os.Open(path)
		out, _ := os.Create(path + ".copy")
		for {
			n, err := in.Read(small)
			if n > 0 {
				out.Write(small[:n])
			}
			if err != nil {
				break
			}
		}
		in.Close()
		out.Close()
	}
}

type registry struct {
	mu    sync.RWMutex
	items [64]int
}

// updatePositions has many goroutines writing through one RWMutex.
func (r *registry) updatePositions(end time.Time) {
	for i := 0; i%1024 != 0 || time.Now().Before(end); i++ {
		r.mu.Lock()
		r.items[i%64]++
		r.mu.Unlock()
		r.mu.RLock()
		sink += r.items[(i+1)%64]
		r.mu.RUnlock()
	}
}

// countSymbols is map-heavy: hashing string keys.
func countSymbols(end time.Time) {
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = "SYM-" + strconv.Itoa(i) + "-XNYS-EQUITY"
	}
	counts := map[string]int{}
	for i := 0; time.Now().Before(end); i++ {
		counts[keys[i%len(keys)]]++
		sink += counts[keys[(i*7)%len(keys)]]
	}
}

// --- heap and allocs ----------------------------------------------------------------------

var retained [][]byte
var retainedIndex map[string][]int64

// loadTiles keeps large frame buffers alive (heap) after allocating many more (allocs).
func loadTiles() {
	for i := 0; i < 30000; i++ {
		b := make([]byte, 128<<10)
		b[0] = byte(i)
		if i%100 == 0 {
			retained = append(retained, b)
		}
	}
}

// indexAccounts grows a map of slices.
func indexAccounts() {
	retainedIndex = map[string][]int64{}
	for i := 0; i < 300000; i++ {
		k := "acct-" + strconv.Itoa(i%50000)
		retainedIndex[k] = append(retainedIndex[k], int64(i))
	}
}

// formatRows builds strings by repeated concatenation and Sprintf.
func formatRows() {
	var rows []string
	for i := 0; i < 200000; i++ {
		s := fmt.Sprintf("row %d: %s", i, strings.Repeat("z", i%64))
		if i%20 == 0 {
			rows = append(rows, s)
		}
	}
	retained = append(retained, []byte(strings.Join(rows, "\n")))
}

// --- block, mutex, goroutine ---------------------------------------------------------------

// handOff passes work over an unbuffered channel to a slow consumer: senders block.
func handOff(d time.Duration) {
	ch := make(chan int)
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for time.Now().Before(end) {
				ch <- p
			}
		}(p)
	}
	go func() {
		for v := range ch {
			time.Sleep(200 * time.Microsecond)
			sink += v
		}
	}()
	wg.Wait()
}

// awaitResults waits on a result channel fed slowly (receivers block).
func awaitResults(d time.Duration) {
	results := make(chan int)
	end := time.Now().Add(d)
	go func() {
		for time.Now().Before(end) {
			time.Sleep(time.Millisecond)
			results <- 1
		}
		close(results)
	}()
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range results {
				sink += v
			}
		}()
	}
	wg.Wait()
}

// dispatchEvents selects over several channels with a slow producer.
func dispatchEvents(d time.Duration) {
	a, b, quit := make(chan int), make(chan int), make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case v := <-a:
					sink += v
				case v := <-b:
					sink -= v
				case <-quit:
					return
				}
			}
		}()
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		time.Sleep(500 * time.Microsecond)
		a <- 1
		b <- 1
	}
	close(quit)
	wg.Wait()
}

type book struct {
	mu     sync.Mutex
	levels [64]int
}

// matchOrders holds one lock while doing work; others wait on it.
func (bk *book) matchOrders(end time.Time) {
	for time.Now().Before(end) {
		bk.mu.Lock()
		for i := 0; i < 2000; i++ {
			bk.levels[i%64] += i
		}
		bk.mu.Unlock()
	}
}

type queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	items []int
}

// drainQueue waits on a condition variable for a slow producer.
func drainQueue(d time.Duration) {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	end := time.Now().Add(d)
	done := false
	go func() {
		for time.Now().Before(end) {
			time.Sleep(time.Millisecond)
			q.mu.Lock()
			q.items = append(q.items, 1)
			q.mu.Unlock()
			q.cond.Signal()
		}
		q.mu.Lock()
		done = true
		q.mu.Unlock()
		q.cond.Broadcast()
	}()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.mu.Lock()
			defer q.mu.Unlock()
			for {
				for len(q.items) == 0 && !done {
					q.cond.Wait()
				}
				if done && len(q.items) == 0 {
					return
				}
				q.items = q.items[1:]
			}
		}()
	}
	wg.Wait()
}

// subscribeFeed leaks a goroutine per call: each waits forever for a message that never comes.
func subscribeFeed(id int) {
	updates := make(chan string)
	go func() {
		for u := range updates {
			sink += len(u) + id
		}
	}()
}

// pollUpstream goroutines sleep between polls.
func pollUpstream(stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		time.Sleep(time.Second)
	}
}

func main() {
	name := flag.String("case", "", "case to run")
	out := flag.String("out", "", "output file")
	flag.Parse()
	if *name == "" || *out == "" {
		log.Fatal("usage: -case NAME -out FILE")
	}
	dir, _ := os.MkdirTemp("", "realprofiles")
	defer os.RemoveAll(dir)
	const d = 3 * time.Second
	cpu := map[string]struct {
		workers int
		work    func(time.Time)
	}{
		"cpu-sha256-writer":  {2, sealSegments},
		"cpu-sha1-md5-multi": {2, fingerprintUploads},
		"cpu-crc32":          {2, verifyBlocks},
		"cpu-json-marshal":   {2, publishTrades},
		"cpu-json-decode":    {2, ingestEvents},
		"cpu-gob-encode":     {2, snapshotLedger},
		"cpu-regexp-compile": {2, routeRequest},
		"cpu-regexp-match":   {2, scanLogs},
		"cpu-sprintf":        {2, renderReport},
		"cpu-strconv":        {2, parseQuotes},
		"cpu-gc-pressure":    {2, buildTrees},
		"cpu-fsync":          {1, func(e time.Time) { appendJournal(e, dir) }},
		"cpu-small-io":       {1, func(e time.Time) { copyChunks(e, dir) }},
		"cpu-rwmutex":        {6, (&registry{}).updatePositions},
		"cpu-map-hash":       {2, countSymbols},
	}
	if c, ok := cpu[*name]; ok {
		cpuFor(*out, d, c.workers, c.work)
		return
	}
	switch *name {
	case "cpu-idle":
		cpuFor(*out, d, 1, func(end time.Time) { time.Sleep(time.Until(end)) })
	case "heap-tiles", "allocs-tiles":
		loadTiles()
		runtime.GC()
		writeProfile(strings.SplitN(*name, "-", 2)[0], *out)
	case "heap-map-index":
		indexAccounts()
		runtime.GC()
		writeProfile("heap", *out)
	case "allocs-sprintf":
		formatRows()
		runtime.GC()
		writeProfile("allocs", *out)
	case "allocs-json":
		for i := 0; i < 100000; i++ {
			b, _ := json.Marshal(sampleTrade(i))
			sink += len(b)
		}
		runtime.GC()
		writeProfile("allocs", *out)
	case "block-chansend":
		runtime.SetBlockProfileRate(1)
		handOff(d)
		writeProfile("block", *out)
	case "block-chanrecv":
		runtime.SetBlockProfileRate(1)
		awaitResults(d)
		writeProfile("block", *out)
	case "block-select":
		runtime.SetBlockProfileRate(1)
		dispatchEvents(d)
		writeProfile("block", *out)
	case "block-mutex", "mutex-book":
		if *name == "block-mutex" {
			runtime.SetBlockProfileRate(1)
		} else {
			runtime.SetMutexProfileFraction(1)
		}
		bk := &book{}
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); bk.matchOrders(end) }()
		}
		wg.Wait()
		writeProfile(strings.SplitN(*name, "-", 2)[0], *out)
	case "mutex-rwmutex":
		runtime.SetMutexProfileFraction(1)
		r := &registry{}
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); r.updatePositions(end) }()
		}
		wg.Wait()
		writeProfile("mutex", *out)
	case "block-cond":
		runtime.SetBlockProfileRate(1)
		drainQueue(d)
		writeProfile("block", *out)
	case "goroutine-leak":
		for i := 0; i < 2000; i++ {
			subscribeFeed(i)
		}
		time.Sleep(100 * time.Millisecond)
		writeProfile("goroutine", *out)
	case "goroutine-sleep":
		stop := make(chan struct{})
		for i := 0; i < 300; i++ {
			go pollUpstream(stop)
		}
		time.Sleep(100 * time.Millisecond)
		writeProfile("goroutine", *out)
		close(stop)
	default:
		log.Fatalf("unknown case %q", *name)
	}
}
